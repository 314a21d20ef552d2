"""Persistent WaveNet generation in Triton (after nv-wavenet and Deep Voice's GPU kernels,
arXiv 1702.07825 section 5.2): one launch generates a whole chunk of samples for a batch of
utterances, one program per utterance looping over time and layers, with the sampling
(mu-law softmax or mixture of logistics, by Gumbel-max over noise drawn beforehand) inside,
so no sample ever returns to the host. The dilation queues live in a scratch buffer that
stays in the GPU's cache between steps; the weights are re-read from cache each step (a
40-layer stack does not fit one program's registers).

Weights and noise are those of ``kernels.wavenet_cpu`` (``StackState.packed``,
``wavenet_cpu.noise``), so the two kernels and the reference compute the same maths.
``tanh`` is written ``2 * sigmoid(2x) - 1`` so that Triton's interpreter (``TRITON_INTERPRET=1``,
how the tests run it on a CPU) evaluates it too.
"""

from __future__ import annotations

import numpy as np
import torch
import triton
import triton.language as tl

from speechzoo.kernels import MULAW
from speechzoo.kernels.wavenet_cpu import noise as make_noise

_CHUNK = 4096  # samples per launch (the conditioning of a chunk is L x G floats per sample)


@triton.jit
def _tanh(x):
    return 2 * tl.sigmoid(2 * x) - 1


@triton.jit
def _matvec(x, w_ptr, rows, cols, stride, offs_r, offs_k):
    """``x @ W`` for x (rows,) along dim 0 and W (rows, cols) row-major with ``stride``."""
    w = tl.load(w_ptr + offs_r[:, None] * stride + offs_k[None, :],
                mask=(offs_r[:, None] < rows) & (offs_k[None, :] < cols), other=0.0)
    return tl.sum(x[:, None] * w, 0)


@triton.jit
def _kernel(cond, noise, out, prev, taps, spans, dilations, res_w, res_b, skip_w, skip_b,
            in_w, in_b, h1_w, h1_b, h2_w, h2_b, levels, queues, t0, n, batch,
            layers, taps_k, channels, half, skips, outputs, span_max, log_scale_min,
            KIND: tl.constexpr, BC: tl.constexpr, BG: tl.constexpr, BS: tl.constexpr,
            BP: tl.constexpr):
    b = tl.program_id(0)
    oc, og, os_, op = tl.arange(0, BC), tl.arange(0, BG), tl.arange(0, BS), tl.arange(0, BP)
    mc, mg, ms, mp = oc < channels, og < half, os_ < skips, op < outputs
    gates = 2 * half
    x = tl.load(prev + b)
    for step in range(n):
        t = t0 + step
        h = x * tl.load(in_w + oc, mask=mc, other=0.0) + tl.load(in_b + oc, mask=mc, other=0.0)
        skip = tl.load(skip_b + os_, mask=ms, other=0.0)
        for i in range(layers):
            span = tl.load(spans + i)
            d = tl.load(dilations + i)
            slot = t % tl.maximum(span, 1)
            c_at = cond + ((b * n + step) * layers + i) * gates
            af = tl.load(c_at + og, mask=mg, other=0.0)
            ag = tl.load(c_at + half + og, mask=mg, other=0.0)
            q_at = queues + ((i * span_max) * batch + b) * channels
            for j in range(taps_k):
                if j == taps_k - 1:
                    inp = h
                else:
                    row = (slot + j * d) % tl.maximum(span, 1)
                    inp = tl.load(q_at + row * batch * channels + oc, mask=mc, other=0.0)
                w_at = taps + (i * taps_k + j) * channels * gates
                af += _matvec(inp, w_at, channels, half, gates, oc, og)
                ag += _matvec(inp, w_at + half, channels, half, gates, oc, og)
            z = _tanh(af) * (1 + _tanh(ag))
            if span > 0:
                tl.debug_barrier()  # every lane has read the oldest entry before it goes
                tl.store(q_at + slot * batch * channels + oc, h, mask=mc)
            res = _matvec(z, res_w + i * half * channels, half, channels, channels, og, oc)
            res += tl.load(res_b + i * channels + oc, mask=mc, other=0.0)
            h = (h + res) * 0.7071067811865476  # sqrt(1/2), as the residual block
            skip += _matvec(z, skip_w + i * half * skips, half, skips, skips, og, os_)
        hidden = _matvec(tl.maximum(skip, 0.0), h1_w, skips, skips, skips, os_, os_)
        hidden += tl.load(h1_b + os_, mask=ms, other=0.0)
        params = _matvec(tl.maximum(hidden, 0.0), h2_w, skips, outputs, outputs, os_, op)
        params += tl.load(h2_b + op, mask=mp, other=0.0)
        eps = tl.load(noise + (step * batch + b) * outputs + op, mask=mp, other=0.0)
        if KIND == 0:
            pick = tl.argmax(tl.where(mp, params + eps, -float("inf")), 0)
            x = tl.load(levels + pick)
        else:
            k = outputs // 3
            pick = tl.argmax(tl.where(op < k, params + eps, -float("inf")), 0)
            mean = tl.sum(tl.where(op == k + pick, params, 0.0), 0)
            log_scale = tl.maximum(tl.sum(tl.where(op == 2 * k + pick, params, 0.0), 0),
                                   log_scale_min)
            draw = tl.load(noise + (step * batch + b) * outputs + k)
            x = tl.minimum(tl.maximum(mean + tl.exp(log_scale) * draw, -1.0), 1.0)
        tl.store(out + step * batch + b, x)
        tl.debug_barrier()
    tl.store(prev + b, x)


def _pow2(n: int) -> int:
    return max(2, triton.next_power_of_2(n))


def generate(model, cond: torch.Tensor, u: np.ndarray) -> torch.Tensor:
    """What ``model.generate_from(cond, kernel="triton")`` returns: ``model`` an
    ``AutoregressiveWaveNet``, cond (B, C, T) on the device, u (T, B, U) its uniforms.

    Shape: -> (B, T) on cond's device.
    """
    device, (batch, total) = cond.device, (cond.shape[0], cond.shape[-1])
    state = model.stack.state(batch, cond)
    taps, spans, dilations, *weights = (torch.from_numpy(np.ascontiguousarray(a)).to(device)
                                        for a in state.packed())
    queues = torch.from_numpy(state.queues).to(device)
    levels = torch.from_numpy(model._levels).to(device)
    prev = torch.zeros(batch, device=device)
    out = torch.empty(total, batch, device=device)
    kind = model._kind
    layers, taps_k, channels, gates = taps.shape
    skips, outputs = weights[-4].shape[0], weights[-2].shape[1]
    # mixture noise has K + 1 columns; the kernel reads it with the outputs' stride
    width = outputs
    for t0 in range(0, total, _CHUNK):
        n = min(_CHUNK, total - t0)
        c = state.conditioning(t0, n).contiguous()
        eps = np.zeros((n, batch, width), np.float32)
        drawn = make_noise(u[t0:t0 + n], kind)
        eps[..., :drawn.shape[-1]] = drawn
        _kernel[(batch,)](
            c, torch.from_numpy(eps).to(device), out[t0:], prev, taps, spans, dilations,
            *weights, levels, queues, t0, n, batch, layers, taps_k, channels, gates // 2,
            skips, outputs, queues.shape[1], float(model.log_scale_min),
            KIND=0 if kind == MULAW else 1, BC=_pow2(channels), BG=_pow2(gates // 2),
            BS=_pow2(skips), BP=_pow2(outputs))
    return out.T.contiguous()
