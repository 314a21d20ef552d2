"""Targets of Deep Voice's duration and F0 model (arXiv 1702.07825, section 3.3): per phoneme,
its duration in frames, whether it is voiced and ``f0_points`` F0 values spread uniformly over
it, from a corpus with phoneme durations and F0 tracks (``speechzoo.data.corpora.f0``); and
the same prosody spread over frames, the input of its audio synthesis model (section 3.4)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from speechzoo.audio import load_audio
from speechzoo.data.datasets import _ManifestDataset
from speechzoo.errors import DataError, TextError
from speechzoo.text.tokenizers import PhonemeTokenizer


def phoneme_f0(f0: np.ndarray, durations: np.ndarray, points: int = 20,
               reference_hz: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    """Frame F0 -> per phoneme: voiced (at least half its frames are) and ``points`` values of
    ``log2(f0 / reference_hz)`` at the centres of ``points`` equal parts of its span.

    The log F0 of unvoiced frames is interpolated from the voiced frames around them, so a
    voiced phoneme with an unvoiced edge still gets a smooth contour. A phoneme of zero frames
    is unvoiced. An utterance without a voiced frame gives all phonemes unvoiced, F0 0.

    Shape: f0 (frames,) Hz with 0 unvoiced, durations (N,) frames summing to ``frames`` ->
    voiced (N,) float32 in {0, 1}, octaves (N, points) float32.
    """
    if int(durations.sum()) != len(f0):
        raise DataError(f"{len(f0)} F0 frames for durations summing to {int(durations.sum())}")
    ends = np.cumsum(durations)
    starts = ends - durations
    voiced_frames = f0 > 0
    running = np.concatenate([[0], np.cumsum(voiced_frames)])
    counts = running[ends] - running[starts]
    voiced = (durations > 0) & (2 * counts >= durations)
    if not voiced_frames.any():
        return np.zeros(len(durations), np.float32), np.zeros((len(durations), points),
                                                              np.float32)
    centres = np.arange(len(f0)) + 0.5
    contour = np.log2(f0[voiced_frames] / reference_hz)
    at = starts[:, None] + (np.arange(points) + 0.5) / points * durations[:, None]
    octaves = np.interp(at, centres[voiced_frames], contour)
    return voiced.astype(np.float32), octaves.astype(np.float32)


FRAME_FEATURES = 4  # per frame: voiced, octaves, position in the phoneme, its length


def frame_contour(ends: np.ndarray, voiced: np.ndarray, contour: np.ndarray) -> np.ndarray:
    """Per-phoneme contours spread over frames: the points of each phoneme whose ``voiced``
    exceeds 1/2 interpolated across its frames, 0 on the frames of the others.

    Shape: ends (N,) int, each phoneme's last frame + 1 (non-decreasing), voiced (N,)
    probabilities, contour (N, points) -> (ends[-1],) float32.
    """
    out = np.zeros(int(ends[-1]) if len(ends) else 0, np.float32)
    start = 0
    for end, prob, points in zip(ends, voiced, contour, strict=True):
        if end > start and prob > 0.5:
            at = (np.arange(end - start) + 0.5) / (end - start) * len(points) - 0.5
            out[start:end] = np.interp(at, np.arange(len(points)), points)
        start = max(start, int(end))
    return out


def frame_conditioning(tokens: np.ndarray, ends: np.ndarray, voiced: np.ndarray,
                       f0_hz: np.ndarray,
                       reference_hz: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    """What the audio synthesis model hears per frame (section 3.4: phonemes, durations and
    F0): the phoneme the frame falls in, and :data:`FRAME_FEATURES` numbers: voiced (0/1),
    F0 in octaves from ``reference_hz`` (0 unvoiced), the frame's position within its
    phoneme (0-1, centre of the frame), and the phoneme's length as ``log(1 + frames) / 4``
    (order one for phonemes up to a second).

    Shape: tokens (N,), ends (N,) as for :func:`frame_contour`, voiced (N,), f0_hz
    (N, points) -> ids (F,) int64, features (F, FRAME_FEATURES) float32, F = ends[-1].
    """
    ends = np.asarray(ends, np.int64)
    lengths = np.diff(ends, prepend=0)
    hz = frame_contour(ends, voiced, f0_hz)
    ids = np.repeat(np.asarray(tokens, np.int64), lengths)
    starts = np.repeat(ends - lengths, lengths)
    span = np.repeat(lengths, lengths).astype(np.float32)
    position = (np.arange(len(ids)) - starts + 0.5) / np.maximum(span, 1)
    octaves = np.where(hz > 0, np.log2(np.maximum(hz, 1e-3) / reference_hz), 0.0)
    features = np.stack([(hz > 0).astype(np.float32), octaves, position,
                         np.log1p(span) / 4], 1)
    return ids, features.astype(np.float32)


class ProsodyDataset(_ManifestDataset):
    """Phoneme sequences with their duration, voicing and F0 targets.

    Args:
        entries: manifest entries with ``phonemes``, ``durations`` (frames per phoneme plus
            one for the end token) and ``f0_filepath`` (``.npy`` Hz per frame).
        tokenizer: the TTS phoneme tokenizer (the end token is appended).
        points, reference_hz: see :func:`phoneme_f0`.
        source: where the entries came from, for error messages.

    Items: ``tokens`` (N,) long, ``frames`` (N,) float, ``voiced`` (N,), ``f0`` (N, points)
    octaves.
    """

    required = ("audio_filepath", "duration", "phonemes", "durations", "f0_filepath")

    def __init__(self, entries: list[dict[str, Any]], tokenizer: PhonemeTokenizer,
                 points: int = 20, reference_hz: float = 100.0,
                 source: str = "manifest") -> None:
        if not entries:
            raise DataError(f"{source}: no utterances")
        self.entries, self.items = entries, []
        for entry in entries:
            where = f"{source}, {entry['audio_filepath']}"
            try:
                tokens = tokenizer.encode(entry["phonemes"], add_end=True)
                durations = np.asarray(entry["durations"], np.int64)
                if len(durations) != len(tokens):
                    raise DataError(f"{len(durations)} durations for {len(tokens)} tokens "
                                    "(phonemes + end)")
                f0 = np.load(entry["f0_filepath"], allow_pickle=False)
                voiced, octaves = phoneme_f0(f0, durations, points, reference_hz)
            except (DataError, TextError, OSError, ValueError) as e:
                raise DataError(f"{where}: {e}; prepare the F0 tracks again "
                                "(`speechzoo prepare f0 CORPUS_DIR`)") from None
            self.items.append({"tokens": torch.tensor(tokens),
                               "frames": torch.from_numpy(durations.astype(np.float32)),
                               "voiced": torch.from_numpy(voiced),
                               "f0": torch.from_numpy(octaves)})

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.items[i]


class SynthesisDataset(ProsodyDataset):
    """Audio with its frame-level conditioning, for Deep Voice's audio synthesis model: the
    per-phoneme targets of :class:`ProsodyDataset` rendered as a synthesiser renders
    predicted ones (:func:`frame_conditioning`), so training and synthesis see one input.

    Args:
        entries, tokenizer, points, reference_hz, source: as :class:`ProsodyDataset`.
        sample_rate, hop: audio is resampled to the rate and cut or padded to the frames'
            ``hop`` samples each.

    Items: ``frame_tokens`` (F,) long, ``frame_features`` (F, FRAME_FEATURES), ``audio``
    (F * hop,).
    """

    def __init__(self, entries: list[dict[str, Any]], tokenizer: PhonemeTokenizer,
                 sample_rate: int, hop: int, points: int = 20, reference_hz: float = 100.0,
                 source: str = "manifest") -> None:
        super().__init__(entries, tokenizer, points, reference_hz, source)
        self.sample_rate, self.hop, self.reference_hz = sample_rate, hop, reference_hz

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = self.items[i]
        ends = np.cumsum(item["frames"].numpy()).astype(np.int64)
        hz = self.reference_hz * 2.0 ** item["f0"].numpy()
        ids, features = frame_conditioning(item["tokens"].numpy(), ends, item["voiced"].numpy(),
                                           hz, self.reference_hz)
        wav, _ = load_audio(self.entries[i]["audio_filepath"], self.sample_rate)
        samples = len(ids) * self.hop
        wav = np.pad(wav[:samples], (0, max(0, samples - len(wav))))
        return {"frame_tokens": torch.from_numpy(ids), "frame_features": torch.from_numpy(features),
                "audio": torch.from_numpy(wav.astype(np.float32))}
