"""Running a recipe in a test: LightningCLI overrides that point it at a tiny corpus and a
temporary run folder, and the metrics it logged."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch


def recipe_overrides(corpus: Path, run_dir: Path, steps: int, *extra: str) -> list[str]:
    """Overrides for ``make_cli``: train ``steps`` steps on ``corpus``, log under ``run_dir``
    (``logs/version_*/``) and keep ``run_dir/ckpt/last.ckpt``; ``extra`` overrides follow."""
    return ["--data.init_args.root", str(corpus), "--trainer.max_steps", str(steps),
            "--trainer.logger.init_args.save_dir", str(run_dir),
            "--trainer.callbacks", "lightning.pytorch.callbacks.ModelCheckpoint",
            "--trainer.callbacks.dirpath", str(run_dir / "ckpt"),
            "--trainer.callbacks.save_last", "true", "--trainer.enable_progress_bar", "false",
            *extra]


def metric_column(run_dir: Path, key: str) -> list[float]:
    """Every value of metric ``key`` in the run's one CSV log, in order."""
    (metrics,) = run_dir.glob("logs/version_*/metrics.csv")
    return [float(r[key]) for r in csv.DictReader(metrics.open()) if r.get(key)]


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch on ``n`` intra-op threads, then restore the count. Tiny debug networks gain
    nothing from a second thread, only its synchronisation per op: WaveNet's sample-by-sample
    generation ran about 15 times slower on two threads of a busy two-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
