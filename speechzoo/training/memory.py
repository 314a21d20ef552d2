"""Keep freed memory in the process during CPU training (glibc).

A training step allocates and frees the same large activation buffers every step. glibc
serves big allocations with fresh ``mmap`` pages and unmaps them on ``free`` (and trims the
heap top), so the kernel zero-fills every page again the next step: on the small DS2 recipe
that was ~400,000 page faults a second and ~40% of the CPU time spent in the kernel. Serving
everything from the heap and not trimming it after every step roughly halves the step time on
a 2-core CPU (``benchmarks/asr.py`` measures both).

What is kept is handed back at two moments:
- every ``release_every`` seconds (default a minute), so that the resident size follows the
  recent working set instead of growing with the heap's fragmentation (a training run
  crept from 12 to 16 GB in a quarter of an hour without it); the next step re-faults once;
- just before every fork (a DataLoader worker), which would otherwise share the kept memory
  copy-on-write while the parent, reusing it, copied it page by page: a validation worker
  forked mid-run once doubled a 12 GB process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading

# mallopt parameters, from glibc's malloc.h
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_state = {"keeping": False, "started": False, "release_every": 60.0}
_new_period = threading.Event()


def _libc_function(name: str):
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return getattr(libc, name, None)  # mallopt and malloc_trim are glibc's, not musl's


def release_free_memory() -> None:
    """Hand the free memory the process keeps back to the kernel (while keeping)."""
    if _state["keeping"]:
        _libc_function("malloc_trim")(0)


def _release_periodically() -> None:
    while True:
        if _new_period.wait(_state["release_every"]):
            _new_period.clear()  # start the new period afresh
        else:
            release_free_memory()


def keep_freed_memory(release_every: float = 60.0) -> bool:
    """Stop glibc returning freed memory to the kernel after every ``free``; hand it back
    every ``release_every`` seconds and before every fork instead.

    Returns whether the setting took effect (False where the C library is not glibc).
    """
    mallopt = _libc_function("mallopt")
    if mallopt is None or _libc_function("malloc_trim") is None:
        return False
    if mallopt(_M_MMAP_MAX, 0) != 1 or mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) != 1:
        return False
    _state.update(keeping=True, release_every=release_every)
    _new_period.set()
    if not _state["started"]:
        os.register_at_fork(before=release_free_memory)
        threading.Thread(target=_release_periodically, daemon=True,
                         name="speechzoo-release-memory").start()
        _state["started"] = True
    return True
