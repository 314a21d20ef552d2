"""NeuralVocoder on the two debug runs' bundles (tests/conftest.py: wavenet_run,
parallel_wavenet_run): speechzoo.load gives one, it vocodes the TTS front end's mels into
22.05 kHz audio hop samples per frame and refuses what it cannot vocode; a synthesiser and
`speechzoo synthesize --vocoder` take it; the shipped wavenet-en vocodes too."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import speechzoo
from speechzoo.audio import load_audio
from speechzoo.cli import main
from speechzoo.errors import CheckpointError, ConfigError
from speechzoo.features import TTS_MEL, TTS_PAD, Spectrogram
from speechzoo.pipelines import export
from speechzoo.pipelines.vocoder import GriffinLim, NeuralVocoder

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
FRAMES = 6
KINDS = ("wavenet", "parallel_wavenet")

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def bundles(wavenet_run, parallel_wavenet_run, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("vocoders")
    runs = {"wavenet": wavenet_run, "parallel_wavenet": parallel_wavenet_run}
    for kind, run in runs.items():
        export(run / "ckpt" / "last.ckpt", out / kind, RECIPES / f"{kind}_debug.yaml")
    return {kind: out / kind for kind in runs}


@pytest.fixture(scope="module")
def mel(tiny_tts_corpus) -> torch.Tensor:
    """(80, FRAMES) log-mel of speech: frames 40.. of the first dev clip."""
    wav, rate = load_audio(tiny_tts_corpus / "dev" / "dev-00000.flac", 22050)
    padded = torch.tensor(np.pad(wav, TTS_PAD), dtype=torch.float32)[None]
    mels, _ = Spectrogram(**TTS_MEL)(padded, torch.tensor([padded.shape[1]]))
    return mels[0, :, 40:40 + FRAMES]


@pytest.fixture(scope="module", params=KINDS)
def vocoder(request, bundles) -> NeuralVocoder:
    return speechzoo.load(bundles[request.param], device="cpu")


def test_load_gives_a_neural_vocoder(vocoder):
    assert isinstance(vocoder, NeuralVocoder) and vocoder.sample_rate == 22050
    assert vocoder.features == Spectrogram(**TTS_MEL).config


def test_vocode_makes_hop_samples_per_frame(vocoder, mel):
    audio = vocoder.vocode(mel)
    assert audio.sample_rate == 22050 and audio.waveform.dtype == np.float32
    assert audio.waveform.shape == (FRAMES * 256,)
    assert np.isfinite(audio.waveform).all() and np.abs(audio.waveform).max() <= 1.0
    assert np.abs(audio.waveform).max() > 0
    assert np.array_equal(vocoder.vocode(mel.numpy(), seed=0).waveform, audio.waveform)
    assert not np.array_equal(vocoder.vocode(mel, seed=1).waveform, audio.waveform)
    assert vocoder.vocode(mel[:, :1]).waveform.shape == (256,)


@pytest.mark.parametrize("shape", [(FRAMES,), (81, FRAMES), (1, 80, FRAMES), (0,)])
def test_mels_of_the_wrong_shape_are_refused(vocoder, shape):
    with pytest.raises(ConfigError, match=r"takes a \(80, frames\) log-mel .*got"):
        vocoder.vocode(torch.zeros(shape))


def test_an_empty_mel_is_refused(vocoder):
    for v in (vocoder, GriffinLim(vocoder.features)):
        with pytest.raises(ConfigError, match="at least one frame"):
            v.vocode(torch.zeros(80, 0))


def test_mels_of_another_rate_are_refused(vocoder, mel):
    with pytest.raises(ConfigError, match="16000 Hz audio.*22050 Hz"):
        vocoder.vocode(mel, sample_rate=16000)
    assert len(vocoder.vocode(mel, sample_rate=22050).waveform) == FRAMES * 256


@pytest.fixture(scope="module")
def griffin_lim_hello() -> np.ndarray:
    return speechzoo.load("nat-en", device="cpu", vocoder="griffin-lim").synthesize(
        "Hello.").waveform


@pytest.mark.parametrize("kind", KINDS)
def test_synthesizer_speaks_through_the_vocoder(kind, bundles, griffin_lim_hello):
    tts = speechzoo.load("nat-en", device="cpu", vocoder=str(bundles[kind]))
    assert isinstance(tts.vocoder, NeuralVocoder)
    audio = tts.synthesize("Hello.")
    assert audio.sample_rate == 22050 and audio.waveform.dtype == np.float32
    # the same mels (seed 0), so the same length, but another waveform than Griffin-Lim's
    assert audio.waveform.shape == griffin_lim_hello.shape
    assert np.abs(audio.waveform - griffin_lim_hello).max() > 0.1


def test_synthesize_command_takes_a_vocoder(bundles, tmp_path, capsys):
    out = tmp_path / "hello.wav"
    main(["synthesize", "Hello.", "-o", str(out), "--vocoder",
          str(bundles["parallel_wavenet"])])
    assert "1 sentence(s)" in capsys.readouterr().out
    info = sf.info(out)
    assert info.samplerate == 22050 and info.frames > 0


@pytest.mark.parametrize(("name", "error", "message"), [
    ("no-such-vocoder", ConfigError, "unknown vocoder 'no-such-vocoder': neither one of "
     r"\['griffin-lim'\]"),
    ("ds2-en", CheckpointError, "not a vocoder bundle")])
def test_a_vocoder_that_is_not_one_is_refused(name, error, message, tmp_path, capsys):
    with pytest.raises(error, match=message):
        speechzoo.load("nat-en", device="cpu", vocoder=name)
    out = tmp_path / "no.wav"
    with pytest.raises(SystemExit) as stop:
        main(["synthesize", "Hello.", "-o", str(out), "--vocoder", name])
    assert stop.value.code == 2 and not out.exists()
    assert re.search(message, capsys.readouterr().err)


def test_shipped_wavenet_en_vocodes(mel):
    vocoder = speechzoo.load("wavenet-en", device="cpu")
    assert isinstance(vocoder, NeuralVocoder) and vocoder.sample_rate == 22050
    audio = vocoder.vocode(mel[:, :4])  # sample by sample: 1,024 samples
    assert audio.waveform.shape == (4 * 256,) and audio.waveform.dtype == np.float32
    assert np.isfinite(audio.waveform).all() and 0 < np.abs(audio.waveform).max() <= 1.0
