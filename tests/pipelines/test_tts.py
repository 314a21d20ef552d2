"""The Synthesizer (front end -> model -> vocoder) and the Griffin-Lim vocoder, on an
untrained tiny model whose duration predictor is set to 4 frames per token."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import speechzoo
from speechzoo.errors import ConfigError, TextError
from speechzoo.features import TTS_MEL, TTS_PAD, Spectrogram
from speechzoo.models.tacotron_na import NonAttentiveTacotron
from speechzoo.pipelines.tts import Synthesizer
from speechzoo.pipelines.vocoder import GriffinLim, make_vocoder
from speechzoo.text.phonemes import tokenizer

FRAMES_PER_TOKEN = 4.0


@pytest.fixture(scope="module")
def tts() -> Synthesizer:
    torch.manual_seed(0)
    model = NonAttentiveTacotron(
        n_symbols=61, embedding_dim=8, encoder_channels=8, encoder_convs=1, encoder_lstm=4,
        duration_lstm=4, duration_layers=1, range_lstm=4, range_layers=1, position_dim=4,
        prenet_dim=8, decoder_lstm=8, decoder_layers=1, postnet_channels=8, postnet_convs=1)
    with torch.no_grad():
        model.duration_predictor.proj.weight.zero_()
        model.duration_predictor.proj.bias.fill_(FRAMES_PER_TOKEN)
    return Synthesizer(model, tokenizer(), GriffinLim(TTS_MEL, n_iter=4))


def test_audio_length_follows_durations_and_pace(tts):
    audio, alignment = tts.synthesize("Hello world.", alignment=True)
    tokens = len(alignment.phonemes[0])
    assert alignment.phonemes[0][-1] == "<end>"
    assert np.allclose(alignment.durations[0], FRAMES_PER_TOKEN * 256 / 22050, atol=1e-4)
    frames = round(tokens * FRAMES_PER_TOKEN)
    assert alignment.weights[0].shape == (frames, tokens)
    assert abs(len(audio.waveform) - frames * 256) <= 256
    fast = tts.synthesize("Hello world.", pace=2.0)
    slow = tts.synthesize("Hello world.", pace=0.5)
    assert abs(len(fast.waveform) / len(audio.waveform) - 0.5) < 0.05
    assert abs(len(slow.waveform) / len(audio.waveform) - 2.0) < 0.05


def test_sentences_are_spoken_in_turn(tts):
    audio, alignment = tts.synthesize("One sentence. Another one! And 3 more?", alignment=True)
    assert len(alignment.phonemes) == 3
    assert "θɹˈiː" in "".join(alignment.phonemes[2])  # the number is read out
    single = sum(len(tts.synthesize(s).waveform) for s in
                 ("One sentence.", "Another one!", "And 3 more?"))
    assert len(audio.waveform) == single


@pytest.mark.parametrize(("text", "error"), [
    ("", TextError), ("   ", TextError), ("🙂 🙂", TextError), ("a" * 20001, TextError),
    ("Hello 你好.", TextError), ("Привет, world.", TextError),
    (None, TextError)])
def test_bad_text_is_refused(tts, text, error):
    with pytest.raises(error):
        tts.synthesize(text)


@pytest.mark.parametrize("pace", [0.0, -1.0, 100.0, float("nan")])
def test_absurd_pace_is_refused(tts, pace):
    with pytest.raises(ConfigError, match="pace"):
        tts.synthesize("Hello.", pace=pace)


def test_griffin_lim_inverts_a_log_mel():
    """The mel of the reconstruction is close to the mel it came from (phase is lost, the
    magnitude is what Griffin-Lim restores)."""
    rate = 22050
    t = np.arange(rate) / rate
    wav = 0.3 * np.sin(2 * np.pi * (200 + 300 * t) * t) + 0.1 * np.sin(2 * np.pi * 1500 * t)
    front = Spectrogram(**TTS_MEL)
    padded = torch.tensor(np.pad(wav, TTS_PAD), dtype=torch.float32)[None]
    mel, _ = front(padded, torch.tensor([padded.shape[1]]))
    audio = GriffinLim(TTS_MEL, n_iter=32).vocode(mel[0])
    assert audio.sample_rate == rate and abs(len(audio.waveform) - len(wav)) <= 256
    again = torch.tensor(np.pad(audio.waveform, TTS_PAD))[None]
    mel2, _ = front(again, torch.tensor([again.shape[1]]))
    n = min(mel.shape[-1], mel2.shape[-1])
    a, b = mel[0, :, :n].exp(), mel2[0, :, :n].exp()
    assert float((a - b).norm() / a.norm()) < 0.35  # spectral convergence


def test_vocoder_refuses_bad_input():
    with pytest.raises(ConfigError, match="log-mel"):
        GriffinLim(TTS_MEL).vocode(np.zeros((40, 10)))
    with pytest.raises(ConfigError, match="unknown vocoder"):
        make_vocoder("wavenet-nope", TTS_MEL)


def test_load_refuses_a_vocoder_for_a_recogniser():
    with pytest.raises(ConfigError, match="cannot take a vocoder"):
        speechzoo.load("ds2-en", device="cpu", vocoder="griffin-lim")


def test_accented_latin_letters_are_spoken(tts):
    assert len(tts.synthesize("Café au lait, naïve façade.").waveform) > 0
