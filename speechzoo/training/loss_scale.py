"""Loss scaling for FP16 training (Micikevicius et al., "Mixed Precision Training", arXiv
1710.03740, section 3.2).

Many activation gradients are smaller than FP16's smallest subnormal (2^-24) and would flush
to zero. Multiplying the loss by a factor S before the backward pass shifts every gradient up
by S (the chain rule is linear), into FP16's range; the weight gradients are divided by S in
FP32 before the update, so the learning rate needs no change. Too large an S overflows: the
section detects that on the weight gradients (any inf or NaN) and skips that step's update.

The scale is either static (one chosen S) or dynamic: start high, halve it (``backoff_factor``)
on every overflow and double it (``growth_factor``) after ``growth_interval`` steps in a row
without one. The paper's experiments used a constant factor chosen per network; the dynamic
schedule is the one ``torch.amp.GradScaler`` (and NVIDIA's later tools) apply, with its
defaults for the first four settings. Either way, steps with overflowing gradients are skipped
and counted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from speechzoo.errors import ConfigError


def _check(init_scale: float, growth_factor: float, backoff_factor: float,
           growth_interval: int, min_scale: float, max_scale: float, dynamic: bool) -> None:
    if not (math.isfinite(init_scale) and init_scale > 0):
        raise ConfigError(f"the loss scale must be a positive number, got {init_scale}")
    if not dynamic:
        return
    if not growth_factor > 1:
        raise ConfigError(f"growth_factor must be above 1, got {growth_factor}")
    if not 0 < backoff_factor < 1:
        raise ConfigError(f"backoff_factor must be in (0, 1), got {backoff_factor}")
    if growth_interval < 1:
        raise ConfigError(f"growth_interval must be at least 1 step, got {growth_interval}")
    if not 0 < min_scale <= init_scale <= max_scale:
        raise ConfigError(f"a dynamic loss scale needs 0 < min_scale <= init_scale <= "
                          f"max_scale, got {min_scale}, {init_scale}, {max_scale}")


class LossScaler:
    """Scales the loss, unscales the gradients in FP32, and schedules the scale.

    Args:
        init_scale: the scale S of the first step (the static scale when not ``dynamic``).
        dynamic: adapt S to overflows (see the module docstring); otherwise S never changes.
        growth_factor: S is multiplied by this after ``growth_interval`` finite steps in a row.
        backoff_factor: S is multiplied by this on each overflow.
        growth_interval: finite steps in a row before S grows.
        min_scale, max_scale: bounds of a dynamic S.

    Attributes:
        value: the current scale S.
        skipped: steps skipped for overflowing gradients, since the start of training.
        good_steps: finite steps since S last changed (or since the last overflow).
    """

    def __init__(self, init_scale: float = 2.0**16, dynamic: bool = True,
                 growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, min_scale: float = 1.0,
                 max_scale: float = 2.0**24) -> None:
        _check(init_scale, growth_factor, backoff_factor, growth_interval, min_scale,
               max_scale, dynamic)
        self.dynamic = dynamic
        self.growth_factor, self.backoff_factor = growth_factor, backoff_factor
        self.growth_interval = growth_interval
        self.min_scale, self.max_scale = min_scale, max_scale
        self.value = float(init_scale)
        self.skipped = 0
        self.good_steps = 0

    def scale(self, loss: Tensor) -> Tensor:
        """``loss * S``: what the backward pass starts from."""
        return loss * self.value

    def unscale(self, grads: Sequence[Tensor]) -> tuple[list[Tensor], Tensor]:
        """FP32 copies of scaled gradients divided by S, and their total L2 norm.

        The norm is a 0-d FP32 tensor, inf or NaN when any gradient overflowed: one reduction
        gives both the figure to log and the overflow check of section 3.2. The inputs are
        left as they are.
        """
        unscaled = [g.to(torch.float32, copy=True).div_(self.value) for g in grads]
        if not unscaled:
            return unscaled, torch.zeros(())
        return unscaled, torch.nn.utils.get_total_norm(unscaled)

    def update(self, finite: bool) -> None:
        """After a step: count an overflow (the caller skipped the update) and, if dynamic,
        back off on it or grow after ``growth_interval`` finite steps."""
        if not finite:
            self.skipped += 1
            self.good_steps = 0
            if self.dynamic:
                self.value = max(self.value * self.backoff_factor, self.min_scale)
            return
        self.good_steps += 1
        if self.dynamic and self.good_steps >= self.growth_interval:
            self.value = min(self.value * self.growth_factor, self.max_scale)
            self.good_steps = 0

    def state_dict(self) -> dict[str, Any]:
        return {"value": self.value, "skipped": self.skipped, "good_steps": self.good_steps,
                "dynamic": self.dynamic}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the counters, and the scale of a dynamic scaler saved as dynamic; a static
        scaler keeps its configured S, so a resumed run can be given another one."""
        self.skipped = int(state["skipped"])
        self.good_steps = int(state["good_steps"])
        if self.dynamic and state.get("dynamic", True):
            self.value = float(state["value"])
