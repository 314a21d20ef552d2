"""The LightningDataModule of every task: manifests -> the task's dataset -> batches."""

from __future__ import annotations

import functools
import os
import random
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import lightning as L
from torch.utils.data import DataLoader, Dataset

from speechzoo.data.collate import collate
from speechzoo.data.corpora import data_root, ensure_corpus
from speechzoo.data.manifest import read_manifest
from speechzoo.data.samplers import SortaGradBatchSampler
from speechzoo.errors import ConfigError, DataError

# (manifest entries, where they came from) -> a dataset with a ``durations`` list
MakeDataset = Callable[[list[dict[str, Any]], str], Dataset]


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


class ManifestDataModule(L.LightningDataModule):
    """Manifests, or an embedded corpus generated on first use, for any task.

    The task chooses the dataset: in its ``setup`` it calls :meth:`bind` with a function that
    turns manifest entries into its dataset (with its own tokenizer and sample rate, so the
    data can never disagree with the model) and the manifest fields it needs. Batches hold
    utterances of similar duration (:class:`SortaGradBatchSampler`: SortaGrad optional,
    sharded across ranks, resumable mid-epoch) and are padded field by field
    (:func:`speechzoo.data.collate.collate`).

    Args:
        corpus: an embedded corpus name (``"synth-en"``), generated into ``root`` on first use;
            or None to use the three manifests given.
        root: the corpus folder (default ``$SPEECHZOO_DATA/<corpus>``).
        train_manifest, val_manifest, test_manifest: JSONL manifests (override the corpus').
        batch_size: utterances per batch.
        sorted_epochs: SortaGrad: this many leading epochs run shortest first (0: none).
        max_duration: training utterances longer than this (seconds) are left out.
        num_workers: loader processes.
        sources: a mixture of corpora instead of one: each a ``{name, weight}`` with
            ``corpus`` (an embedded corpus, generated on first use, in ``root`` or the data
            folder) or ``root`` (a prepared folder of ``train|dev|test.jsonl``;
            ``$SPEECHZOO_DATA/an4`` names one in the data folder). Each epoch
            hears a source's training utterances ``weight`` times over (the fraction of a
            weight is a fixed share of them, drawn from the source's name). Validation and
            test run on every source's own dev and test split (those it has); the first
            source's are logged as ``val/wer``, the others' as ``val/NAME/wer``.
    """

    def __init__(self, corpus: str | None = "synth-en", root: str | None = None,
                 train_manifest: str | None = None, val_manifest: str | None = None,
                 test_manifest: str | None = None, batch_size: int = 32, sorted_epochs: int = 1,
                 max_duration: float | None = 16.0, num_workers: int = 1,
                 sources: Sequence[dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.sources = [_check_source(s) for s in sources or ()]
        if self.sources:
            corpus = None
        elif corpus is None and train_manifest is None and test_manifest is None:
            raise ConfigError("data: give `corpus` (e.g. synth-en) or the manifests "
                              "(`train_manifest`, `val_manifest`, `test_manifest`)")
        if batch_size < 1:
            raise ConfigError(f"data.batch_size must be positive, got {batch_size}")
        self.corpus, self.root = corpus, root
        self.manifests = {"train": train_manifest, "dev": val_manifest, "test": test_manifest}
        self.batch_size, self.sorted_epochs = batch_size, sorted_epochs
        self.max_duration, self.num_workers = max_duration, num_workers
        self.datasets: dict[str, Dataset] = {}
        self._make: MakeDataset | None = None
        self._required: Sequence[str] = ()

    def bind(self, make_dataset: MakeDataset, required: Sequence[str]) -> None:
        """Use ``make_dataset(entries, source)`` to build each split's dataset from manifest
        entries that have every field in ``required``."""
        self._make, self._required = make_dataset, tuple(required)
        self.datasets.clear()

    def prepare_data(self) -> None:
        if self.corpus is not None:
            ensure_corpus(self.corpus, self.root)
        for source in self.sources:
            _source_folder(source)

    @property
    def eval_names(self) -> list[str]:
        """The dev/test sets, in the order of the validation loaders (one without sources)."""
        return [s["name"] for s in self.sources
                if (_source_folder(s) / "dev.jsonl").is_file()] or ["dev"]

    def _manifest(self, split: str) -> Path:
        if self.manifests[split] is not None:
            return Path(self.manifests[split])
        if self.corpus is None:
            key = {"dev": "val", "train": "train", "test": "test"}[split]
            raise ConfigError(f"data: no manifest for the {split} split; set `{key}_manifest`")
        return ensure_corpus(self.corpus, self.root) / f"{split}.jsonl"

    def dataset(self, split: str) -> Dataset:
        """The dataset of ``split`` (``train``, ``dev`` or ``test``), built on first use."""
        if self._make is None:
            raise ConfigError("data: no task has bound a dataset to this data module; it serves "
                              "speechzoo's tasks (or call bind() yourself)")
        if split not in self.datasets:
            if self.sources:
                path, entries = self._source_entries(split)
            else:
                path = self._manifest(split)
                entries = read_manifest(path, self._required)
            if split == "train" and self.max_duration is not None:
                entries = [e for e in entries if float(e["duration"]) <= self.max_duration]
                if not entries:
                    raise DataError(f"{path}: no utterance is at most max_duration="
                                    f"{self.max_duration} s long; raise data.max_duration")
            self.datasets[split] = self._make(entries, str(path))
        return self.datasets[split]

    def _source_entries(self, split: str) -> tuple[Path, list[dict[str, Any]]]:
        """``split`` = "train": every source's training entries, weighted; "dev:NAME" or
        "test:NAME": that source's own split."""
        if split != "train":
            split, name = split.split(":")
            source = next(s for s in self.sources if s["name"] == name)
            path = _source_folder(source) / f"{split}.jsonl"
            return path, read_manifest(path, self._required)
        mixed = []
        for source in self.sources:
            path = _source_folder(source) / "train.jsonl"
            entries = read_manifest(path, self._required)
            whole, fraction = divmod(float(source["weight"]), 1.0)
            share = random.Random(source["name"]).sample(entries, round(fraction * len(entries)))
            mixed += entries * int(whole) + share
        if not mixed:
            raise DataError("data.sources: every weight is 0, so there is nothing to train on")
        return Path("+".join(s["name"] for s in self.sources)), mixed

    def _eval_loaders(self, split: str) -> DataLoader | list[DataLoader]:
        if not self.sources:
            return self._loader(split)
        return [self._loader(f"{split}:{s['name']}") for s in self.sources
                if (_source_folder(s) / f"{split}.jsonl").is_file()]

    def _loader(self, split: str) -> _ResumableLoader:
        data = self.dataset(split)
        train = split == "train"
        sampler = SortaGradBatchSampler(data.durations, self.batch_size,
                                        self.sorted_epochs if train else 0, shuffle=train)
        collate_fn = functools.partial(collate, pad_values=getattr(data, "pad_values", None))
        return _ResumableLoader(data, batch_sampler=sampler, collate_fn=collate_fn,
                                num_workers=self.num_workers,
                                persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        loader = self._loader("train")
        if self.trainer is not None:
            # Lightning starts iterating before its first set_epoch call, so a run resumed
            # from a checkpoint would otherwise take the batch order of epoch 0.
            loader.batch_sampler.set_epoch(self.trainer.fit_loop.epoch_progress.current.processed)
        return loader

    def val_dataloader(self) -> DataLoader | list[DataLoader]:
        return self._eval_loaders("dev")

    def test_dataloader(self) -> DataLoader | list[DataLoader]:
        return self._eval_loaders("test")


def _check_source(source: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(source, dict) or "name" not in source or \
            not ("corpus" in source or "root" in source):
        raise ConfigError(f"data.sources: each source is {{name, weight}} with `corpus` (an "
                          f"embedded corpus) or `root` (a prepared folder), or both (the "
                          f"corpus generated there); got {source}")
    weight = source.get("weight", 1.0)
    if not isinstance(weight, (int, float)) or weight < 0:
        raise ConfigError(f"data.sources: {source['name']}'s weight must be a number >= 0, "
                          f"got {weight!r}")
    return {**source, "weight": float(weight)}


def _source_folder(source: dict[str, Any]) -> Path:
    if "corpus" in source:
        return ensure_corpus(source["corpus"], source.get("root"))
    # $SPEECHZOO_DATA in a root means the data folder even where the variable is unset
    root = str(source["root"]).replace("$SPEECHZOO_DATA", str(data_root()))
    folder = Path(os.path.expandvars(root)).expanduser()
    if not (folder / "train.jsonl").is_file():
        raise DataError(f"data.sources: {source['name']}'s root {folder} has no train.jsonl; "
                        "prepare it first (e.g. `speechzoo prepare an4 DIR --out FOLDER`)")
    return folder


def bind_dataset(trainer: Any, make_dataset: MakeDataset, required: Sequence[str]) -> None:
    """A task's ``setup``: give the trainer's data module (if it is speechzoo's, which builds
    each split through ``bind``) the task's dataset maker and the manifest fields it needs."""
    dm = getattr(trainer, "datamodule", None)
    if hasattr(dm, "bind"):
        dm.bind(make_dataset, required)
