import math

import pytest
import torch

from speechzoo.augment import AudioAugment
from speechzoo.errors import ConfigError, SpeechZooError

SR = 16000


def tones(*hz: float, seconds: float = 1.0) -> torch.Tensor:
    t = torch.arange(int(SR * seconds)) / SR
    return torch.stack([torch.sin(2 * math.pi * f * t) for f in hz])


def level_db(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return 20 * torch.log10(y.std(-1) / x.std(-1))


def test_eval_mode_and_p_zero_pass_audio_unchanged():
    x, lengths = tones(440, 880), torch.tensor([SR, SR])
    augment = AudioAugment(SR, eq_db=9, gain_db=6, noise_snr_db=(20, 30))
    assert torch.equal(augment.eval()(x, lengths), x)
    assert torch.equal(AudioAugment(SR, eq_db=9, p=0.0).train()(x, lengths), x)


def test_level_change_stays_in_range_and_keeps_the_waveform_shape():
    x = tones(*([440.0] * 32))
    y = AudioAugment(SR, gain_db=6).train()(x, torch.full((32,), SR))
    db = level_db(y, x)
    assert db.abs().max() <= 6.0 + 1e-3 and db.std() > 1.0  # random, within +-6 dB
    assert torch.allclose(y / y.norm(dim=-1, keepdim=True), x / x.norm(dim=-1, keepdim=True),
                          atol=1e-4)


def test_equaliser_changes_bands_independently_within_its_range():
    x = tones(*([100.0] * 16), *([6000.0] * 16))
    x = x[:16] + x[16:]
    y = AudioAugment(SR, eq_db=9).train()(x, torch.full((16,), SR))
    low = torch.fft.rfft(y)[:, 100].abs() / torch.fft.rfft(x)[:, 100].abs()
    high = torch.fft.rfft(y)[:, 6000].abs() / torch.fft.rfft(x)[:, 6000].abs()
    low_db, high_db = 20 * low.log10(), 20 * high.log10()
    assert low_db.abs().max() <= 9 + 1e-3 and high_db.abs().max() <= 9 + 1e-3
    assert (low_db - high_db).abs().max() > 3.0  # a tilt, not only a level change


def test_pink_noise_at_the_requested_snr_and_padding_stays_silent():
    x = tones(*([440.0] * 8))
    x[:, SR // 2:] = 0  # clips of half a second in a padded batch
    lengths = torch.full((8,), SR // 2)
    y = AudioAugment(SR, noise_snr_db=(20, 30)).train()(x, lengths)
    noise = (y - x)[:, :SR // 2]
    snr = 10 * torch.log10(x[:, :SR // 2].square().mean(-1) / noise.square().mean(-1))
    assert snr.min() > 19.5 and snr.max() < 30.5
    assert y[:, SR // 2:].abs().max() == 0
    # Pink: more noise power below 500 Hz than in the whole 4-8 kHz octave.
    power = torch.fft.rfft(noise).abs().square()
    assert (power[:, 1:250].sum(-1) > power[:, 2000:4000].sum(-1)).all()


def test_seeded_draws_repeat():
    x, lengths = tones(440, 880), torch.tensor([SR, SR])
    runs = [AudioAugment(SR, eq_db=9, gain_db=6, noise_snr_db=(20, 30), seed=3).train()(x, lengths)
            for _ in range(2)]
    assert torch.equal(*runs)


@pytest.mark.parametrize("kwargs", [{"eq_db": -1.0}, {"gain_db": -2.0}, {"p": 1.5},
                                    {"eq_points": 1}, {"noise_snr_db": (30.0, 10.0)}])
def test_bad_settings_are_config_errors(kwargs):
    with pytest.raises(ConfigError) as e:
        AudioAugment(SR, **kwargs)
    assert isinstance(e.value, SpeechZooError) and "augment" in str(e.value)
