"""A dataset of (waveform, transcript) pairs from a manifest, and its collate function."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset

from speechzoo.audio import load_audio
from speechzoo.errors import DataError
from speechzoo.text.tokenizer import CharTokenizer


class SpeechDataset(Dataset):
    """Utterances of a manifest, as mono waveforms at ``sample_rate`` and label ids.

    Every transcript is encoded up front, so a character outside the alphabet stops the run
    before training starts, naming the manifest entry.

    Args:
        entries: manifest entries (``speechzoo.data.manifest.read_manifest``).
        tokenizer: maps text to label ids.
        sample_rate: audio is resampled to this rate.
        max_duration: utterances longer than this many seconds are left out.
        source: where the entries came from, for error messages.
    """

    def __init__(self, entries: list[dict[str, Any]], tokenizer: CharTokenizer, sample_rate: int,
                 max_duration: float | None = None, source: str = "manifest") -> None:
        if max_duration is not None:
            entries = [e for e in entries if e["duration"] <= max_duration]
        if not entries:
            raise DataError(f"{source}: no utterance left (max_duration={max_duration})")
        self.entries, self.sample_rate = entries, sample_rate
        self.labels = []
        for i, entry in enumerate(entries):
            try:
                self.labels.append(torch.tensor(tokenizer.encode(entry.get("text", "")),
                                                dtype=torch.long))
            except DataError as e:
                where = f"{source}, entry {i + 1} ({entry['audio_filepath']})"
                raise DataError(f"{where}: {e}") from None

    @property
    def durations(self) -> list[float]:
        return [float(e["duration"]) for e in self.entries]

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        wav, _ = load_audio(self.entries[i]["audio_filepath"], self.sample_rate)
        return torch.from_numpy(wav), self.labels[i]


def collate_speech(items: list[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Pad waveforms and labels.

    Returns:
        ``waveforms`` (B, max samples), ``lengths`` (B,), ``labels`` (B, max label length,
        padded with 0 = blank), ``label_lengths`` (B,).
    """
    wavs, labels = zip(*items, strict=True)
    return {
        "waveforms": torch.nn.utils.rnn.pad_sequence(wavs, batch_first=True),
        "lengths": torch.tensor([len(w) for w in wavs]),
        "labels": torch.nn.utils.rnn.pad_sequence(labels, batch_first=True),
        "label_lengths": torch.tensor([len(t) for t in labels]),
    }
