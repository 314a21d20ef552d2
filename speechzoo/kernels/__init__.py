"""Inference kernels and the one switch that picks them (Deep Voice, arXiv 1702.07825,
section 5: optimised WaveNet inference on CPU and GPU), for WaveNet generation
(``kernels.wavenet_*``, behind ``generate(..., kernel=)``) and Deep Speech 2's recurrences
(``kernels.recurrent*``, behind ``_RecurrentLayer.kernel`` and streaming).

``kernel="auto" | "triton" | "cpu" | "reference"``:

* ``"triton"``: a persistent GPU kernel (one launch runs every step: a chunk of samples, or
  every frame); CUDA tensors, or any tensors under ``TRITON_INTERPRET=1`` (what the tests run
  on a CPU).
* ``"cpu"``: a compiled CPU loop (numba).
* ``"reference"``: the plain code every kernel is tested against (WaveNet: the NumPy step of
  ``layers.wavenet.StackState``; recurrences: ``_RecurrentLayer._step`` frame by frame).
* ``"auto"``: the fastest that can run here: triton for CUDA tensors, else cpu, else the
  reference, logging why a faster path was passed over.
"""

from __future__ import annotations

import importlib.util
import logging
import os

import torch

from speechzoo.errors import ConfigError

KERNELS = ("auto", "triton", "cpu", "reference")
MULAW, MOL = 0, 1  # the output distributions the generation kernels sample
RNN, GRU = 0, 1  # the recurrent cells the recurrence kernels run
log = logging.getLogger(__name__)


def _missing_triton(device: torch.device) -> str | None:
    """Why the Triton kernel cannot run on ``device`` (None: it can)."""
    if importlib.util.find_spec("triton") is None:
        return "triton is not installed (it comes with torch's CUDA wheels)"
    if os.environ.get("TRITON_INTERPRET") == "1":
        return None
    if device.type != "cuda":
        return f"the tensors are on {device}, not a CUDA GPU (set TRITON_INTERPRET=1 to " \
               "run Triton's interpreter on the CPU, slowly)"
    if not torch.cuda.is_available():
        return "this machine has no CUDA GPU"
    return None


def _missing_numba() -> str | None:
    if importlib.util.find_spec("numba") is None:
        return "numba is not installed (pip install numba)"
    return None


def kernel_path(kernel: str, device: torch.device | str, what: str = "WaveNet generation",
                unsupported: str | None = None) -> str:
    """The path ``kernel`` takes for ``what`` on tensors of ``device``; ``unsupported`` says
    why no kernel serves this case at all (then only the reference runs).

    Raises:
        ConfigError: an unknown name, or a path that cannot run here (with the reason).
    """
    device = torch.device(device)
    if kernel not in KERNELS:
        raise ConfigError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if kernel == "reference":
        return kernel
    if kernel != "auto":
        reason = unsupported or (_missing_triton(device) if kernel == "triton"
                                 else _missing_numba())
        if reason:
            raise ConfigError(f"kernel={kernel!r} cannot run {what} here: {reason}; use "
                              "kernel='auto' to take the fastest path available")
        return kernel
    if unsupported:
        log.info("%s on the reference path: %s", what, unsupported)
        return "reference"
    if device.type == "cuda":
        reason = _missing_triton(device)
        if reason is None:
            return "triton"
        log.info("%s: not the Triton kernel: %s", what, reason)
    reason = _missing_numba()
    if reason is None:
        return "cpu"
    log.warning("%s on the slow reference path: %s", what, reason)
    return "reference"


def use(module: torch.nn.Module, kernel: str) -> int:
    """Set ``kernel`` on every submodule that has a kernel switch (WaveNets, Deep Speech 2's
    recurrent layers); returns how many. Raises ConfigError for an unknown name."""
    if kernel not in KERNELS:
        raise ConfigError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    found = [m for m in module.modules() if isinstance(getattr(type(m), "kernel", None), str)]
    for m in found:
        m.kernel = kernel
    return len(found)
