"""The optimiser every task trains with: AdamW, linear warm-up, then exponential annealing."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from speechzoo.errors import ConfigError


def check_anneal(anneal_steps: int | None) -> None:
    if anneal_steps is not None and anneal_steps <= 0:
        raise ConfigError(f"anneal_steps must be positive, got {anneal_steps}")


def adamw_warmup_anneal(module: nn.Module, lr: float, weight_decay: float, warmup_steps: int,
                        anneal: float, anneal_steps: int | None, epoch: Callable[[], int]) -> dict:
    """Lightning's ``configure_optimizers`` answer: AdamW whose rate rises linearly over
    ``warmup_steps``, then is divided by ``anneal`` every epoch (``epoch()``), or every
    ``anneal_steps`` steps, smoothly, when given."""
    opt = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=weight_decay)
    warmup = max(1, warmup_steps)

    def factor(step: int) -> float:
        periods = epoch() if anneal_steps is None else step / anneal_steps
        return min(1.0, (step + 1) / warmup) * anneal ** -periods

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
