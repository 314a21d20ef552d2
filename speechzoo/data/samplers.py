"""Batch samplers ordered by utterance duration.

SortaGrad (Deep Speech 2, section 3.1): the first epoch presents minibatches in increasing
order of duration; later epochs shuffle duration buckets, so each batch still holds
utterances of similar length (little padding) but the batch order is random.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import torch.distributed as dist


class SortaGradBatchSampler:
    """Yields lists of dataset indices.

    Args:
        durations: seconds of each utterance.
        batch_size: utterances per batch.
        sorted_epochs: how many leading epochs are sorted by duration (the paper: 1).
        shuffle: shuffle bucket order after the sorted epochs (False: keep sorting).
        seed: base of the per-epoch shuffling.
        drop_last: drop a last, smaller batch.

    Under ``torch.distributed`` each rank takes every world-size-th batch. When shuffling
    (training) the batch count is trimmed so all ranks run the same number of steps; when not
    (evaluation) nothing is dropped.
    """

    def __init__(self, durations: Sequence[float], batch_size: int, sorted_epochs: int = 1,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.durations = list(durations)
        self.batch_size, self.sorted_epochs = batch_size, sorted_epochs
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.epoch = 0
        self.skip = 0  # batches the next pass leaves out (set by start_at)

    @property
    def sampler(self) -> SortaGradBatchSampler:
        # Lightning calls set_epoch on a loader's `sampler` and `batch_sampler.sampler`, never
        # on the batch sampler itself; without this every epoch would repeat epoch 0's order.
        return self

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at the start of every epoch."""
        if epoch != self.epoch:
            # A checkpoint written at an epoch's last batch resumes into the next epoch: the
            # batches to skip belonged to the finished one.
            self.skip = 0
        self.epoch = epoch

    def start_at(self, epoch: int, batches_done: int) -> None:
        """Make the next pass run ``epoch`` without its first ``batches_done`` batches, to resume
        an interrupted epoch in the order it had."""
        self.epoch, self.skip = epoch, batches_done

    @staticmethod
    def _rank_world() -> tuple[int, int]:
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1

    def _batches(self) -> list[list[int]]:
        n = len(self.durations)
        if self.epoch < self.sorted_epochs or not self.shuffle:
            order = sorted(range(n), key=lambda i: (self.durations[i], i))
            rng = None
        else:
            rng = random.Random(self.seed * 100003 + self.epoch)
            # Jitter durations by up to 10% so bucket membership changes between epochs.
            keys = [d * rng.uniform(0.9, 1.1) for d in self.durations]
            order = sorted(range(n), key=lambda i: keys[i])
        batches = [order[i:i + self.batch_size] for i in range(0, n, self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if rng is not None:
            rng.shuffle(batches)
        return batches

    def _shard(self) -> list[list[int]]:
        rank, world = self._rank_world()
        batches = self._batches()
        usable = len(batches) - len(batches) % world if self.shuffle else len(batches)
        return batches[rank:usable:world]

    def __iter__(self) -> Iterator[list[int]]:
        skip, self.skip = self.skip, 0
        yield from self._shard()[skip:]

    def __len__(self) -> int:
        return len(self._shard())
