"""The one feature front end: settings, padding invariance, and DS2's numbers unchanged."""

from pathlib import Path

import pytest
import torch
import torchaudio

import speechzoo
from speechzoo.audio import load_audio
from speechzoo.checkpoints import build_network, network_spec
from speechzoo.features import Spectrogram

DATA = Path(__file__).parent / "data"
# Written by the Deep Speech 2 front end and the ds2-en bundle before features.py existed:
# a spectrogram of a fixed fp16 noise batch, and ds2-en's log-probabilities on two held-out
# utterances (fp16).
REFERENCE = torch.load(DATA / "ds2_reference.pt", weights_only=True)


def test_deepspeech2_front_end_gives_the_numbers_it_gave_before():
    features = speechzoo.load("ds2-en", device="cpu").model.features
    spec, frames = features(REFERENCE["waveforms"].float(), REFERENCE["lengths"])
    assert frames.tolist() == REFERENCE["frames"].tolist()
    torch.testing.assert_close(spec, REFERENCE["spectrogram"], atol=1e-4, rtol=1e-4)


def test_ds2_en_outputs_have_not_moved():
    asr = speechzoo.load("ds2-en", device="cpu")
    for name, expected in REFERENCE["log_probs"].items():
        wav = torch.from_numpy(load_audio(DATA / "heldout" / name, 16000)[0])[None]
        with torch.inference_mode():
            log_probs, _ = asr.model(wav, torch.tensor([wav.shape[1]]))
        torch.testing.assert_close(log_probs[0].exp(), expected.float().exp(), atol=2e-3,
                                   rtol=0)


@pytest.mark.parametrize("kwargs", [{}, {"n_mels": 80, "window_ms": 50, "hop_ms": 12.5,
                                         "sample_rate": 22050, "normalize": False}])
def test_padding_never_changes_a_frame(kwargs):
    torch.manual_seed(0)
    features = Spectrogram(**kwargs)
    short = torch.randn(5000)
    alone, n = features(short[None], torch.tensor([5000]))
    padded, m = features(torch.nn.functional.pad(short, (0, 7000))[None], torch.tensor([5000]))
    assert n.tolist() == m.tolist() == [(5000 - features.win) // features.hop + 1]
    torch.testing.assert_close(padded[..., : n[0]], alone[..., : n[0]])


def test_log_mel_matches_torchaudio():
    torch.manual_seed(0)
    wav = torch.randn(1, 22050)
    ours = Spectrogram(22050, window_ms=1024 / 22.05, hop_ms=256 / 22.05, n_fft=1024,
                       n_mels=80, log=False)
    assert (ours.win, ours.hop, ours.bins) == (1024, 256, 80)
    reference = torchaudio.transforms.MelSpectrogram(22050, n_fft=1024, hop_length=256,
                                                     n_mels=80, center=False, mel_scale="htk")
    spec, _ = ours(wav, torch.tensor([22050]))
    torch.testing.assert_close(spec, reference(wav), rtol=1e-4, atol=1e-3)


def test_settings_are_recorded_and_rebuild():
    features = Spectrogram(24000, 50.0, 12.5, n_fft=2048, n_mels=128, f_min=20.0, f_max=8000.0)
    again = build_network(network_spec(features))
    assert again.config == features.config and again.bins == 128
    with pytest.raises(ValueError, match="n_fft"):
        Spectrogram(16000, window_ms=20, n_fft=64)
