"""Phoneme pairs for Deep Voice's segmentation model (arXiv 1702.07825, section 3.1).

The model is trained with CTC to emit, for phonemes ``p1 .. pn`` between silences, the pairs
``(sil, p1), (p1, p2), ..., (pn, sil)``; CTC's outputs are spiky, so each pair peaks at one
frame, and that frame is the boundary between the pair's two phonemes. The pair vocabulary is
every ordered pair over the TTS inventory (``speechzoo.text.phonemes.ENGLISH``) and silence,
so no sentence holds a pair outside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from itertools import pairwise
from typing import Any

import numpy as np
import torch

from speechzoo.audio import load_audio
from speechzoo.data.datasets import _ManifestDataset
from speechzoo.errors import AudioError, DataError, TextError
from speechzoo.text.phonemes import ENGLISH, phonemize
from speechzoo.text.tokenizers import PhonemeTokenizer

SILENCE = "sil"
JOIN = "|"


@lru_cache(maxsize=1)
def pair_tokenizer() -> PhonemeTokenizer:
    """Ids of the pairs ``"a|b"`` over silence and the inventory (``sil|sil`` excluded): 0
    pads, 1 is the CTC blank, 2 ends, then 3,480 pairs."""
    units = (SILENCE, *ENGLISH)
    return PhonemeTokenizer(tuple(f"{a}{JOIN}{b}" for a in units for b in units
                                  if not a == b == SILENCE))


def phoneme_pairs(symbols: Sequence[str]) -> list[str]:
    """``["a", "b"]`` -> ``["sil|a", "a|b", "b|sil"]``."""
    if not symbols:
        raise TextError("no phonemes to pair")
    return [f"{a}{JOIN}{b}" for a, b in pairwise([SILENCE, *symbols, SILENCE])]


def true_boundaries(durations: Sequence[int], frame_seconds: float) -> np.ndarray:
    """Seconds of each pair's boundary from per-phoneme frames (the end token's last): the
    start of phoneme ``k`` for pair ``k``, the start of the trailing silence for the last;
    NaN for the first pair, whose boundary the corpus does not know (its first phoneme holds
    the leading silence). Shape: (n + 1,) durations -> (n + 1,) boundaries."""
    starts = np.concatenate([[0], np.cumsum(durations[:-1])]) * frame_seconds
    starts[0] = np.nan
    return starts


class SegmentationDataset(_ManifestDataset):
    """Recordings with their phoneme pairs, and the true boundaries where the corpus has
    durations.

    Args:
        entries: manifest entries with ``phonemes`` (or ``text``, phonemised as the TTS
            models read it); optional ``durations`` (frames, the end token's last).
        sample_rate: audio is resampled to this rate.
        frame_seconds: seconds per duration frame (Piper: 256 / 22,050).
        source: where the entries came from, for error messages.

    Items: ``audio`` (samples,), ``labels`` (n + 1,) pair ids, ``boundaries`` (n + 1,)
    seconds (all NaN without durations).
    """

    required = ("audio_filepath", "duration")

    def __init__(self, entries: list[dict[str, Any]], sample_rate: int,
                 frame_seconds: float = 256 / 22050, source: str = "manifest") -> None:
        if not entries:
            raise DataError(f"{source}: no utterances")
        self.entries, self.sample_rate = entries, sample_rate
        self.labels, self.boundaries = [], []
        pairs = pair_tokenizer()
        for entry in entries:
            where = f"{source}, {entry['audio_filepath']}"
            try:
                symbols = entry.get("phonemes") or phonemize(entry["text"], glides=True)
                ids = pairs.encode(phoneme_pairs(symbols))
            except (KeyError, DataError, TextError) as e:
                raise DataError(f"{where}: {e}; an entry needs `phonemes` or `text`") from None
            durations = entry.get("durations")
            if durations is not None and len(durations) != len(ids):
                raise DataError(f"{where}: {len(durations)} durations for {len(ids) - 1} "
                                "phonemes; give one per phoneme and one for the end")
            self.labels.append(torch.tensor(ids))
            self.boundaries.append(torch.from_numpy(
                true_boundaries(durations, frame_seconds) if durations is not None
                else np.full(len(ids), np.nan)).float())

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        try:
            wav, _ = load_audio(self.entries[i]["audio_filepath"], self.sample_rate)
        except AudioError as e:
            raise DataError(f"entry {i}: {e}") from None
        return {"audio": torch.from_numpy(wav), "labels": self.labels[i],
                "boundaries": self.boundaries[i]}
