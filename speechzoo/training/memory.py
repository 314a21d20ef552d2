"""Keep freed memory in the process during CPU training (glibc).

A training step allocates and frees the same large activation buffers every step. glibc
serves big allocations with fresh ``mmap`` pages and unmaps them on ``free`` (and trims the
heap top), so the kernel zero-fills every page again the next step: on the small DS2 recipe
that was ~400,000 page faults a second and ~40% of the CPU time spent in the kernel. Serving
everything from the heap and never trimming it halves the step time on a 2-core CPU
(``benchmarks/asr.py`` measures both); the price is that the resident size stays at its peak.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# mallopt parameters, from glibc's malloc.h
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_DEFAULTS = {_M_MMAP_MAX: 65536, _M_TRIM_THRESHOLD: 128 * 1024}


def _mallopt():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return getattr(libc, "mallopt", None)  # absent outside glibc (e.g. musl)


def keep_freed_memory(keep: bool = True) -> bool:
    """Stop (or, with ``keep=False``, restore) glibc returning freed memory to the kernel.

    Returns whether the setting took effect (False where the C library is not glibc).
    """
    mallopt = _mallopt()
    if mallopt is None:
        return False
    values = {_M_MMAP_MAX: 0, _M_TRIM_THRESHOLD: 2**31 - 1} if keep else _DEFAULTS
    return all(mallopt(param, value) == 1 for param, value in values.items())
