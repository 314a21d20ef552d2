"""Deep Speech 2's recurrences at inference in one persistent Triton kernel: one program per
direction and utterance steps through every frame, the state kept in a scratch row that stays
in cache, ``U h`` read in (rows x gate) tiles, the cell maths fused (for the small batches of
streaming, where a launch per frame would cost more than the frame's arithmetic). The maths
is ``kernels.recurrent_cpu``'s; ``tanh`` and the sigmoid as Triton's interpreter runs them."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from speechzoo.kernels import RNN


@triton.jit
def _gate(h_row, u_ptr, bias_ptr, size, gates, q, oh, ok, mh, BK: tl.constexpr):
    """(U h + b) for gate block ``q`` (columns q H ... q H + H - 1)."""
    acc = tl.load(bias_ptr + q * size + oh, mask=mh, other=0.0)
    for k0 in range(0, size, BK):
        rows = k0 + ok
        hk = tl.load(h_row + rows, mask=rows < size, other=0.0)
        w = tl.load(u_ptr + rows[:, None] * gates + q * size + oh[None, :],
                    mask=(rows[:, None] < size) & mh[None, :], other=0.0)
        acc += tl.sum(hk[:, None] * w, 0)
    return acc


@triton.jit
def _kernel(pre, recurrent, bias, state, out, frames, batch, size, clip, CELL: tl.constexpr,
            BH: tl.constexpr, BK: tl.constexpr):
    d, b = tl.program_id(0), tl.program_id(1)
    oh, ok = tl.arange(0, BH), tl.arange(0, BK)
    mh = oh < size
    gates = size * (1 if CELL == 0 else 3)
    u_ptr, bias_ptr = recurrent + d * size * gates, bias + d * gates
    h_row = state + (d * batch + b) * size
    for t in range(frames):
        p_at = pre + ((d * frames + t) * batch + b) * gates
        h = tl.load(h_row + oh, mask=mh, other=0.0)
        if CELL == 0:
            u = _gate(h_row, u_ptr, bias_ptr, size, gates, 0, oh, ok, mh, BK)
            x = tl.load(p_at + oh, mask=mh, other=0.0) + u
            h = tl.minimum(tl.maximum(x, 0.0), clip)
        else:
            ur = _gate(h_row, u_ptr, bias_ptr, size, gates, 0, oh, ok, mh, BK)
            uz = _gate(h_row, u_ptr, bias_ptr, size, gates, 1, oh, ok, mh, BK)
            un = _gate(h_row, u_ptr, bias_ptr, size, gates, 2, oh, ok, mh, BK)
            r = tl.sigmoid(tl.load(p_at + oh, mask=mh, other=0.0) + ur)
            z = tl.sigmoid(tl.load(p_at + size + oh, mask=mh, other=0.0) + uz)
            n = 2 * tl.sigmoid(2 * (tl.load(p_at + 2 * size + oh, mask=mh, other=0.0)
                                    + r * un)) - 1
            h = (1 - z) * n + z * h
        tl.debug_barrier()  # every lane has read the old state before it is replaced
        tl.store(h_row + oh, h, mask=mh)
        tl.store(out + ((d * frames + t) * batch + b) * size + oh, h, mask=mh)
        tl.debug_barrier()


def recur(pre: torch.Tensor, recurrent: torch.Tensor, bias: torch.Tensor, h: torch.Tensor,
          cell: int, clip: float) -> torch.Tensor:
    """``kernels.recurrent_cpu.recur`` with torch tensors on the device: ``h`` (D, B, H) is
    updated in place; returns out (D, T, B, H)."""
    dirs, frames, batch, _ = pre.shape
    size = recurrent.shape[1]
    out = torch.empty(dirs, frames, batch, size, device=pre.device)
    _kernel[(dirs, batch)](pre.contiguous(), recurrent.contiguous(), bias.contiguous(), h, out,
                           frames, batch, size, float(clip), CELL=0 if cell == RNN else 1,
                           BH=max(2, triton.next_power_of_2(size)), BK=16)
    return out
