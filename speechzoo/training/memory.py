"""Keep freed memory in the process during CPU training (glibc).

A training step allocates and frees the same large activation buffers every step. glibc
serves big allocations with fresh ``mmap`` pages and unmaps them on ``free`` (and trims the
heap top), so the kernel zero-fills every page again the next step: on the small DS2 recipe
that was ~400,000 page faults a second and ~40% of the CPU time spent in the kernel. Serving
everything from the heap and never trimming it halves the step time on a 2-core CPU
(``benchmarks/asr.py`` measures both); the price is that the resident size stays at its peak.

A fork (a DataLoader worker) would share that kept memory copy-on-write, and the parent's
next steps, reusing it, would copy it page by page: a validation worker forked mid-run once
doubled a 12 GB process. So the free memory is handed back just before every fork.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# mallopt parameters, from glibc's malloc.h
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_DEFAULTS = {_M_MMAP_MAX: 65536, _M_TRIM_THRESHOLD: 128 * 1024}
_state = {"keeping": False, "hooked": False}


def _libc_function(name: str):
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return getattr(libc, name, None)  # mallopt and malloc_trim are glibc's, not musl's


def _trim_before_fork() -> None:
    if _state["keeping"]:
        _libc_function("malloc_trim")(0)


def keep_freed_memory(keep: bool = True) -> bool:
    """Stop (or, with ``keep=False``, restore) glibc returning freed memory to the kernel.

    Returns whether the setting took effect (False where the C library is not glibc).
    """
    mallopt = _libc_function("mallopt")
    if mallopt is None or _libc_function("malloc_trim") is None:
        return False
    values = {_M_MMAP_MAX: 0, _M_TRIM_THRESHOLD: 2**31 - 1} if keep else _DEFAULTS
    if not all(mallopt(param, value) == 1 for param, value in values.items()):
        return False
    if keep and not _state["hooked"]:
        os.register_at_fork(before=_trim_before_fork)
        _state["hooked"] = True
    _state["keeping"] = keep
    return True
