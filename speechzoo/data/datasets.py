"""Datasets over manifests, one per kind of task; items are dicts of tensors that
:func:`speechzoo.data.collate.collate` pads by key."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset

from speechzoo.audio import load_audio
from speechzoo.errors import DataError
from speechzoo.text.tokenizers import CharTokenizer


class SpeechDataset(Dataset):
    """Utterances of a manifest, as mono waveforms at ``sample_rate`` and label ids.

    Every transcript is encoded up front, so a character outside the alphabet stops the run
    before training starts, naming the manifest entry.

    Args:
        entries: manifest entries (``read_manifest(path, SpeechDataset.required)``).
        tokenizer: maps text to label ids.
        sample_rate: audio is resampled to this rate.
        source: where the entries came from, for error messages.

    Items: ``{"audio": (samples,), "labels": (L,)}``.
    """

    required = ("audio_filepath", "duration", "text")

    def __init__(self, entries: list[dict[str, Any]], tokenizer: CharTokenizer, sample_rate: int,
                 source: str = "manifest") -> None:
        if not entries:
            raise DataError(f"{source}: no utterances")
        self.entries, self.sample_rate = entries, sample_rate
        self.labels = []
        for entry in entries:
            try:
                self.labels.append(torch.tensor(tokenizer.encode(entry["text"]),
                                                dtype=torch.long))
            except DataError as e:
                raise DataError(f"{source}, {entry['audio_filepath']}: {e}") from None

    @property
    def durations(self) -> list[float]:
        return [float(e["duration"]) for e in self.entries]

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        wav, _ = load_audio(self.entries[i]["audio_filepath"], self.sample_rate)
        return {"audio": torch.from_numpy(wav), "labels": self.labels[i]}
