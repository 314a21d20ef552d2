"""LightningDataModule over manifests, or over an embedded corpus generated on first use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
from torch.utils.data import DataLoader

from speechzoo.data.corpora import ensure_corpus
from speechzoo.data.manifest import read_manifest
from speechzoo.data.samplers import SortaGradBatchSampler
from speechzoo.data.speech import SpeechDataset, collate_speech
from speechzoo.errors import ConfigError
from speechzoo.text.english import CHARACTERS
from speechzoo.text.tokenizer import CharTokenizer


class _ResumableLoader(DataLoader):
    """A DataLoader over a SortaGrad batch sampler that Lightning can stop and resume in the
    middle of an epoch: Lightning saves ``state_dict()`` in its checkpoints and hands it back
    through ``load_state_dict`` before resuming, and the sampler then skips what was trained.
    """

    batch_sampler: SortaGradBatchSampler

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._served = 0

    def __iter__(self) -> Iterator[Any]:
        # Lightning does not fetch ahead from a loader with a length, so what was served is
        # what was trained on (the resume test checks this).
        self._served = self.batch_sampler.skip
        for batch in super().__iter__():
            self._served += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.batch_sampler.epoch, "batches": self._served}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.batch_sampler.start_at(state["epoch"], state["batches"])


class SpeechDataModule(L.LightningDataModule):
    """Speech + transcripts for ASR.

    Args:
        corpus: an embedded corpus name (``"synth-en"``), generated into ``root`` on first use;
            or None to use the three manifests given.
        root: the corpus folder (default ``$SPEECHZOO_DATA/<corpus>``).
        train_manifest, val_manifest, test_manifest: JSONL manifests (override the corpus').
        alphabet: transcript characters (must match the task's).
        sample_rate: audio is resampled to this rate (must match the model's).
        batch_size: utterances per batch.
        sorted_epochs: SortaGrad: epochs presented shortest first.
        max_duration: training utterances longer than this (seconds) are left out.
        num_workers: loader processes.
    """

    def __init__(self, corpus: str | None = "synth-en", root: str | None = None,
                 train_manifest: str | None = None, val_manifest: str | None = None,
                 test_manifest: str | None = None, alphabet: str = CHARACTERS,
                 sample_rate: int = 16000, batch_size: int = 32, sorted_epochs: int = 1,
                 max_duration: float | None = 16.0, num_workers: int = 1) -> None:
        super().__init__()
        if corpus is None and train_manifest is None and test_manifest is None:
            raise ConfigError("data: give `corpus` (e.g. synth-en) or the manifests "
                              "(`train_manifest`, `val_manifest`, `test_manifest`)")
        self.corpus, self.root = corpus, root
        self.manifests = {"train": train_manifest, "dev": val_manifest, "test": test_manifest}
        self.tokenizer = CharTokenizer(alphabet)
        self.sample_rate, self.batch_size = sample_rate, batch_size
        self.sorted_epochs, self.max_duration = sorted_epochs, max_duration
        self.num_workers = num_workers
        self.datasets: dict[str, SpeechDataset] = {}

    def prepare_data(self) -> None:
        if self.corpus is not None:
            ensure_corpus(self.corpus, self.root)

    def _manifest(self, split: str) -> Path:
        if self.manifests[split] is not None:
            return Path(self.manifests[split])
        if self.corpus is None:
            key = {"dev": "val", "train": "train", "test": "test"}[split]
            raise ConfigError(f"data: no manifest for the {split} split; set `{key}_manifest`")
        return ensure_corpus(self.corpus, self.root) / f"{split}.jsonl"

    def _dataset(self, split: str) -> SpeechDataset:
        if split not in self.datasets:
            path = self._manifest(split)
            self.datasets[split] = SpeechDataset(
                read_manifest(path), self.tokenizer, self.sample_rate,
                self.max_duration if split == "train" else None, source=str(path))
        return self.datasets[split]

    def _loader(self, split: str) -> _ResumableLoader:
        data = self._dataset(split)
        train = split == "train"
        sampler = SortaGradBatchSampler(data.durations, self.batch_size,
                                        self.sorted_epochs if train else 0, shuffle=train)
        return _ResumableLoader(data, batch_sampler=sampler, collate_fn=collate_speech,
                                num_workers=self.num_workers,
                                persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        loader = self._loader("train")
        if self.trainer is not None:
            # Lightning starts iterating before its first set_epoch call, so a run resumed
            # from a checkpoint would otherwise take the batch order of epoch 0.
            loader.batch_sampler.set_epoch(self.trainer.fit_loop.epoch_progress.current.processed)
        return loader

    def val_dataloader(self) -> DataLoader:
        return self._loader("dev")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")
