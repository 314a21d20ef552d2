"""Pruning during training, as callbacks any recipe switches on: dense-sparse-dense training
(DSD, Han et al., arXiv 1607.04381) and gradual pruning of recurrent networks (Narang et al.,
arXiv 1704.05119; or the cubic schedule of Zhu and Gupta, arXiv 1710.01878).

Both hold one boolean mask per pruned matrix (``speechzoo.training.sparsity``) and enforce it
in place: the masked weights' gradients are zeroed before each optimiser step and the weights
themselves after it, on the module's parameter and, under
``speechzoo.tasks.precision.MasterWeightsPrecision``, on its FP32 master copy, which is what
the optimiser updates. Masks are part of the callback's state, so they are saved in every
checkpoint and restored on resume; zeros in the weights are what a bundle keeps, so an
exported model is permanently pruned and loads like any other.

In a recipe::

    trainer:
      callbacks:
        - class_path: speechzoo.tasks.pruning.GradualPruning
          init_args: {start: 0, ramp: 400, end: 800, recurrent_sparsity: 0.9}
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor, nn

from speechzoo.errors import ConfigError
from speechzoo.training.sparsity import (
    cubic_sparsity,
    magnitude_mask,
    narang_theta,
    narang_threshold,
    prunable,
    quantile_of_magnitude,
    threshold_mask,
)

GROUPS = ("recurrent", "feedforward")


def group_of(name: str) -> str:
    """Recurrent matrices (U of h_{t-1}) and every other matrix take separate settings, as in
    Narang et al. (section 3: "different thresholds for recurrent and linear layers")."""
    return "recurrent" if name.rsplit(".", 1)[-1] == "recurrent" else "feedforward"


class _Pruning(Callback):
    """Mask bookkeeping shared by DSD and GradualPruning.

    Args:
        skip: parameter-name prefixes left dense (e.g. ``["acoustic.convs."]``).
        min_size: matrices with fewer entries stay dense (norm scales, biases always do).
    """

    def __init__(self, skip: Sequence[str] = (), min_size: int = 1024) -> None:
        self.skip, self.min_size = tuple(skip), min_size
        self.masks: dict[str, Tensor] = {}
        self._stats: tuple[dict | None, dict[str, float]] = (None, {})  # (masks, _sparsities)

    # --- which tensors -----------------------------------------------------------------

    def _params(self, module: nn.Module) -> dict[str, nn.Parameter]:
        return {n: p for n, p in prunable(module, min_size=self.min_size).items()
                if not n.startswith(self.skip)}

    @staticmethod
    def _copies(trainer: L.Trainer, param: nn.Parameter) -> Iterator[Tensor]:
        """The parameter and, under master-weights FP16, the FP32 copy the optimiser holds."""
        yield param
        master_of = getattr(trainer.precision_plugin, "master_of", None)
        master = master_of(param) if master_of is not None else None
        if master is not None:
            yield master

    @staticmethod
    def _weights(trainer: L.Trainer, param: nn.Parameter) -> Tensor:
        """What masks are computed from: the FP32 master when there is one."""
        return list(_Pruning._copies(trainer, param))[-1]

    # --- enforcing -----------------------------------------------------------------------

    @torch.no_grad()
    def _enforce(self, trainer: L.Trainer, module: nn.Module, grads: bool = False) -> None:
        params = self._params(module)
        for name, mask in self.masks.items():
            for t in self._copies(trainer, params[name]):
                target = t.grad if grads else t
                if target is not None:
                    target.mul_(mask.to(target.device))

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule,
                                 optimizer: torch.optim.Optimizer) -> None:
        self._enforce(trainer, pl_module, grads=True)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        self._enforce(trainer, pl_module)
        self._log(pl_module)  # every step: Lightning's logs repeat a value until it is logged again

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        unknown = set(self.masks) - set(self._params(pl_module))
        if unknown:
            raise ConfigError(f"{type(self).__name__}: the checkpoint's masks name parameters "
                              f"this model lacks ({sorted(unknown)[:3]}...); resume a run of "
                              "the same model, or start a new one")
        self._enforce(trainer, pl_module)  # a resumed run starts from masked weights

    # --- changing the masks ----------------------------------------------------------------

    def _set_masks(self, trainer: L.Trainer, pl_module: L.LightningModule,
                   masks: dict[str, Tensor]) -> None:
        self.masks = {n: m.cpu() for n, m in masks.items()}
        self._enforce(trainer, pl_module)

    def _log(self, pl_module: L.LightningModule) -> None:
        if self._stats[0] is not self.masks:  # the masks are a new dict whenever they change
            self._stats = (self.masks, self._sparsities(pl_module))
        for key, value in self._stats[1].items():
            pl_module.log(key, value, on_step=True, prog_bar=not key.startswith("sparsity/layer"))

    def _sparsities(self, pl_module: L.LightningModule) -> dict[str, float]:
        """Logged values: per pruned matrix and per group (0 while a group has no masks)."""
        out, totals = {}, {g: [0, 0] for g in GROUPS}
        for name in self._params(pl_module):
            mask = self.masks.get(name)
            zeros = 0 if mask is None else mask.numel() - int(mask.count_nonzero())
            totals[group_of(name)][0] += zeros
            totals[group_of(name)][1] += 0 if mask is None else mask.numel()
            out[f"sparsity/layer/{name}"] = 0.0 if mask is None else zeros / mask.numel()
        for group, (zeros, size) in totals.items():
            out[f"sparsity/{group}"] = zeros / max(1, size)
        return out

    @torch.no_grad()
    def _reset_optimizer_state(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Zero the optimiser's moments of the masked weights: released weights restart
        from zero, not from the momentum they gathered before they were pruned."""
        params = self._params(pl_module)
        for optimizer in trainer.optimizers:
            for name, mask in self.masks.items():
                for t in self._copies(trainer, params[name]):
                    for value in optimizer.state.get(t, {}).values():
                        if torch.is_tensor(value) and value.shape == mask.shape:
                            value.mul_(mask.to(value.device))

    def state_dict(self) -> dict[str, Any]:
        return {"masks": dict(self.masks)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.masks = {n: m.bool() for n, m in state_dict["masks"].items()}


def _check_steps(**steps: int) -> None:
    values = list(steps.values())
    if any(v < 0 for v in values) or values != sorted(values):
        shown = ", ".join(f"{k}={v}" for k, v in steps.items())
        raise ConfigError(f"pruning steps must be non-negative and in order, got {shown}")


class DSD(_Pruning):
    """Dense-sparse-dense training (Han et al., arXiv 1607.04381, Algorithm 1).

    Dense until ``sparse_start``; there each matrix keeps its largest-magnitude
    ``1 - sparsity`` weights (per layer) and trains under that mask; at ``dense_start`` the
    masks are released, the pruned weights restart from zero (their optimiser moments too)
    and the learning rate is multiplied by ``redense_lr_scale`` (the paper retrains the
    re-dense network at a lower learning rate, section 2).

    Args:
        sparse_start, dense_start: phase boundaries, in ``unit``.
        unit: ``"steps"`` (optimiser steps) or ``"epochs"``.
        sparsity: fraction pruned in the sparse phase; ``recurrent_sparsity`` overrides it
            for recurrent matrices. The paper used 25% for Deep Speech 2 and 50% for Deep
            Speech (Table 1).
    """

    def __init__(self, sparse_start: int, dense_start: int, unit: str = "steps",
                 sparsity: float = 0.25, recurrent_sparsity: float | None = None,
                 redense_lr_scale: float = 0.1, skip: Sequence[str] = (),
                 min_size: int = 1024) -> None:
        super().__init__(skip, min_size)
        if unit not in ("steps", "epochs"):
            raise ConfigError(f"DSD unit must be 'steps' or 'epochs', got {unit!r}")
        _check_steps(sparse_start=sparse_start, dense_start=dense_start)
        for s in (sparsity, recurrent_sparsity):
            if s is not None and not 0.0 <= s < 1.0:
                raise ConfigError(f"DSD sparsity must be in [0, 1), got {s}")
        if redense_lr_scale <= 0:
            raise ConfigError(f"redense_lr_scale must be positive, got {redense_lr_scale}")
        self.sparse_start, self.dense_start, self.unit = sparse_start, dense_start, unit
        recurrent = sparsity if recurrent_sparsity is None else recurrent_sparsity
        self.sparsity = {"feedforward": sparsity, "recurrent": recurrent}
        self.redense_lr_scale = redense_lr_scale
        self.released = False

    def _position(self, trainer: L.Trainer) -> int:
        return trainer.global_step if self.unit == "steps" else trainer.current_epoch

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule,
                             batch: Any, batch_idx: int) -> None:
        at = self._position(trainer)
        if self.released or at < self.sparse_start:
            return
        if at >= self.dense_start:
            if self.masks:
                self._release(trainer, pl_module)
        elif not self.masks:
            self._set_masks(trainer, pl_module, {
                n: magnitude_mask(self._weights(trainer, p), self.sparsity[group_of(n)])
                for n, p in self._params(pl_module).items()})

    def _release(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._reset_optimizer_state(trainer, pl_module)
        self.masks, self.released = {}, True
        for config in trainer.lr_scheduler_configs:
            sched = config.scheduler
            if hasattr(sched, "base_lrs"):  # schedulers recompute lr from these
                sched.base_lrs = [lr * self.redense_lr_scale for lr in sched.base_lrs]
        for optimizer in trainer.optimizers:
            for group in optimizer.param_groups:
                group["lr"] *= self.redense_lr_scale

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "released": self.released}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.released = bool(state_dict["released"])


class GradualPruning(_Pruning):
    """Prune while training, to a final sparsity (Narang et al., arXiv 1704.05119).

    Every ``freq`` optimiser steps from ``start`` to ``end`` the masks are recomputed; a
    pruned weight stays pruned.

    * ``schedule="narang"``: a weight is pruned when its magnitude falls below the threshold
      epsilon, which rises linearly with slope theta from ``start`` to ``ramp`` and 1.5 theta
      from ``ramp`` to ``end`` (section 3, Table 1). Per layer, theta comes from q, the
      ``sparsity`` quantile of the layer's weight magnitudes at ``start`` (section 3.2; the
      paper's q is the 90th percentile), or is given as ``recurrent_theta`` /
      ``feedforward_theta``. The sparsity reached follows the weights, near the target.
    * ``schedule="cubic"``: the sparsity itself follows s_t = s_f (1 - (1 - p)^3) from
      ``start`` to ``end`` (Zhu and Gupta, eq. 1; ``ramp`` unused), magnitude-pruned per
      layer, so each layer is at exactly the scheduled sparsity at each update.

    Args:
        recurrent_sparsity, feedforward_sparsity: targets for the recurrent matrices and for
            every other pruned matrix (0 leaves that group dense).
    """

    def __init__(self, start: int, end: int, ramp: int | None = None, freq: int = 100,
                 schedule: str = "narang", recurrent_sparsity: float = 0.9,
                 feedforward_sparsity: float = 0.9, recurrent_theta: float | None = None,
                 feedforward_theta: float | None = None, skip: Sequence[str] = (),
                 min_size: int = 1024) -> None:
        super().__init__(skip, min_size)
        if schedule not in ("narang", "cubic"):
            raise ConfigError(f"schedule must be 'narang' or 'cubic', got {schedule!r}")
        ramp = (start + end) // 2 if ramp is None else ramp
        _check_steps(start=start, ramp=ramp, end=end)
        if freq < 1 or end <= start:
            raise ConfigError(f"need freq >= 1 and end > start, got freq={freq}, "
                              f"start={start}, end={end}")
        for s in (recurrent_sparsity, feedforward_sparsity):
            if not 0.0 <= s < 1.0:
                raise ConfigError(f"sparsity targets must be in [0, 1), got {s}")
        self.start, self.ramp, self.end, self.freq = start, ramp, end, freq
        self.schedule = schedule
        self.target = {"recurrent": recurrent_sparsity, "feedforward": feedforward_sparsity}
        self.given_theta = {"recurrent": recurrent_theta, "feedforward": feedforward_theta}
        self.theta: dict[str, float] = {}

    def _due(self, step: int) -> bool:
        return self.start <= step <= self.end and (
            (step - self.start) % self.freq == 0 or step == self.end)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule,
                             batch: Any, batch_idx: int) -> None:
        step = trainer.global_step
        if not self._due(step):
            return
        params = {n: p for n, p in self._params(pl_module).items()
                  if self.target[group_of(n)] > 0}
        masks = {}
        for name, p in params.items():
            w = self._weights(trainer, p)
            new = self._mask(name, w, step)
            masks[name] = new.cpu() & self.masks[name] if name in self.masks else new.cpu()
        self._set_masks(trainer, pl_module, masks)

    def _mask(self, name: str, weight: Tensor, step: int) -> Tensor:
        group = group_of(name)
        if self.schedule == "cubic":
            return magnitude_mask(weight, cubic_sparsity(step, self.target[group],
                                                         self.start, self.end))
        if name not in self.theta:
            given = self.given_theta[group]
            q = quantile_of_magnitude(weight, self.target[group])
            self.theta[name] = given if given is not None else narang_theta(
                q, self.start, self.ramp, self.end, self.freq)
        eps = narang_threshold(step, self.theta[name], self.start, self.ramp, self.end,
                               self.freq)
        return threshold_mask(weight, eps)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "theta": dict(self.theta)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.theta = dict(state_dict["theta"])
