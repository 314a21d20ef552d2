"""Inference kernels and the one switch that picks them (Deep Voice, arXiv 1702.07825,
section 5: optimised WaveNet inference on CPU and GPU).

``kernel="auto" | "triton" | "cpu" | "reference"``:

* ``"triton"``: the persistent GPU kernel of ``kernels.wavenet_triton`` (one launch generates
  every sample of a batch); CUDA tensors, or any tensors under ``TRITON_INTERPRET=1`` (what
  the tests run on a CPU).
* ``"cpu"``: the compiled CPU loop of ``kernels.wavenet_cpu`` (numba).
* ``"reference"``: the plain step of ``layers.wavenet.StackState`` (NumPy, one call per
  layer per sample), what every kernel is tested against.
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
log = logging.getLogger(__name__)


def _missing_triton(device: torch.device) -> str | None:
    """Why the Triton kernel cannot run on ``device`` (None: it can)."""
    if importlib.util.find_spec("triton") is None:
        return "triton is not installed (it comes with torch's CUDA wheels)"
    if os.environ.get("TRITON_INTERPRET") == "1":
        return None
    if device.type != "cuda" or not torch.cuda.is_available():
        return f"the tensors are on {device}, not a CUDA GPU (set TRITON_INTERPRET=1 to " \
               "run Triton's interpreter on the CPU, slowly)"
    return None


def _missing_numba() -> str | None:
    if importlib.util.find_spec("numba") is None:
        return "numba is not installed (pip install numba)"
    return None


def wavenet_path(kernel: str, device: torch.device | str) -> str:
    """The generation path for ``kernel`` on tensors of ``device``.

    Raises:
        ConfigError: an unknown name, or a path that cannot run here (with the reason).
    """
    device = torch.device(device)
    if kernel not in KERNELS:
        raise ConfigError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if kernel == "reference":
        return kernel
    if kernel != "auto":
        reason = _missing_triton(device) if kernel == "triton" else _missing_numba()
        if reason:
            raise ConfigError(f"kernel={kernel!r} cannot run here: {reason}; use "
                              "kernel='auto' to take the fastest path available")
        return kernel
    if device.type == "cuda":
        reason = _missing_triton(device)
        if reason is None:
            return "triton"
        log.info("WaveNet generation: not the Triton kernel: %s", reason)
    reason = _missing_numba()
    if reason is None:
        return "cpu"
    log.warning("WaveNet generation on the slow reference path: %s", reason)
    return "reference"
