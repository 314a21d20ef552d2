"""FP16 training with FP32 master weights and loss scaling (Micikevicius et al., "Mixed
Precision Training", arXiv 1710.03740), as a Lightning precision plugin.

Lightning's ``16-mixed`` and ``bf16-mixed`` keep FP32 weights and run each operation under
autocast. This plugin follows the paper instead: the model's weights, activations and gradients
are FP16; the optimiser holds and updates an FP32 master copy of every FP16 weight,
which is rounded to FP16 for the next forward pass (section 3.1), since many updates
``lr * gradient`` are too small to change an FP16 weight; the loss is scaled before the
backward pass and the gradients unscaled in FP32, and a step whose gradients overflow is
skipped (section 3.2, ``speechzoo.training.loss_scale``). Any recipe selects it::

    trainer:
      plugins:
        - class_path: speechzoo.tasks.precision.MasterWeightsPrecision
          init_args: {loss_scale: dynamic, growth_interval: 2000}

(Lightning takes a precision plugin or ``trainer.precision``, not both: a recipe that sets
``precision``, as ``recipes/ds2.yaml`` does, also needs ``--trainer.precision null``).
Each optimiser step logs ``precision/loss_scale`` (the scale its backward pass used),
``precision/skipped_steps`` (overflowing steps so far) and ``precision/grad_norm`` (the
unscaled FP32 gradient norm before clipping; inf or NaN on a skipped step).

What stays FP32, and why:

* Normalisation layers (BatchNorm, ``SequenceBatchNorm``, LayerNorm, GroupNorm): their
  statistics are sums over every frame of a batch, the large reductions that section 3.3
  computes in FP32 while reading and writing FP16. Their parameters and running statistics
  are FP32; they take FP16 activations and hand FP16 back.
* Feature front ends (``speechzoo.features.Spectrogram``): quiet frames' power, down to the
  log floor of 1e-10, lies far below FP16's smallest subnormal (6e-8), a loud frame's can
  pass its largest value (65504: a full-scale 20 ms window at 48 kHz reaches 2e5), and the
  per-utterance normalisation is a reduction over every frame. It computes in FP32 from the
  FP32 batch.
* Log-softmax and the losses: ``DeepSpeech2.forward`` casts the logits to FP32 before the
  log-softmax (a reduction over classes, section 3.3) and ``speechzoo.losses.ctc_loss`` runs
  in FP32; the scaled loss, the master weights, the optimiser state, the gradient norm and
  clipping are FP32 too.
* On CPU only, convolutions: torch's CPU FP16 convolution backward is a slow generic path.
  Measured on 1 thread (torch 2.14, a Xeon with AVX512-FP16), the backward pass of the debug
  recipe's 1->4 channel 21x11 convolution over a 4 x 161 x 300 batch took 0.036 s in FP32 and
  0.30 s in FP16; that of ``recipes/ds2.yaml``'s second one (16->16 channels, 21x11, over
  4 x 81 x 150) 0.05 s and 15 s. Matrix products ran as fast in FP16 as in FP32 on that CPU
  (CPUs without native FP16 arithmetic may be slower). On GPU convolutions are FP16.

A module kept FP32 computes in FP32 and returns its input's dtype; a module with FP16
parameters gets its floating-point inputs cast to FP16 (forward pre-hooks). The batch itself
stays FP32. ``keep_fp32`` replaces the list of kept classes, matched by name against each
module's class and its bases (the default: ``DEFAULT_KEEP_FP32``, plus ``CPU_KEEP_FP32`` on
CPU).

Checkpoints: the ``state_dict`` of a checkpoint holds the FP32 master values, so resuming
restores them exactly, and ``speechzoo export`` or ``speechzoo.load`` of the checkpoint reads
the masters (bundles then store FP16, as for any run); the plugin's own entry holds the loss
scaler. (A weights-only checkpoint, which Lightning writes without the precision plugin's
hooks, holds the model's FP16 weights.) After ``fit`` the module holds FP32 weights again:
the masters.

Limits: single-device and DDP runs (DDP averages the FP16 gradients; every rank holds the
same masters), not FSDP or DeepSpeed, which shard parameters themselves. With gradient
accumulation the scaled gradients add up in FP16. Closure-evaluating optimisers (LBFGS) are
not supported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.plugins.precision import Precision
from lightning.pytorch.utilities.rank_zero import rank_zero_warn
from lightning_utilities import apply_to_collection
from torch import Tensor, nn
from torch.optim import LBFGS, Optimizer
from torch.utils.hooks import RemovableHandle

from speechzoo.errors import ConfigError
from speechzoo.training.loss_scale import LossScaler

# Class names (a module's class or any base) kept FP32: see the module docstring.
DEFAULT_KEEP_FP32 = ("_NormBase", "LayerNorm", "GroupNorm", "Spectrogram")
CPU_KEEP_FP32 = ("_ConvNd",)


def _cast(tree: Any, dtype: torch.dtype) -> Any:
    """Floating-point tensors in ``tree`` (nested tuples, lists, dicts) cast to ``dtype``."""
    return apply_to_collection(tree, Tensor,
                               lambda t: t.to(dtype) if t.is_floating_point() else t)


def _float_dtype(tree: Any) -> torch.dtype | None:
    """The dtype of the first floating-point tensor in ``tree``, if any."""
    found: list[torch.dtype] = []
    apply_to_collection(tree, Tensor, lambda t: found.append(t.dtype)
                        if t.is_floating_point() else None)
    return found[0] if found else None


def _cast_inputs(dtype: torch.dtype) -> Callable:
    def hook(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        return _cast(args, dtype), _cast(kwargs, dtype)
    return hook


class _Fp32Island:
    """Hooks that make a kept module compute in FP32 and return its input's dtype. A stack,
    so that a module called inside its own forward pairs each output with its input."""

    def __init__(self) -> None:
        self.dtypes: list[torch.dtype | None] = []

    def before(self, module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        self.dtypes.append(_float_dtype((args, kwargs)))
        return _cast(args, torch.float32), _cast(kwargs, torch.float32)

    def after(self, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
        dtype = self.dtypes.pop()
        return output if dtype is None else _cast(output, dtype)

    def register(self, module: nn.Module) -> list[RemovableHandle]:
        return [module.register_forward_pre_hook(self.before, with_kwargs=True),
                # always_call: an exception inside forward still pops its entry
                module.register_forward_hook(self.after, with_kwargs=True, always_call=True)]


def _matches(module: nn.Module, names: Sequence[str]) -> bool:
    return any(cls.__name__ in names for cls in type(module).__mro__)


def _partition(root: nn.Module, names: Sequence[str]) -> tuple[list[nn.Module],
                                                               list[nn.Module]]:
    """(the outermost modules kept FP32, every other module), each module once; everything
    inside a kept module stays FP32 with it."""
    kept: list[nn.Module] = []
    half: list[nn.Module] = []
    seen: set[int] = set()

    def walk(module: nn.Module) -> None:
        if id(module) in seen:
            return
        seen.add(id(module))
        if module is not root and _matches(module, names):
            kept.append(module)
            return
        half.append(module)
        for child in module.children():
            walk(child)

    walk(root)
    return kept, half


def _device_type(module: nn.Module) -> str:
    """Where the module will train: the trainer's device (Lightning converts the module before
    moving it), else where its parameters are."""
    trainer = getattr(module, "_trainer", None)
    if trainer is not None:
        return trainer.strategy.root_device.type
    param = next(module.parameters(), None)
    return "cpu" if param is None else param.device.type


def _scaler(loss_scale: float | str, init_scale: float, growth_factor: float,
            backoff_factor: float, growth_interval: int, min_scale: float,
            max_scale: float) -> LossScaler:
    if loss_scale == "dynamic":
        return LossScaler(init_scale, True, growth_factor, backoff_factor, growth_interval,
                          min_scale, max_scale)
    if isinstance(loss_scale, bool) or not isinstance(loss_scale, (int, float)):
        raise ConfigError(f"loss_scale must be 'dynamic' or a number (a static scale, e.g. "
                          f"128), got {loss_scale!r}")
    return LossScaler(float(loss_scale), dynamic=False)


class MasterWeightsPrecision(Precision):
    """FP16 weights, activations and gradients; FP32 master weights; loss scaling (see the
    module docstring).

    Args:
        loss_scale: ``"dynamic"``, or a number: a static scale S that never changes.
        init_scale: the first dynamic scale.
        growth_factor, backoff_factor, growth_interval, min_scale, max_scale: the dynamic
            schedule (``speechzoo.training.loss_scale.LossScaler``).
        keep_fp32: class names of the modules kept FP32 (a module's class or any of its
            bases); None: ``DEFAULT_KEEP_FP32``, plus ``CPU_KEEP_FP32`` when training on CPU.
    """

    # What the model holds: FP16 weights (Lightning's model summary then counts 2 bytes each).
    precision = "16-true"

    def __init__(self, loss_scale: float | str = "dynamic", init_scale: float = 2.0**16,
                 growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, min_scale: float = 1.0,
                 max_scale: float = 2.0**24, keep_fp32: list[str] | None = None) -> None:
        self.scaler = _scaler(loss_scale, init_scale, growth_factor, backoff_factor,
                              growth_interval, min_scale, max_scale)
        self.keep_fp32 = None if keep_fp32 is None else tuple(keep_fp32)
        self._masters: dict[nn.Parameter, nn.Parameter] = {}  # model parameter -> master
        self._model_of: dict[nn.Parameter, nn.Parameter] = {}  # master in an optimiser -> param
        self._names: dict[str, nn.Parameter] = {}  # state-dict key -> model parameter
        self._buffers: list[tuple[nn.Module, str, torch.dtype]] = []
        self._hooks: list[RemovableHandle] = []

    def master_of(self, param: nn.Parameter) -> Tensor | None:
        """The FP32 master of a model parameter; None for one without (kept FP32: the
        optimiser updates the parameter itself)."""
        return self._masters.get(param)

    # --- the model: FP16 except what stays FP32 --------------------------------------------

    def convert_module(self, module: nn.Module) -> nn.Module:
        # Lightning loads a checkpoint's weights (the masters, in FP32) into the module before
        # it converts it, so the masters taken here are the exact saved values; strategies
        # that restore after conversion shard the parameters themselves anyway.
        trainer = getattr(module, "_trainer", None)
        if trainer is not None and trainer.strategy.restore_checkpoint_after_setup:
            raise ConfigError("MasterWeightsPrecision runs on single-device and DDP strategies, "
                              f"not {type(trainer.strategy).__name__}; use its own mixed "
                              "precision instead (trainer.precision: 16-mixed)")
        self.teardown()  # a second conversion (a new trainer stage) starts from FP32
        names = self.keep_fp32
        if names is None:
            cpu = _device_type(module) == "cpu"
            names = DEFAULT_KEEP_FP32 + (CPU_KEEP_FP32 if cpu else ())
        else:
            self._warn_unmatched(module, names)
        kept, half = _partition(module, names)
        for m in half:
            self._to_half(m)
        self._names = {n: p for n, p in module.named_parameters(remove_duplicate=False)
                       if p in self._masters}
        for m in half:
            if m is not module and any(p.dtype == torch.float16
                                       for p in m.parameters(recurse=False)):
                self._hooks.append(m.register_forward_pre_hook(_cast_inputs(torch.float16),
                                                               with_kwargs=True))
        for m in kept:
            self._hooks += _Fp32Island().register(m)
        return module

    def _to_half(self, module: nn.Module) -> None:
        """FP16 parameters (each with an FP32 master: the exact value before rounding) and
        floating-point buffers of ``module`` itself."""
        for p in module.parameters(recurse=False):
            if p.is_floating_point() and p not in self._masters:
                self._masters[p] = nn.Parameter(p.detach().float().clone(),
                                                requires_grad=p.requires_grad)
                p.data = p.data.half()  # the same Parameter: optimisers and hooks still see it
                p.grad = None
        for name, buf in module.named_buffers(recurse=False):
            if buf.is_floating_point() and buf.dtype != torch.float16:
                self._buffers.append((module, name, buf.dtype))
                setattr(module, name, buf.half())

    @staticmethod
    def _warn_unmatched(module: nn.Module, names: Sequence[str]) -> None:
        present = {cls.__name__ for m in module.modules() for cls in type(m).__mro__}
        missing = sorted(set(names) - present)
        if missing:
            rank_zero_warn(f"MasterWeightsPrecision keep_fp32 names {missing}, which no module "
                           f"of {type(module).__name__} is or derives from; check the spelling "
                           "(class names, e.g. SequenceBatchNorm)")

    def teardown(self) -> None:
        """Give the module back in FP32: the masters' values, FP32 buffers, no hooks."""
        for hook in self._hooks:
            hook.remove()
        for param, master in self._masters.items():
            param.data = master.detach().to(param.device)
            param.grad = None
        for module, name, dtype in self._buffers:
            setattr(module, name, getattr(module, name).to(dtype))
        self._hooks, self._buffers = [], []
        self._masters, self._model_of, self._names = {}, {}, {}

    # --- the optimiser: FP32 masters -------------------------------------------------------

    def connect(self, model: nn.Module, optimizers: list[Optimizer],
                lr_schedulers: list[Any]) -> tuple[nn.Module, list[Optimizer], list[Any]]:
        # Lightning calls this after convert_module and configure_optimizers, and restores
        # optimiser state afterwards: state_dicts index parameters by position, so the
        # masters that replace the FP16 parameters here take the saved state.
        for param, master in self._masters.items():
            if master.device != param.device:  # converted on CPU, moved with the model since
                master.data = master.data.to(param.device)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            # Every rank starts from rank 0's masters, as DDP starts every rank from rank 0's
            # weights (an unseeded run initialises each rank differently).
            for master in self._masters.values():
                torch.distributed.broadcast(master.data, src=0)
        self._model_of = {}
        for optimizer in optimizers:
            for group in optimizer.param_groups:
                group["params"] = [self._master_for_optimizer(p) for p in group["params"]]
        return model, optimizers, lr_schedulers

    def _master_for_optimizer(self, param: nn.Parameter) -> nn.Parameter:
        master = self._masters.get(param)
        if master is None:
            if param.dtype == torch.float16:
                raise ConfigError("an optimiser holds an FP16 parameter that is not the "
                                  "model's; build optimisers from self.parameters() in "
                                  "configure_optimizers")
            return param  # kept FP32: updated as it is
        self._model_of[master] = param
        return master

    def pre_backward(self, tensor: Tensor, module: pl.LightningModule) -> Tensor:  # type: ignore[override]
        return super().pre_backward(self.scaler.scale(tensor), module)

    def optimizer_step(self, optimizer: Optimizer, model: pl.LightningModule,  # type: ignore[override]
                       closure: Callable[[], Any], **kwargs: Any) -> Any:
        """Backward (the closure), unscale into the masters, clip, step the masters unless the
        gradients overflowed, copy them into the model (as Lightning's MixedPrecision runs
        its GradScaler)."""
        if isinstance(optimizer, LBFGS):
            raise ConfigError("MasterWeightsPrecision cannot run LBFGS, which evaluates the "
                              "loss several times a step; use another optimiser")
        closure_result = closure()
        if closure_result is None and model.automatic_optimization:
            # training_step returned None: no backward ran, so nothing to step
            self._after_closure(model, optimizer)
            return closure_result
        scale = self.scaler.value
        norm = self._unscale_into_masters(optimizer)
        finite = bool(torch.isfinite(norm))
        self._after_closure(model, optimizer)  # on_before_optimizer_step, clipping (masters)
        output = None
        if finite:
            output = optimizer.step(**kwargs)
            self._copy_to_model(optimizer)
        self.scaler.update(finite)
        for master in self.main_params(optimizer):
            if master in self._model_of:
                self._model_of[master].grad = None  # zero_grad sees only the masters
        self._log(model, scale, norm)
        return output

    def _unscale_into_masters(self, optimizer: Optimizer) -> Tensor:
        """Each optimiser parameter's gradient becomes the FP32 unscaled one: a master's from
        its FP16 model parameter, a kept FP32 parameter's from itself. Returns their norm."""
        targets, grads = [], []
        for target in self.main_params(optimizer):
            source = self._model_of.get(target, target)
            if source.grad is None:
                target.grad = None
                continue
            targets.append(target)
            grads.append(source.grad)
        unscaled, norm = self.scaler.unscale(grads)
        for target, grad in zip(targets, unscaled, strict=True):
            target.grad = grad
        return norm

    @torch.no_grad()
    def _copy_to_model(self, optimizer: Optimizer) -> None:
        for master in self.main_params(optimizer):
            param = self._model_of.get(master)
            if param is not None:
                param.copy_(master)  # rounded to FP16 (section 3.1)

    def _log(self, model: nn.Module, scale: float, norm: Tensor) -> None:
        # Lightning allows self.log inside optimizer_step, once per optimiser step
        if not isinstance(model, pl.LightningModule) or model._trainer is None:
            return
        values = {"loss_scale": scale, "skipped_steps": float(self.scaler.skipped),
                  "grad_norm": norm}
        for key, value in values.items():
            model.log(f"precision/{key}", value, on_step=True, on_epoch=False, batch_size=1)

    # --- checkpoints -------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {"scaler": self.scaler.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.scaler.load_state_dict(state_dict["scaler"])

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """The checkpoint's weights are the FP32 masters, not their FP16 rounding: a resumed
        run, an export and an FP32 run started from the file all see the exact values."""
        weights = checkpoint.get("state_dict", {})
        for name, param in self._names.items():
            if name in weights:
                weights[name] = self._masters[param].detach()
