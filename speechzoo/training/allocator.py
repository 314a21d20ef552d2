"""Train on CPU under tcmalloc when the system has it (``speechzoo train`` re-executes itself).

A training step allocates and frees the same large activation buffers every step. glibc's
allocator serves big blocks with fresh ``mmap`` pages and unmaps them on ``free``, so the
kernel zero-fills every page again the next step: on ``recipes/ds2.yaml`` that was ~400,000
page faults a second and ~40% of the CPU time spent in the kernel. tcmalloc keeps freed
blocks for reuse and fragments less; ``benchmarks/asr.py`` measures DS2 training under both.
(Telling glibc itself to keep freed memory, ``mallopt(M_MMAP_MAX, 0)``, was nearly as fast
for a few steps, but over a real run its heap fragmented from 8 to 18 GB within a minute.)

The choice is made at process start (``LD_PRELOAD``): set ``SPEECHZOO_ALLOCATOR=system`` to
keep glibc's. On Debian/Ubuntu tcmalloc is ``apt install libtcmalloc-minimal4``.
"""

from __future__ import annotations

import ctypes.util
import os
import sys
from collections.abc import Mapping, Sequence

_LIBRARIES = ("tcmalloc_minimal", "tcmalloc")


def find_tcmalloc() -> str | None:
    """The tcmalloc library's name for ``LD_PRELOAD``, or None if it is not installed."""
    if not sys.platform.startswith("linux"):
        return None
    for name in _LIBRARIES:
        found = ctypes.util.find_library(name)
        if found:
            return found
    return None


def tcmalloc_environment(env: Mapping[str, str]) -> dict[str, str] | None:
    """``env`` with tcmalloc preloaded, or None where that is not wanted or possible
    (opted out, already preloaded, not installed)."""
    if env.get("SPEECHZOO_ALLOCATOR", "tcmalloc") != "tcmalloc":
        return None
    preload = env.get("LD_PRELOAD", "")
    if "tcmalloc" in preload or "jemalloc" in preload:
        return None
    library = find_tcmalloc()
    if library is None:
        return None
    return dict(env, LD_PRELOAD=f"{library} {preload}".strip())


def exec_under_tcmalloc(argv: Sequence[str]) -> None:
    """Replace this process by ``python -m speechzoo.cli ARGV`` under tcmalloc, if
    :func:`tcmalloc_environment` allows; otherwise return and carry on."""
    env = tcmalloc_environment(os.environ)
    if env is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, "-m", "speechzoo.cli", *argv], env)
