"""A CSR sparse matrix times a few dense vectors in Triton, for pruned models on a GPU
(Narang et al., arXiv 1704.05119, section 5): one program per matrix row walks that row's
stored values in blocks, gathering the matching entries of every vector, so the work is the
non-zeros only. (On the CPU torch's CSR kernels, MKL's, serve: ``layers.sparse``.)"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _kernel(crow, col, values, x, bias, out, n, cols, rows, HAS_BIAS: tl.constexpr,
            BN: tl.constexpr, BLOCK: tl.constexpr):
    r = tl.program_id(0)
    on, ob = tl.arange(0, BN), tl.arange(0, BLOCK)
    start, end = tl.load(crow + r), tl.load(crow + r + 1)
    acc = tl.zeros((BN,), tl.float32)
    for k0 in range(start, end, BLOCK):
        at = k0 + ob
        keep = at < end
        c = tl.load(col + at, mask=keep, other=0)
        v = tl.load(values + at, mask=keep, other=0.0)
        xs = tl.load(x + on[:, None] * cols + c[None, :], mask=(on[:, None] < n) & keep[None, :],
                     other=0.0)
        acc += tl.sum(xs * v[None, :], 1)
    if HAS_BIAS:
        acc += tl.load(bias + r)
    tl.store(out + on * rows + r, acc, mask=on < n)


def csr_linear(crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor, shape: tuple,
               x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``bias + x A^T`` for A (R, C) in CSR: x (N, C) -> (N, R), N up to 64 per launch."""
    rows, cols = shape
    x = x.contiguous().float()
    out = torch.empty(x.shape[0], rows, device=x.device)
    for i in range(0, x.shape[0], 64):
        part = x[i:i + 64]
        _kernel[(rows,)](crow, col, values.float(), part, bias if bias is not None else part,
                         out[i:i + 64], part.shape[0], cols, rows, HAS_BIAS=bias is not None,
                         BN=max(2, triton.next_power_of_2(part.shape[0])), BLOCK=64)
    return out
