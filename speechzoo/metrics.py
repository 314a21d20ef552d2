"""Evaluation metrics: error rates for recognition, distances and robustness rates for TTS.

Error rates are over a corpus: total edits over total reference tokens. Both follow the usual
definitions (jiwer's, NeMo's): word errors over whitespace-separated words; character errors
over the characters of the texts with runs of whitespace made one space, spaces counted.

TTS: mel cepstral distortion with DTW alignment (Kubichek 1993), log-F0 RMSE in cents over
frames voiced in both signals (YIN pitch, de Cheveigne and Kawahara 2002), duration MAE, and
Non-Attentive Tacotron's unaligned duration ratio and word deletion rate (Shen et al. 2020,
arXiv 2010.04301), which read a recogniser's output (``speechzoo.judge``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch
from torchaudio.functional import edit_distance

from speechzoo.audio import as_mono
from speechzoo.errors import AudioError, DataError
from speechzoo.features import Spectrogram
from speechzoo.text.lexicon import strip_stress


def _rate(refs: Sequence[Sequence], hyps: Sequence[Sequence]) -> float:
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    total = sum(len(r) for r in refs)
    if total == 0:
        raise DataError("the references hold no words: an error rate needs some")
    return sum(edit_distance(r, h) for r, h in zip(refs, hyps, strict=True)) / total


def wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Word error rate."""
    return _rate([r.split() for r in references], [h.split() for h in hypotheses])


def cer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Character error rate (spaces count as characters)."""
    return _rate([" ".join(r.split()) for r in references],
                 [" ".join(h.split()) for h in hypotheses])


def token_error_rate(references: Sequence[Sequence], hypotheses: Sequence[Sequence]) -> float:
    """Edit distance over the references' length for sequences of any tokens (Deep Voice's
    segmentation: phoneme pairs)."""
    return _rate(references, hypotheses)


def boundary_errors_ms(true_seconds: np.ndarray | torch.Tensor,
                       predicted_seconds: np.ndarray | torch.Tensor) -> np.ndarray:
    """Absolute errors in ms of predicted phoneme boundaries, over the true ones that are known
    (not NaN). Shape: (n,), (n,) -> (known,)."""
    true = np.asarray(true_seconds, np.float64)
    pred = np.asarray(predicted_seconds, np.float64)
    if true.shape != pred.shape:
        raise ValueError(f"{true.shape} true boundaries but {pred.shape} predicted")
    known = np.isfinite(true)
    return np.abs(pred[known] - true[known]) * 1000.0


def pronunciation_error_rates(references: Sequence[Sequence[Sequence[str]]],
                              hypotheses: Sequence[Sequence[str]],
                              stress: bool = True) -> tuple[float, float]:
    """Phoneme and word error rates of a G2P model: (PER, WER).

    A word may have several correct pronunciations (``references[i]``, each a list of
    symbols); it is scored against the one closest to its hypothesis (fewest edits, the first
    such one on a tie), as Yao and Zweig (2015) and the CMUdict G2P literature score. PER:
    edits over the chosen references' symbols, summed over words; WER: the share of words
    whose hypothesis matches none of their pronunciations. ``stress=False`` scores without
    ARPAbet's stress digits (``AH0`` counts as ``AH``).
    """
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} words' references but {len(hypotheses)} "
                         "hypotheses")
    if not references:
        raise DataError("no words to score")
    edits = symbols = wrong = 0
    for refs, hyp in zip(references, hypotheses, strict=True):
        if not refs:
            raise DataError("a word has no reference pronunciation")
        if not stress:
            refs, hyp = [strip_stress(r) for r in refs], strip_stress(hyp)
        dist, ref = min(((edit_distance(list(r), list(hyp)), r) for r in refs),
                        key=lambda pair: pair[0])
        edits, symbols, wrong = edits + dist, symbols + len(ref), wrong + (dist > 0)
    return edits / max(symbols, 1), wrong / len(references)


# ---------------------------------------------------------------------------------------------
# Text-to-speech metrics: spectral and pitch distance to a reference recording (MCD-DTW,
# log-F0 RMSE), duration error, and the ASR-based robustness rates of Non-Attentive Tacotron.
# ---------------------------------------------------------------------------------------------

# Analysis frames of the TTS front end (1024-sample window, 256-sample hop at 22,050 Hz), as
# durations so that other rates get the same time resolution.
_WINDOW_MS = 1024 / 22.05
_HOP_MS = 256 / 22.05
# Kubichek (1993): 10 / ln 10 turns natural-log amplitude into dB; sqrt(2) counts the
# cepstrum's negative quefrencies, which mirror the positive ones of a real signal.
_MCD_DB = 10.0 / np.log(10.0) * np.sqrt(2.0)

WordSegment = tuple[str, float, float]  # (word, start, end), seconds from the audio's start


@functools.lru_cache(maxsize=8)
def _mel_front_end(sample_rate: int, n_mels: int) -> Spectrogram:
    return Spectrogram(sample_rate=sample_rate, window_ms=_WINDOW_MS, hop_ms=_HOP_MS,
                       power=1.0, n_mels=n_mels, mel_scale="slaney", log=True, log_floor=1e-5)


def mel_cepstrum(wav: np.ndarray, sample_rate: int, n_coefficients: int = 24,
                 n_mels: int = 80) -> np.ndarray:
    """Mel cepstra: the DCT of a log-amplitude mel spectrogram.

    The spectrogram is :class:`speechzoo.features.Spectrogram` (magnitude, Slaney mel bands up
    to half the sample rate, natural log, 46.4 ms windows every 11.6 ms: the TTS frames at
    22,050 Hz). The DCT-II is scaled by ``1 / n_mels``, which makes ``c_n`` the real cepstrum
    of the log amplitude on a mel-warped frequency axis (``log|X(w)| = c_0 + 2 sum c_n cos nw``),
    the quantity Kubichek's MCD formula expects. It approximates, but is not, SPTK's
    mel-generalised cepstrum (``mcep``), so values are comparable only with this function's.

    Shape: wav (samples,) -> (frames, n_coefficients + 1), column 0 being c_0 (energy).
    """
    front = _mel_front_end(sample_rate, n_mels)
    x = torch.from_numpy(as_mono(wav)).unsqueeze(0)
    with torch.inference_mode():
        logmel, _ = front(x, torch.tensor([x.shape[-1]]))
    n = np.arange(n_coefficients + 1)[:, None]
    m = np.arange(n_mels)[None, :]
    dct = np.cos(np.pi * n * (m + 0.5) / n_mels) / n_mels  # (coefficients, mels)
    return logmel[0].double().numpy().T @ dct.T


def _pairwise_distance(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Euclidean distances, (T1, D) x (T2, D) -> (T1, T2)."""
    sq = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * x @ y.T
    return np.sqrt(np.maximum(sq, 0.0))


def dtw_path(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dynamic time warping: the monotonic path of least total cost from (0, 0) to the end.

    Steps (1, 0), (0, 1) and (1, 1), each adding the cost of the cell it enters (Sakoe and
    Chiba 1978, symmetric form without slope weights). A row is filled at once: with ``a_j``
    the cost of entering (i, j) from the row above, ``D[i, j] = min(a_j, c_ij + D[i, j-1])``
    unrolls to ``S_j + min_{k<=j} (a_k - S_k)`` over the row's prefix sums ``S``.

    Shape: cost (T1, T2) -> row indices (L,), column indices (L,), both non-decreasing.
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2 or 0 in cost.shape:
        raise ValueError(f"a DTW cost matrix must be 2-D and non-empty, got {cost.shape}")
    total = np.empty_like(cost)
    total[0] = np.cumsum(cost[0])
    for i in range(1, cost.shape[0]):
        above = total[i - 1]
        diagonal = np.concatenate([[np.inf], above[:-1]])
        enter = cost[i] + np.minimum(above, diagonal)
        prefix = np.cumsum(cost[i])
        total[i] = prefix + np.minimum.accumulate(enter - prefix)
    return _backtrack(total)


def _backtrack(total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    i, j = total.shape[0] - 1, total.shape[1] - 1
    path = [(i, j)]
    while i > 0 or j > 0:
        moves = [(i - 1, j - 1), (i - 1, j), (i, j - 1)]  # diagonal first: it wins ties
        i, j = min((m for m in moves if m[0] >= 0 and m[1] >= 0), key=lambda m: total[m])
        path.append((i, j))
    rows, cols = np.array(path[::-1]).T
    return rows, cols


def cepstral_distortion(ref: np.ndarray, syn: np.ndarray, dtw: bool = True) -> float:
    """Mel cepstral distortion (Kubichek 1993) in dB between two sequences of cepstra.

    ``MCD = 10 sqrt(2) / ln 10 * sqrt(sum_d (c_d - c'_d)^2)`` per frame pair, averaged over the
    pairs of the DTW path between the sequences (MCD-DTW), or over the first ``min(T1, T2)``
    frames paired in order when ``dtw`` is False. Leave c_0 (energy) out of the input.

    Shape: ref (T1, D), syn (T2, D) -> scalar.
    """
    ref, syn = np.asarray(ref, dtype=np.float64), np.asarray(syn, dtype=np.float64)
    if ref.ndim != 2 or syn.ndim != 2 or ref.shape[1] != syn.shape[1] or not (
            len(ref) and len(syn)):
        raise ValueError(f"cepstra must be non-empty (frames, D) arrays of one D, got "
                         f"{ref.shape} and {syn.shape}")
    if dtw:
        distance = _pairwise_distance(ref, syn)
        rows, cols = dtw_path(distance)
        per_frame = distance[rows, cols]
    else:
        n = min(len(ref), len(syn))
        per_frame = np.sqrt(((ref[:n] - syn[:n]) ** 2).sum(1))
    return float(_MCD_DB * per_frame.mean())


def mel_cepstral_distortion(ref_wav: np.ndarray, syn_wav: np.ndarray, sample_rate: int,
                            n_coefficients: int = 24, dtw: bool = True) -> float:
    """MCD-DTW in dB between a reference recording and a synthesis of the same text.

    Cepstra c_1..c_D (``D = n_coefficients``; c_0 excluded) from :func:`mel_cepstrum`, compared
    with :func:`cepstral_distortion`. Silences are kept, so leading and trailing silence count.

    Shape: ref_wav (samples,), syn_wav (samples',) at ``sample_rate`` -> scalar.
    """
    ref = mel_cepstrum(ref_wav, sample_rate, n_coefficients)[:, 1:]
    syn = mel_cepstrum(syn_wav, sample_rate, n_coefficients)[:, 1:]
    return cepstral_distortion(ref, syn, dtw)


def log_spectral_distance(ref_wav: np.ndarray, syn_wav: np.ndarray, sample_rate: int) -> float:
    """Log-spectral distance in dB between a recording and a signal aligned with it sample
    for sample (a vocoder's output from the recording's own mels): per frame, the RMS over
    frequency of ``10 log10`` power differences, averaged over frames (46.4 ms Hann windows
    every 11.6 ms; powers floored at -100 dB of full scale so silence does not dominate).

    Shape: ref_wav (samples,), syn_wav (samples',) -> scalar; the longer one is cut.
    """
    n = min(len(ref_wav), len(syn_wav))
    win = round(sample_rate * _WINDOW_MS / 1000)
    if n < win:
        raise AudioError(f"log-spectral distance needs at least {win} samples, got {n}")
    x = torch.from_numpy(np.stack([as_mono(ref_wav)[:n], as_mono(syn_wav)[:n]])).double()
    spec = torch.stft(x, win, round(sample_rate * _HOP_MS / 1000),
                      window=torch.hann_window(win, dtype=torch.float64), center=False,
                      return_complex=True).abs().square() / win
    db = 10 * torch.log10(spec.clamp_min(1e-10))
    return float((db[0] - db[1]).square().mean(0).sqrt().mean())


def yin_f0(wav: np.ndarray, sample_rate: int, f_min: float = 60.0, f_max: float = 500.0,
           threshold: float = 0.15, silence_db: float = 40.0) -> np.ndarray:
    """Fundamental frequency by YIN (de Cheveigne and Kawahara 2002), 0 where unvoiced.

    Frames are those of :func:`mel_cepstrum` (frame t integrates the 46.4 ms window from
    sample ``t * hop``), so the two can share a DTW path. Per frame: the difference function
    (computed by FFT), its cumulative-mean normalisation, the first dip below ``threshold``
    followed to its local minimum (step 4) and refined by parabolic interpolation (step 5).
    A frame is unvoiced when no dip goes below ``threshold`` or its energy lies more than
    ``silence_db`` under the loudest frame's.

    Shape: wav (samples,) -> (frames,) in Hz.
    """
    wav = as_mono(wav).astype(np.float64)
    win = int(round(sample_rate * _WINDOW_MS / 1000))
    hop = int(round(sample_rate * _HOP_MS / 1000))
    lag_min, lag_max = int(sample_rate // f_max), int(np.ceil(sample_rate / f_min))
    if not 2 <= lag_min < lag_max:
        raise ValueError(f"need 0 < f_min < f_max < sample_rate / 2, got {f_min}, {f_max}")
    n_frames = max(0, (len(wav) - win) // hop) + 1
    padded = np.pad(wav, (0, max(win - len(wav), 0) + lag_max + 1))
    frames = np.lib.stride_tricks.sliding_window_view(padded, win + lag_max + 1)[::hop][
        :n_frames]
    dprime, energy = _yin_difference(frames, win, lag_max)
    lags = np.arange(dprime.shape[1])
    below = (dprime < threshold) & (lags >= lag_min)
    voiced = below.any(1) & (energy > energy.max() * 10 ** (-silence_db / 10))
    first = below.argmax(1)
    rising = np.concatenate([dprime[:, 1:] >= dprime[:, :-1], np.ones((n_frames, 1), bool)], 1)
    lag = np.argmax(rising & (lags >= first[:, None]), axis=1).clip(1, lag_max - 1)
    rows = np.arange(n_frames)
    left, mid, right = dprime[rows, lag - 1], dprime[rows, lag], dprime[rows, lag + 1]
    curvature = left - 2 * mid + right
    shift = np.divide(0.5 * (left - right), curvature, out=np.zeros_like(mid),
                      where=curvature > 0)
    return np.where(voiced, sample_rate / (lag + shift), 0.0)


def _yin_difference(frames: np.ndarray, win: int, lag_max: int) -> tuple[np.ndarray, np.ndarray]:
    """YIN steps 2-3. Shape: frames (T, win + lag_max + 1) -> d' (T, lag_max + 1), energy (T,)."""
    n_fft = 1 << int(np.ceil(np.log2(frames.shape[1])))
    spectrum = np.fft.rfft(frames, n_fft)
    head = np.fft.rfft(frames[:, :win], n_fft)
    correlation = np.fft.irfft(np.conj(head) * spectrum, n_fft)[:, :lag_max + 1]
    squares = np.concatenate([np.zeros((len(frames), 1)), np.cumsum(frames ** 2, 1)], 1)
    energy = squares[:, win]
    shifted = squares[:, win:win + lag_max + 1] - squares[:, :lag_max + 1]
    diff = np.maximum(energy[:, None] + shifted - 2 * correlation, 0.0)
    running = np.cumsum(diff[:, 1:], 1) / np.arange(1, lag_max + 1)
    dprime = np.ones_like(diff)
    np.divide(diff[:, 1:], running, out=dprime[:, 1:], where=running > 1e-12)
    return dprime, energy


def _aligned_f0(ref_wav: np.ndarray, syn_wav: np.ndarray, sample_rate: int, f_min: float,
                f_max: float) -> tuple[np.ndarray, np.ndarray]:
    """F0 of both signals at the frame pairs of their MCD-DTW path. Shape: -> (L,), (L,)."""
    ref_cep = mel_cepstrum(ref_wav, sample_rate)[:, 1:]
    syn_cep = mel_cepstrum(syn_wav, sample_rate)[:, 1:]
    rows, cols = dtw_path(_pairwise_distance(ref_cep, syn_cep))
    ref_f0 = yin_f0(ref_wav, sample_rate, f_min, f_max)
    syn_f0 = yin_f0(syn_wav, sample_rate, f_min, f_max)
    return ref_f0[rows], syn_f0[cols]


def log_f0_rmse(ref_wav: np.ndarray, syn_wav: np.ndarray, sample_rate: int,
                f_min: float = 60.0, f_max: float = 500.0) -> float:
    """RMSE of log F0 in cents (1200 log2 of the ratio) over frames voiced in both signals.

    Frames are paired by the MCD-DTW path of the two signals' mel cepstra, so a synthesis
    may differ in timing from the reference; F0 is :func:`yin_f0`'s. A semitone is 100 cents.

    Shape: ref_wav (samples,), syn_wav (samples',) -> scalar.

    Raises:
        DataError: no aligned frame is voiced in both signals.
    """
    ref, syn = _aligned_f0(ref_wav, syn_wav, sample_rate, f_min, f_max)
    both = (ref > 0) & (syn > 0)
    if not both.any():
        raise DataError("no aligned frame is voiced in both signals, so log-F0 RMSE is "
                        "undefined; check that both hold speech (voicing_decision_error says "
                        "how far their voicing disagrees)")
    cents = 1200.0 * np.log2(syn[both] / ref[both])
    return float(np.sqrt(np.mean(cents ** 2)))


def voicing_decision_error(ref_wav: np.ndarray, syn_wav: np.ndarray, sample_rate: int,
                           f_min: float = 60.0, f_max: float = 500.0) -> float:
    """Fraction of DTW-aligned frame pairs whose voicing (by :func:`yin_f0`) disagrees.

    Shape: ref_wav (samples,), syn_wav (samples',) -> scalar in [0, 1].
    """
    ref, syn = _aligned_f0(ref_wav, syn_wav, sample_rate, f_min, f_max)
    return float(np.mean((ref > 0) != (syn > 0)))


def duration_mae_ms(pred_frames: np.ndarray | torch.Tensor, true_frames: np.ndarray | torch.Tensor,
                    hop_seconds: float, lengths: np.ndarray | torch.Tensor | None = None,
                    ) -> float:
    """Mean absolute error of token durations in milliseconds, over all (unpadded) tokens.

    Args:
        pred_frames, true_frames: frames per token, shape (N,) or a padded batch (B, N).
        hop_seconds: seconds per frame (256 / 22050 for the TTS front end).
        lengths: tokens per sequence of a batch, (B,); None counts every entry.
    """
    pred = np.asarray(pred_frames, dtype=np.float64)
    true = np.asarray(true_frames, dtype=np.float64)
    if pred.shape != true.shape:
        raise ValueError(f"predicted durations {pred.shape} and true {true.shape} differ in shape")
    mask = np.ones(pred.shape, bool)
    if lengths is not None:
        mask = np.arange(pred.shape[-1]) < np.asarray(lengths).reshape(-1, 1)
    if not mask.any():
        raise DataError("no tokens to compare durations over")
    return float(np.abs(pred - true)[mask].mean() * hop_seconds * 1000.0)


def voicing_f0_errors(voiced_prob: np.ndarray | torch.Tensor, f0_hz: np.ndarray | torch.Tensor,
                      voiced: np.ndarray | torch.Tensor, f0_octaves: np.ndarray | torch.Tensor,
                      frames: np.ndarray | torch.Tensor, reference_hz: float = 100.0,
                      ) -> tuple[float, float]:
    """Deep Voice's F0 model scored per phoneme: voicing accuracy (probability above 0.5
    against the truth) over phonemes of at least one frame, and the RMSE in cents between the
    predicted and the true F0 contour points over the truly voiced phonemes (given the true
    durations, so the points line up).

    Shape: voiced_prob, voiced, frames (N,) over the phonemes to score (padding removed);
    f0_hz (N, P) predicted; f0_octaves (N, P) true ``log2(f0 / reference_hz)``.

    Raises:
        DataError: no phoneme lasts a frame, or none is voiced.
    """
    prob, truth = np.asarray(voiced_prob, np.float64), np.asarray(voiced, np.float64) > 0.5
    lasting = np.asarray(frames) > 0
    if not lasting.any() or not (truth & lasting).any():
        raise DataError("no phoneme lasts a frame and is voiced: nothing to score F0 over")
    accuracy = float(((prob > 0.5) == truth)[lasting].mean())
    cents = 1200 * (np.log2(np.asarray(f0_hz, np.float64) / reference_hz)
                    - np.asarray(f0_octaves, np.float64))
    return accuracy, float(np.sqrt(np.mean(cents[truth & lasting] ** 2)))


def align_words(reference: Sequence[str], hypothesis: Sequence[str],
                ) -> list[tuple[int | None, int | None]]:
    """A minimum edit-distance alignment of two word sequences (Levenshtein, unit costs).

    Returns pairs ``(i, j)``: word i of the reference against word j of the hypothesis (a hit
    or a substitution), ``(i, None)`` a deletion, ``(None, j)`` an insertion, in order. Of
    equally cheap alignments, the backtrace prefers hits and substitutions, then deletions.
    """
    n, m = len(reference), len(hypothesis)
    dist = np.zeros((n + 1, m + 1), dtype=np.int64)
    dist[:, 0], dist[0, :] = np.arange(n + 1), np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            sub = dist[i - 1, j - 1] + (reference[i - 1] != hypothesis[j - 1])
            dist[i, j] = min(sub, dist[i - 1, j] + 1, dist[i, j - 1] + 1)
    pairs: list[tuple[int | None, int | None]] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i and j and dist[i, j] == dist[i - 1, j - 1] + (reference[i - 1] != hypothesis[j - 1]):
            i, j = i - 1, j - 1
            pairs.append((i, j))
        elif i and dist[i, j] == dist[i - 1, j] + 1:
            i -= 1
            pairs.append((i, None))
        else:
            j -= 1
            pairs.append((None, j))
    return pairs[::-1]


def word_deletion_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Word deletion rate (Non-Attentive Tacotron, Shen et al. 2020): the reference
    words that the recogniser's transcript leaves out, over all reference words of the corpus.

    It counts under-generation (early cut-off, skipped words) that WER mixes with other
    errors; deletions are those of :func:`align_words`. Texts are split on whitespace;
    normalise them first (``speechzoo.judge.normalize_text``).
    """
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    refs = [r.split() for r in references]
    total = sum(len(r) for r in refs)
    if total == 0:
        raise DataError("the references hold no words: a deletion rate needs some")
    deleted = sum(sum(j is None for _, j in align_words(r, h.split()))
                  for r, h in zip(refs, hypotheses, strict=True))
    return deleted / total


def _unaligned_seconds(reference: Sequence[str], segments: Sequence[WordSegment],
                       duration: float, min_gap_s: float) -> float:
    """Time in [0, duration] outside every segment paired with a reference word, counting
    only stretches of at least ``min_gap_s``."""
    pairs = align_words(reference, [w for w, _, _ in segments])
    spans = sorted((max(0.0, segments[j][1]), min(duration, segments[j][2]))
                   for i, j in pairs if i is not None and j is not None)
    unaligned, covered_to = 0.0, 0.0
    for start, end in [*spans, (duration, duration)]:  # the sentinel closes the last gap
        if start - covered_to >= min_gap_s:
            unaligned += start - covered_to
        covered_to = max(covered_to, end)
    return unaligned


def unaligned_duration_ratio(references: Sequence[str],
                             segments: Sequence[Sequence[WordSegment]],
                             durations: Sequence[float], min_gap_s: float = 1.0) -> float:
    """Unaligned duration ratio (Non-Attentive Tacotron, Shen et al. 2020): the share of the
    corpus's audio time that no input word accounts for.

    It counts over-generation (long pauses, babbling, repeats, failing to stop). A recogniser
    gives each utterance's words with times (``speechzoo.judge.Judge.words``); its words are
    aligned to the reference by :func:`align_words`, and those paired with a reference word
    (hits and substitutions) cover their time. Uncovered stretches of at least ``min_gap_s``
    (so not the short pauses between words and at the ends) are unaligned, as are inserted
    words inside them.

    Args:
        references: the input text of each utterance (normalised, whitespace-separated).
        segments: per utterance, ``(word, start_s, end_s)`` in time order.
        durations: per utterance, its audio's length in seconds.
        min_gap_s: the shortest uncovered stretch that counts.

    Returns:
        Total unaligned seconds over total seconds, in [0, 1].
    """
    if not len(references) == len(segments) == len(durations):
        raise ValueError(f"{len(references)} references, {len(segments)} segment lists and "
                         f"{len(durations)} durations: give one of each per utterance")
    total = float(sum(durations))
    if total <= 0:
        raise DataError("the utterances last no time: an unaligned duration ratio needs audio")
    unaligned = sum(_unaligned_seconds(r.split(), s, d, min_gap_s)
                    for r, s, d in zip(references, segments, durations, strict=True))
    return unaligned / total


# ---------------------------------------------------------------------------------------------
# Piano transcription: frame, note, note-with-offset and note-with-offset-and-velocity
# precision, recall and F1, as the Onsets and Frames papers report them (arXiv 1710.11153
# section 4; 1810.12247 section 4), computed by mir_eval.
# ---------------------------------------------------------------------------------------------

FRAME_STEP = 0.01  # seconds between the frames of the frame metrics (mir_eval's multipitch)
ONSET_TOLERANCE = 0.05  # seconds
OFFSET_RATIO, OFFSET_MIN_TOLERANCE = 0.2, 0.05  # of the reference duration; seconds
VELOCITY_TOLERANCE = 0.1  # of the reference's velocity range


def _scores(prefix: str, precision: float, recall: float, n_ref: int,
            n_est: int) -> dict[str, float]:
    """Precision, recall and F1 under the empty-side rule of :func:`piano_metrics`."""
    if n_ref == 0 or n_est == 0:
        precision = recall = float(n_ref == n_est)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {f"{prefix}_precision": float(precision), f"{prefix}_recall": float(recall),
            f"{prefix}_f1": float(f1)}


def _active_pitches(notes, n_frames: int) -> list[np.ndarray]:
    """The MIDI pitches sounding at each time ``i * FRAME_STEP`` (onset <= t < offset), one
    array per frame, a pitch once however many of its notes overlap."""
    first = np.ceil(np.round(notes.onset / FRAME_STEP, 6)).astype(np.int64)
    stop = np.minimum(np.ceil(np.round(notes.offset / FRAME_STEP, 6)).astype(np.int64),
                      n_frames)
    lengths = np.maximum(stop - first, 0)
    run_start = np.repeat(np.cumsum(lengths) - lengths, lengths)
    frame = np.repeat(first, lengths) + np.arange(lengths.sum()) - run_start
    cells = np.unique(frame * 128 + np.repeat(notes.pitch, lengths))
    bounds = np.searchsorted(cells // 128, np.arange(1, n_frames))
    return [(c % 128).astype(np.float64) for c in np.split(cells, bounds)]


def _frame_scores(reference, estimate) -> dict[str, float]:
    import mir_eval

    end = max([0.0, *reference.offset, *estimate.offset])
    n_frames = int(np.ceil(np.round(end / FRAME_STEP, 6)))
    ref = _active_pitches(reference, n_frames)
    est = _active_pitches(estimate, n_frames)
    n_ref = int(sum(len(r) for r in ref))
    n_est = int(sum(len(e) for e in est))
    # Only frames where both sides sound can hold a true positive.
    both = [i for i in range(n_frames) if len(ref[i]) and len(est[i])]
    hits = float(mir_eval.multipitch.compute_num_true_positives(
        [ref[i] for i in both], [est[i] for i in both]).sum())
    return _scores("frame", hits / max(n_est, 1), hits / max(n_ref, 1), n_ref, n_est)


def piano_metrics(reference, estimate) -> dict[str, float]:
    """Transcription scores of one piece, the estimated notes against the reference.

    * ``frame_*``: mir_eval.multipitch's counts on a 10 ms grid (a pitch is on at time t when
      one of its notes has onset <= t < offset), summed over the piece;
    * ``note_*``: mir_eval.transcription, onsets within 50 ms and the pitch right, offsets
      ignored;
    * ``note_offset_*``: also offsets within 20% of the reference note's duration or 50 ms,
      whichever is larger;
    * ``note_offset_velocity_*``: mir_eval.transcription_velocity, also the velocity within
      0.1 of the reference's range after the estimate's velocities are fitted to it.

    Each gives ``_precision``, ``_recall`` and ``_f1``. An empty side scores 1 only against an
    empty side: both empty give 1, 1, 1; one empty gives 0, 0, 0 (nothing found, or nothing
    there to find).

    Args:
        reference, estimate: ``speechzoo.music.Notes`` in seconds.
    """
    import mir_eval

    scores = _frame_scores(reference, estimate)
    ref_int = np.stack([reference.onset, reference.offset], 1)
    est_int = np.stack([estimate.onset, estimate.offset], 1)
    ref_hz = mir_eval.util.midi_to_hz(reference.pitch.astype(np.float64))
    est_hz = mir_eval.util.midi_to_hz(estimate.pitch.astype(np.float64))
    n_ref, n_est = len(reference), len(estimate)
    for prefix, ratio in (("note", None), ("note_offset", OFFSET_RATIO)):
        p = r = 0.0
        if n_ref and n_est:
            p, r, _, _ = mir_eval.transcription.precision_recall_f1_overlap(
                ref_int, ref_hz, est_int, est_hz, onset_tolerance=ONSET_TOLERANCE,
                offset_ratio=ratio, offset_min_tolerance=OFFSET_MIN_TOLERANCE)
        scores.update(_scores(prefix, p, r, n_ref, n_est))
    p = r = 0.0
    if n_ref and n_est:
        p, r, _, _ = mir_eval.transcription_velocity.precision_recall_f1_overlap(
            ref_int, ref_hz, reference.velocity.astype(np.float64), est_int, est_hz,
            estimate.velocity.astype(np.float64), onset_tolerance=ONSET_TOLERANCE,
            offset_ratio=OFFSET_RATIO, offset_min_tolerance=OFFSET_MIN_TOLERANCE,
            velocity_tolerance=VELOCITY_TOLERANCE)
    scores.update(_scores("note_offset_velocity", p, r, n_ref, n_est))
    return scores


def mean_metrics(per_piece: Sequence[dict[str, float]]) -> dict[str, float]:
    """The mean of each score over pieces (the papers average per-piece scores).

    Raises:
        DataError: no pieces, or pieces with different scores.
    """
    if not per_piece:
        raise DataError("no pieces to average transcription scores over")
    keys = list(per_piece[0])
    if any(set(p) != set(keys) for p in per_piece):
        raise DataError("the pieces' transcription scores differ in their keys")
    return {k: float(np.mean([p[k] for p in per_piece])) for k in keys}
