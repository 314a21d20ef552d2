import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from speechzoo.training.memory import keep_freed_memory


def page_faults() -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        torch.ones(16 * 2**20)  # 64 MB, written and freed, like a step's activations
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.fixture(autouse=True)
def _glibc():
    if not keep_freed_memory():
        pytest.skip("the C library is not glibc")


def _resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_freed_memory_is_reused_without_page_faults():
    page_faults()  # grow the heap once
    assert page_faults() < 1000
    # glibc's default maps each 64 MB buffer afresh: 16,384 zero-filled pages each time
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            "from test_memory import page_faults; print(page_faults())")
    default = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True)
    assert int(default.stdout) > 5 * 10000


def test_a_fork_does_not_share_the_kept_memory():
    """A forked DataLoader worker must not pin the kept heap: the parent reusing it would
    copy every page."""
    torch.ones(64 * 2**20)  # 256 MB written and freed: kept in the process
    kept = _resident_bytes()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    assert _resident_bytes() < kept - 200 * 2**20


def test_kept_memory_is_handed_back_periodically():
    try:
        keep_freed_memory(release_every=0.05)
        torch.ones(64 * 2**20)
        kept = _resident_bytes()
        time.sleep(0.5)
        assert _resident_bytes() < kept - 200 * 2**20
    finally:
        keep_freed_memory()
