"""Datasets over manifests, one per kind of task; items are dicts of tensors that
:func:`speechzoo.data.collate.collate` pads by key."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from speechzoo.audio import load_audio
from speechzoo.errors import DataError, TextError
from speechzoo.text.phonemes import phonemize
from speechzoo.text.tokenizers import CharTokenizer, PhonemeTokenizer


class _ManifestDataset(Dataset):
    """Manifest entries as a dataset; ``durations`` (seconds) feed the batch sampler."""

    entries: list[dict[str, Any]]

    @property
    def durations(self) -> list[float]:
        return [float(e["duration"]) for e in self.entries]

    def __len__(self) -> int:
        return len(self.entries)


class SpeechDataset(_ManifestDataset):
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

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        wav, _ = load_audio(self.entries[i]["audio_filepath"], self.sample_rate)
        return {"audio": torch.from_numpy(wav), "labels": self.labels[i]}


class TTSDataset(_ManifestDataset):
    """Text-to-speech pairs: phoneme ids (+ the end token), frame durations where the manifest
    has them, and the waveform, padded by ``pad`` samples on each side for the mel front end.

    Phonemes come from the entry's ``phonemes`` (a corpus' own, e.g. Piper's) or, when it has
    none (LJ Speech), from ``speechzoo.text.phonemes.phonemize(text, glides=True)`` (what the
    synthesiser gives a model), all done up
    front so a bad entry stops the run before training starts.

    Args:
        entries: manifest entries (``audio_filepath``, ``duration``, ``text``; optional
            ``phonemes`` and ``durations``: frames per phoneme plus one for the end token).
        tokenizer: the phoneme tokenizer.
        sample_rate: audio is resampled to this rate.
        hop: samples per frame; a clip with durations is cut or padded to their total.
        pad: silence added on each side (``speechzoo.features.TTS_PAD``).
        source: where the entries came from, for error messages.

    Items: ``{"tokens": (N,), "audio": (samples,)}`` plus ``"durations": (N,)`` if known.
    """

    required = ("audio_filepath", "duration", "text")

    def __init__(self, entries: list[dict[str, Any]], tokenizer: PhonemeTokenizer,
                 sample_rate: int, hop: int, pad: int, source: str = "manifest") -> None:
        if not entries:
            raise DataError(f"{source}: no utterances")
        self.entries, self.sample_rate, self.hop, self.pad = entries, sample_rate, hop, pad
        self.tokens, self.frames = [], []
        for entry in entries:
            where = f"{source}, {entry['audio_filepath']}"
            try:
                phonemes = entry.get("phonemes") or phonemize(entry["text"], glides=True)
                tokens = tokenizer.encode(phonemes, add_end=True)
            except (DataError, TextError) as e:
                raise DataError(f"{where}: {e}") from None
            durations = entry.get("durations")
            if durations is not None and len(durations) != len(tokens):
                raise DataError(f"{where}: {len(durations)} durations for {len(tokens)} tokens "
                                "(phonemes + end); give one per phoneme and one for the end")
            self.tokens.append(torch.tensor(tokens))
            self.frames.append(None if durations is None else torch.tensor(durations))

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        wav, _ = load_audio(self.entries[i]["audio_filepath"], self.sample_rate)
        item = {"tokens": self.tokens[i]}
        if self.frames[i] is not None:
            item["durations"] = self.frames[i]
            samples = int(self.frames[i].sum()) * self.hop
            wav = np.pad(wav[:samples], (0, max(0, samples - len(wav))))
        item["audio"] = torch.from_numpy(np.pad(wav, self.pad))
        return item
