"""PianoTranscriber: windows of a long recording join into the whole one's frames; bad input
is refused with a clear error; a model that hears no onset writes a MIDI without notes."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from speechzoo.errors import AudioError, ConfigError
from speechzoo.models.onsets_frames import OnsetsAndFrames
from speechzoo.music import HOP, PIANO_MEL, PIANO_PAD
from speechzoo.pipelines.piano import PianoTranscriber

pytestmark = pytest.mark.usefixtures("one_thread")


def transcriber(**model_args) -> PianoTranscriber:
    torch.manual_seed(0)
    model = OnsetsAndFrames(conv_channels=(4, 4, 8), fc_size=16, lstm_size=8, **model_args)
    return PianoTranscriber(model, PIANO_MEL, {"onset": 0.5, "frame": 0.5, "offset": 0.5},
                            PIANO_PAD)


def tone(seconds: float, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t) * (t % 0.5 < 0.3)).astype(np.float32)


def test_windows_join_into_the_whole_recordings_frames():
    piano, wav = transcriber(), tone(3.3)
    whole = piano.probabilities(wav, 16000)
    piano.window_seconds, piano.context_seconds = 0.5, 10.0  # context covers everything
    joined = piano.probabilities(wav, 16000)
    frames = -(-len(wav) // HOP)
    for key in ("onset", "offset", "frame", "velocity"):
        assert whole[key].shape == (frames, 88)
        np.testing.assert_allclose(joined[key], whole[key], atol=2e-3)  # fp16 storage


def test_short_context_still_covers_every_frame_once():
    piano = transcriber(offset_head=False, velocity_head=False)
    piano.window_seconds, piano.context_seconds = 0.5, 0.1
    probs = piano.probabilities(tone(2.0), 16000)
    assert probs["frame"].shape == (-(-32000 // HOP), 88)
    assert probs["offset"] is None and probs["velocity"] is None
    assert len(piano.decode(probs)) >= 0


def test_a_model_that_hears_no_onset_gives_an_empty_midi():
    piano = transcriber()
    with torch.no_grad():
        piano.model.onset_fc.bias.fill_(-30.0)
    midi = piano.transcribe(tone(1.0), 16000)
    assert sum(len(i.notes) for i in midi.instruments) == 0


@pytest.mark.parametrize("threshold", [0.0, 1.0, -1.0, 5.0])
def test_absurd_thresholds_are_config_errors(threshold):
    with pytest.raises(ConfigError, match="threshold"):
        transcriber().transcribe(tone(0.5), 16000, onset_threshold=threshold)


def test_bad_audio_is_an_audio_error(tmp_path):
    piano = transcriber()
    text = tmp_path / "notes.txt"
    text.write_text("not audio")
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 16000)
    for path in (text, empty, tmp_path / "missing.wav"):
        with pytest.raises(AudioError):
            piano.transcribe(path)
    with pytest.raises(AudioError, match="sample_rate"):
        piano.transcribe(tone(0.5))
    with pytest.raises(AudioError, match="no samples"):
        piano.transcribe(np.zeros(0, dtype=np.float32), 16000)
