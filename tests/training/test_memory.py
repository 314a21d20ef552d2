import os
import resource

import pytest
import torch

from speechzoo.training.memory import keep_freed_memory


def _page_faults() -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        torch.ones(16 * 2**20)  # 64 MB, written and freed, like a step's activations
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_freed_memory_is_reused_without_page_faults():
    if not keep_freed_memory():
        pytest.skip("the C library is not glibc")
    try:
        _page_faults()  # grow the heap once
        assert _page_faults() < 1000
        assert keep_freed_memory(False)
        # glibc's default maps each 64 MB buffer afresh: 16,384 zero-filled pages each time
        assert _page_faults() > 5 * 10000
    finally:
        keep_freed_memory()


def _resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_a_fork_does_not_share_the_kept_memory():
    """A forked DataLoader worker must not pin the kept heap: the parent reusing it would
    copy every page."""
    if not keep_freed_memory():
        pytest.skip("the C library is not glibc")
    torch.ones(64 * 2**20)  # 256 MB written and freed: kept in the process
    kept = _resident_bytes()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    assert _resident_bytes() < kept - 200 * 2**20
