"""Targets of Deep Voice's duration and F0 model (arXiv 1702.07825, section 3.3): per phoneme,
its duration in frames, whether it is voiced and ``f0_points`` F0 values spread uniformly over
it, from a corpus with phoneme durations and F0 tracks (``speechzoo.data.corpora.f0``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

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
