"""The sparse product paths of ``layers.sparse.SparseMatrix`` against the dense product: torch's
CSR kernels (``cpu``) and the Triton CSR kernel (interpreter, subprocess), odd shapes, one and
several vectors, with and without bias; BSR has no Triton kernel."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from speechzoo.errors import ConfigError
from speechzoo.layers.sparse import SparseMatrix

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _case():
    torch.manual_seed(0)
    a = torch.randn(37, 70)
    a[torch.rand_like(a) < 0.9] = 0
    a[5] = 0  # a row without any value
    return a, torch.randn(3, 70), torch.randn(37)


def _check(kernel: str) -> None:
    a, x, b = _case()
    m = SparseMatrix(a)
    m.kernel = kernel
    assert (m.linear(x, b) - (x @ a.t() + b)).abs().max() < 1e-5
    assert (m.linear(x[:1]) - x[:1] @ a.t()).abs().max() < 1e-5
    assert (m.mv(x[0], b) - (a @ x[0] + b)).abs().max() < 1e-5


@pytest.mark.parametrize("kernel", ["auto", "cpu", "reference"])
def test_cpu_paths_equal_the_dense_product(kernel):
    _check(kernel)


def test_triton_csr_kernel_equals_the_dense_product_in_the_interpreter():
    code = "from tests.kernels.test_sparse_kernels import _check\n_check('triton')\nprint('ok')"
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                         env={**os.environ, "TRITON_INTERPRET": "1"}, capture_output=True,
                         text=True, timeout=600, cwd=ROOT)
    assert run.returncode == 0 and "ok" in run.stdout, run.stderr[-3000:]


def test_bsr_and_missing_gpu_are_refused_for_triton(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    a, x, _ = _case()
    m = SparseMatrix(torch.zeros(32, 32).index_fill_(0, torch.tensor([0]), 1.0), block=(16, 16))
    m.kernel = "triton"
    with pytest.raises(ConfigError, match="CSR, not BSR"):
        m.linear(torch.randn(2, 32))
    csr = SparseMatrix(a)
    csr.kernel = "triton"
    with pytest.raises(ConfigError, match="not a CUDA GPU"):
        csr.linear(x)
