"""TTS metrics on signals whose answers are known: MCD-DTW, YIN F0, log-F0 RMSE, duration
MAE, word deletion rate and unaligned duration ratio."""

import numpy as np
import pytest
import torch

from speechzoo.errors import AudioError, DataError
from speechzoo.metrics import (
    align_words,
    cepstral_distortion,
    dtw_path,
    duration_mae_ms,
    log_f0_rmse,
    log_spectral_distance,
    mel_cepstral_distortion,
    mel_cepstrum,
    unaligned_duration_ratio,
    voicing_decision_error,
    word_deletion_rate,
    yin_f0,
)

SR = 22050


def harmonic(f0: float, seconds: float, partials: int = 5) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    return 0.3 * sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, partials + 1))


def segments(durations: list[float]) -> np.ndarray:
    """Five spectrally distinct 'phones' (harmonic tones over a little noise), each lasting
    the given time: a stand-in for an utterance whose timing can be stretched."""
    rng = np.random.default_rng(0)
    parts = [harmonic(f0, d) for f0, d in zip([110, 330, 170, 520, 240], durations, strict=True)]
    wav = np.concatenate(parts)
    return wav + rng.normal(0, 0.01, wav.shape)


def test_mcd_is_zero_for_identical_signals_and_grows_with_noise():
    wav = segments([0.3] * 5)
    assert mel_cepstral_distortion(wav, wav, SR) == pytest.approx(0.0, abs=1e-6)
    rng = np.random.default_rng(1)
    mcds = [mel_cepstral_distortion(wav, wav + rng.normal(0, level, wav.shape), SR)
            for level in (0.01, 0.03, 0.1)]
    assert 0.1 < mcds[0] < mcds[1] < mcds[2]


def test_dtw_aligns_a_time_stretched_copy():
    ref = segments([0.2, 0.3, 0.2, 0.3, 0.2])
    stretched = segments([0.35, 0.3, 0.45, 0.2, 0.4])
    aligned = mel_cepstral_distortion(ref, stretched, SR)
    truncated = mel_cepstral_distortion(ref, stretched, SR, dtw=False)
    assert aligned < 0.3 * truncated


def test_dtw_path_is_monotonic_and_follows_the_cheap_cells():
    x, y = np.array([0.0, 1, 2, 3]), np.array([0.0, 0, 1, 1, 2, 3, 3])
    rows, cols = dtw_path(np.abs(x[:, None] - y[None, :]))
    assert (rows[0], cols[0]) == (0, 0) and (rows[-1], cols[-1]) == (3, 6)
    assert np.all(np.diff(rows) >= 0) and np.all(np.diff(cols) >= 0)
    assert np.all(np.diff(rows) + np.diff(cols) >= 1)
    assert np.all(x[rows] == y[cols])  # a zero-cost path exists, and DTW finds it


def test_cepstral_distortion_formula_and_mel_cepstrum_shape():
    ref, syn = np.zeros((3, 2)), np.array([[3.0, 4.0]] * 3)  # distance 5 in every frame
    assert cepstral_distortion(ref, syn) == pytest.approx(10 * np.sqrt(2) / np.log(10) * 5)
    cep = mel_cepstrum(harmonic(220, 0.5), SR, n_coefficients=13)
    assert cep.shape == ((int(SR * 0.5) - 1024) // 256 + 1, 14)
    with pytest.raises(ValueError, match="non-empty"):
        cepstral_distortion(np.zeros((3, 2)), np.zeros((3, 4)))


def test_yin_finds_220_hz_and_leaves_silence_unvoiced():
    wav = np.concatenate([np.zeros(SR // 2), harmonic(220, 1.0)])
    f0 = yin_f0(wav, SR)
    voiced = f0 > 0
    assert np.median(f0[voiced]) == pytest.approx(220, rel=0.005)
    assert not voiced[:10].any()  # the frames inside the leading silence
    assert voiced[-40:].all()


def test_log_f0_rmse_in_cents():
    tone = harmonic(220, 1.0)
    assert log_f0_rmse(tone, tone, SR) == pytest.approx(0.0, abs=1e-6)
    assert log_f0_rmse(tone, harmonic(220 * 2 ** (1 / 12), 1.0), SR) == pytest.approx(100, abs=2)
    assert voicing_decision_error(tone, tone, SR) == 0.0
    with pytest.raises(DataError, match="voiced in both"):
        log_f0_rmse(tone, np.random.default_rng(0).normal(0, 0.1, SR), SR)


def test_duration_mae():
    pred, true = np.array([2, 4, 6]), np.array([3, 4, 3])  # errors 1, 0, 3 frames
    assert duration_mae_ms(pred, true, hop_seconds=0.01) == pytest.approx(40 / 3)
    batch_pred = torch.tensor([[2, 4, 6], [5, 99, 99]])
    batch_true = torch.tensor([[3, 4, 3], [1, 0, 0]])  # the 99s are padding
    assert duration_mae_ms(batch_pred, batch_true, 0.01, lengths=torch.tensor([3, 1])) == \
        pytest.approx((1 + 0 + 3 + 4) / 4 * 10)


def test_align_words_marks_hits_substitutions_deletions_insertions():
    pairs = align_words("a b c d e".split(), "a c x e f".split())  # the one cheapest alignment
    assert pairs == [(0, 0), (1, None), (2, 1), (3, 2), (4, 3), (None, 4)]


def test_word_deletion_rate():
    refs = ["the cat sat on the mat", "hello world"]
    assert word_deletion_rate(refs, refs) == 0.0
    assert word_deletion_rate(refs, ["the cat on the mat", "hello world"]) == pytest.approx(1 / 8)
    assert word_deletion_rate(["a b c"], ["a x c"]) == 0.0  # a substitution deletes nothing
    assert word_deletion_rate(["a b c"], [""]) == 1.0
    with pytest.raises(DataError):
        word_deletion_rate([""], [""])


def test_unaligned_duration_ratio():
    ref = "one two three"
    perfect = [("one", 0.1, 0.5), ("two", 0.6, 1.0), ("three", 1.1, 1.6)]
    assert unaligned_duration_ratio([ref], [perfect], [1.8]) == 0.0
    # a 2 s pause after "two", then babble the recogniser heard as an inserted word
    paused = [("one", 0.1, 0.5), ("two", 0.6, 1.0), ("three", 3.0, 3.5), ("um", 3.5, 5.0)]
    assert unaligned_duration_ratio([ref], [paused], [5.0]) == pytest.approx((2.0 + 1.5) / 5.0)
    # shorter gaps than min_gap_s do not count; a substitution covers its time
    misheard = [("one", 0.1, 0.5), ("too", 0.6, 1.0), ("three", 1.1, 1.6)]
    assert unaligned_duration_ratio([ref], [misheard], [1.8], min_gap_s=0.05) == \
        pytest.approx((0.1 + 0.1 + 0.1 + 0.2) / 1.8)
    assert unaligned_duration_ratio([ref, ref], [perfect, []], [1.8, 2.0]) == \
        pytest.approx(2.0 / 3.8)  # nothing recognised: the whole second utterance


def test_log_spectral_distance():
    wav = np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1
    assert log_spectral_distance(wav, wav, 22050) == 0.0
    # half the amplitude is a quarter of the power in every bin: 10 log10(4) dB
    assert log_spectral_distance(wav, wav / 2, 22050) == pytest.approx(6.0206, abs=1e-3)
    with pytest.raises(AudioError, match="at least 1024 samples"):
        log_spectral_distance(wav[:500], wav[:500], 22050)
