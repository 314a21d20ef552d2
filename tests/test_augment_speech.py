"""SpeechAugment and its parts: lengths stay consistent with the audio, draws repeat given
the seed and step, each part does what it says."""

from __future__ import annotations

import math

import pytest
import torch

from speechzoo.augment import (
    SpeechAugment,
    change_tempo,
    mask_spectrogram,
    reverberate,
    telephone,
    warp_frequencies,
)
from speechzoo.errors import ConfigError

SR = 16000
LENGTHS = torch.tensor([SR, 12000, 6000])


def _batch(hz: float = 440.0) -> torch.Tensor:
    t = torch.arange(SR) / SR
    x = torch.sin(2 * math.pi * hz * t).repeat(3, 1) * 0.3
    return x * (torch.arange(SR) < LENGTHS[:, None])


def _band_energy(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    spectrum = torch.fft.rfft(x).abs().square()
    hz = torch.fft.rfftfreq(x.shape[-1], 1 / SR)
    return spectrum[..., (hz >= low) & (hz < high)].sum(-1)


ALL_ON = dict(tempo=[0.8, 1.25], reverb_p=1.0, noise_p=1.0, telephone_p=1.0, vtlp=0.1,
              freq_masks=2, time_masks=2)


@pytest.mark.parametrize("part", [dict(tempo=[0.8]), dict(tempo=[1.25]), dict(reverb_p=1.0),
                                  dict(noise_p=1.0), dict(telephone_p=1.0), ALL_ON])
def test_each_part_keeps_lengths_consistent_and_padding_silent(part):
    augment = SpeechAugment(**part).train()
    out, lengths = augment(_batch(), LENGTHS, step=3)
    assert out.shape[-1] == int(lengths.max())
    for row, n in zip(out, lengths.tolist(), strict=True):
        assert torch.all(row[n:] == 0) and row[:n].abs().max() > 0.01
    factor = part.get("tempo", [1.0])[0] if len(part.get("tempo", [])) == 1 else None
    if factor is not None:
        assert torch.equal(lengths, torch.ceil(LENGTHS / factor).long())
    elif "tempo" not in part:
        assert torch.equal(lengths, LENGTHS)


def test_draws_repeat_given_seed_and_step_and_differ_across_steps():
    x = _batch()
    a, b = SpeechAugment(**ALL_ON, seed=7).train(), SpeechAugment(**ALL_ON, seed=7).train()
    first, again = a(x, LENGTHS, step=5), b(x, LENGTHS, step=5)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(a(x, LENGTHS, step=6)[0][:, :6000], first[0][:, :6000])
    spec, frames = torch.randn(3, 161, 100), torch.tensor([100, 70, 40])
    assert torch.equal(a.features(spec, frames, 5), b.features(spec, frames, 5))


def test_eval_mode_is_the_identity():
    augment = SpeechAugment(**ALL_ON).eval()
    x = _batch()
    out, lengths = augment(x, LENGTHS, step=0)
    assert out is x and lengths is LENGTHS
    spec = torch.randn(3, 161, 50)
    assert augment.features(spec, torch.tensor([50, 40, 30]), 0) is spec


def test_tempo_keeps_the_pitch_where_speed_would_move_it():
    out, lengths = change_tempo(_batch(440.0)[:1], LENGTHS[:1], 1.25)
    spectrum = torch.fft.rfft(out[0, :int(lengths[0])]).abs()
    peak = float(torch.fft.rfftfreq(int(lengths[0]), 1 / SR)[spectrum.argmax()])
    assert peak == pytest.approx(440.0, abs=8.0) and int(lengths[0]) == 12800


def test_reverberation_keeps_the_level_and_spreads_energy_in_time():
    click = torch.zeros(1, SR)
    click[0, 100] = 1.0
    wet = reverberate(click, torch.tensor([SR]), torch.tensor([0.5]), torch.tensor([0.0]), SR,
                      torch.Generator().manual_seed(0))
    assert wet.square().sum() == pytest.approx(1.0, rel=1e-3)
    assert wet[0, 101:].square().sum() > 0.3  # a tail as strong as the direct path (0 dB)
    assert wet[0, :100].abs().max() < 1e-6  # nothing before the sound


def test_telephone_keeps_the_voice_band_only():
    x = (_batch(1000.0) + _batch(6000.0))[:1]
    line = telephone(x, LENGTHS[:1], SR)
    assert _band_energy(line, 5000, 7000) < 1e-3 * _band_energy(x, 5000, 7000)
    assert _band_energy(line, 900, 1100) > 0.8 * _band_energy(x, 900, 1100)


def test_vtlp_moves_a_formant_by_its_factor_and_keeps_the_edges():
    spec = torch.zeros(2, 161, 4)
    spec[:, 60] = 1.0
    warped = warp_frequencies(spec, torch.tensor([1.1, 1.0]))
    assert int(warped[0, :, 0].argmax()) == 66 and torch.equal(warped[1], spec[1])
    ramp = torch.linspace(0, 1, 161)[None, :, None].repeat(1, 1, 2)
    edges = warp_frequencies(ramp, torch.tensor([0.9]))[0, [0, -1], 0]
    assert torch.allclose(edges, torch.tensor([0.0, 1.0]), atol=1e-6)


def test_spec_augment_masks_stay_within_each_utterance():
    spec, frames = torch.randn(3, 161, 100) + 5.0, torch.tensor([100, 60, 20])
    masked = mask_spectrogram(spec, frames, 0, 0, 3, 0.2, torch.Generator().manual_seed(1))
    assert torch.equal(masked[1, :, 60:], spec[1, :, 60:])  # padding untouched
    changed = (masked != spec).all(1)  # (B, T): whole frames
    assert changed[0].sum() <= 3 * 20 and changed[2].sum() <= 3 * 4
    bands = mask_spectrogram(spec, frames, 2, 10, 0, 0.0, torch.Generator().manual_seed(1))
    assert ((bands != spec).all(2).sum(1) <= 20).all()


@pytest.mark.parametrize("kwargs", [dict(reverb_p=1.5), dict(vtlp=1.0), dict(tempo=[0.0]),
                                    dict(rt60=(0.5, 0.2))])
def test_bad_settings_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        SpeechAugment(**kwargs)
