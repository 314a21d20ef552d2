"""Callbacks that ``speechzoo train`` gives every run (speechzoo.tasks.recipes adds them when a
recipe does not list them): a resumable ``last.ckpt`` when training is interrupted and every
few minutes, and a progress bar that keeps its total and ETA after a resume."""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_warn

from speechzoo.errors import ConfigError
from speechzoo.files import atomic_path


class StopRequested(KeyboardInterrupt):
    """Ctrl-C, raised at the end of the training step it arrived in."""


def _last_writer(trainer: L.Trainer) -> tuple[ModelCheckpoint | None, Path | None]:
    """The ModelCheckpoint that writes the run's last checkpoint, and that file (the one
    ``--ckpt_path last`` finds); else the first ModelCheckpoint's folder; else nothing."""
    ckpts = [cb for cb in trainer.checkpoint_callbacks if isinstance(cb, ModelCheckpoint)]
    for cb in ckpts:
        if cb.save_last:
            return cb, Path(cb.format_checkpoint_name({}, cb.CHECKPOINT_NAME_LAST))
    for cb in ckpts:
        path = Path(cb.format_checkpoint_name({}))
        if cb.monitor is None and path.stem == cb.CHECKPOINT_NAME_LAST:
            return cb, path
    if ckpts and ckpts[0].dirpath:
        return None, Path(ckpts[0].dirpath) / f"{ModelCheckpoint.CHECKPOINT_NAME_LAST}.ckpt"
    return None, None


def _owned_path(owner: ModelCheckpoint) -> str:
    # The attribute in which the owner keeps the path of its last file (part of its state).
    return "last_model_path" if owner.save_last else "best_model_path"


def _target(owner: ModelCheckpoint | None, default: Path) -> Path:
    if owner is None:
        return default
    current = getattr(owner, _owned_path(owner))
    if current and Path(current).parent == default.parent:
        return Path(current)  # a resumed run goes on writing the file it wrote
    # A fresh run beside an older run's last.ckpt keeps it, as ModelCheckpoint itself would.
    path, version = default, owner.STARTING_VERSION
    while path.exists() and getattr(owner, "_enable_version_counter", True):
        name = owner.CHECKPOINT_NAME_LAST if owner.save_last else None
        path = Path(owner.format_checkpoint_name({}, name, ver=version))
        version += 1
    return path


class ResumableCheckpoint(Callback):
    """Writes ``last.ckpt`` (a full trainer checkpoint: ``--ckpt_path last`` resumes it exactly,
    also in the middle of an epoch) when training is interrupted and every ``every_minutes``.

    The file is the one the run's ``last`` ModelCheckpoint writes (``save_last: true`` or
    ``filename: last``), which is told about it, so the two take turns on one file. The first
    Ctrl-C stops training at the end of the step in progress (a step cut in half would resume
    one batch off); a second stops at once. SIGTERM (Lightning's handler) also stops at the end
    of a step. Other errors write nothing: the state they leave may be what went wrong.

    Args:
        every_minutes: wall-clock minutes between writes; 0: only on interrupt.
    """

    def __init__(self, every_minutes: float = 10.0) -> None:
        if every_minutes < 0:
            raise ConfigError("ResumableCheckpoint.every_minutes must be 0 (only on interrupt) "
                              f"or more, got {every_minutes}")
        self.every_minutes = every_minutes
        self._owner: ModelCheckpoint | None = None
        self._path: Path | None = None
        self._written = 0.0
        self._start_step = 0
        self._stop = False
        self._handlers: tuple[Any, Any] | None = None

    @property
    def path(self) -> Path | None:
        """Where this run's last checkpoint goes (known from the start of training)."""
        return self._path

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._owner, default = _last_writer(trainer)
        self._path = None if default is None else _target(self._owner, default)
        if self._path is None:
            rank_zero_warn("ResumableCheckpoint: the run has no ModelCheckpoint, so an "
                           "interrupted run is not saved; add one (recipes/ds2.yaml has two)")
        self._start_step, self._written, self._stop = trainer.global_step, time.time(), False
        self._catch_ctrl_c()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        stop, due = self._stop, self._due()
        if trainer.world_size > 1:
            # Rank 0 decides for all, so every process writes or stops at the same step.
            stop, due = trainer.strategy.broadcast((stop, due))
        if stop:
            raise StopRequested  # on_exception writes the checkpoint
        if due:
            self._write(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._release_ctrl_c()

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._release_ctrl_c()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule,
                     exception: BaseException) -> None:
        self._release_ctrl_c()
        if not self._should_write(trainer, exception):
            return
        steps = trainer.fit_loop.epoch_loop.batch_progress.current
        if steps.processed < steps.ready:
            rank_zero_warn("stopped inside a training step: the checkpoint resumes after it, "
                           "without that step's batch (one Ctrl-C waits for the step to end)")
        self._write(trainer)
        if trainer.is_global_zero:
            print(f"\nspeechzoo: stopped at step {trainer.global_step}; wrote {self._path} "
                  "(--ckpt_path last resumes it)", file=sys.stderr)

    def _should_write(self, trainer: L.Trainer, exception: BaseException) -> bool:
        if not isinstance(exception, (KeyboardInterrupt, SIGTERMException)):
            return False
        if trainer.state.fn != TrainerFn.FITTING or self._path is None:
            return False  # not training, or stopped before the first step
        if trainer.world_size > 1 and not isinstance(exception, (StopRequested, SIGTERMException)):
            return False  # the other processes may be elsewhere: a collective save would hang
        return trainer.global_step > self._start_step  # else the file on disk is as new

    def _due(self) -> bool:
        if not self.every_minutes or self._path is None:
            return False
        try:  # the owner rewrites the file at each validation: count from then too
            written = max(self._written, self._path.stat().st_mtime)
        except FileNotFoundError:
            written = self._written
        return time.time() - written >= 60 * self.every_minutes

    def _write(self, trainer: L.Trainer) -> None:
        assert self._path is not None
        owner, key = self._owner, None
        if owner is not None:
            # Set before saving, as ModelCheckpoint does, so the saved state has it: the owner
            # then overwrites this file rather than writing last-v1.ckpt beside it.
            key = _owned_path(owner)
            before = getattr(owner, key)
            setattr(owner, key, str(self._path))
        try:
            if trainer.is_global_zero:
                with atomic_path(self._path) as tmp:
                    trainer.save_checkpoint(tmp)
            else:
                trainer.save_checkpoint(self._path)  # only rank 0 writes; this joins its barrier
        except BaseException:
            if key is not None:
                setattr(owner, key, before)
            raise
        self._written = time.time()

    def _catch_ctrl_c(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGINT)
        if previous is not signal.default_int_handler:
            return  # someone else (a notebook, a debugger) handles Ctrl-C: leave it to them

        def request_stop(signum: int, frame: Any) -> None:
            if self._stop:
                raise KeyboardInterrupt  # the second Ctrl-C
            self._stop = True
            print("\nspeechzoo: stopping after this training step to write a resumable "
                  "checkpoint (Ctrl-C again stops at once)", file=sys.stderr)

        self._handlers = (previous, request_stop)
        signal.signal(signal.SIGINT, request_stop)

    def _release_ctrl_c(self) -> None:
        if self._handlers is None:
            return
        previous, ours = self._handlers
        self._handlers = None
        # Lightning ignores Ctrl-C while it shuts down after an interrupt: leave that be.
        if signal.getsignal(signal.SIGINT) is ours:
            signal.signal(signal.SIGINT, previous)


class ResumableProgressBar(TQDMProgressBar):
    """Lightning's TQDM bar, which after a resume in the middle of an epoch shows neither the
    epoch, the total nor an ETA: Lightning skips ``on_train_epoch_start`` for the epoch it
    resumes into, so the bar keeps its bare start-of-training state (``Training: 3/?``)."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        loop = trainer.fit_loop
        if not (loop.restarted_mid_epoch or loop.restarted_on_epoch_end):
            return
        self.on_train_epoch_start(trainer, pl_module)
        bar = self.train_progress_bar
        done = loop.epoch_loop.batch_progress.current.processed
        epoch = trainer.num_training_batches
        if trainer.max_epochs == -1 and bar.total is not None:
            # step-bounded runs show the steps left; the bar counts from the resumed batch
            bar.total = min(epoch, done + bar.total)
        if bar.total is None or done < bar.total:
            # tqdm's rate (so the ETA) counts from `initial`: only what this run trains
            bar.initial = bar.n = done
            bar.refresh()
