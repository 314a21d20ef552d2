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
