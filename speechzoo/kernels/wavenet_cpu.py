"""WaveNet generation on the CPU, compiled: every step of a chunk of samples, all layers, the
output head and the sampling, in one call of one compiled loop (numba; LLVM vectorises the
channel loops), so no Python or NumPy dispatch happens per sample (Deep Voice, arXiv
1702.07825, section 5: real-time inference on a CPU).

The weights are those ``speechzoo.layers.wavenet.StackState`` packs (the gate half of every
pre-activation halved so one tanh serves filter and gate, the 1/2 folded into the output
weights), stacked over layers; the maths is StackState's step, sample for sample.

Shapes (L layers, K taps, C residual, G gate channels = 2 g, S skip, P outputs, B batch):
taps (L, K, C, G) oldest tap first; res_w (L, g, C), res_b (L, C); skip_w (L, g, S),
skip_b (S,); in_w (C,), in_b (C,); head1 (S, S) + (S,), head2 (S, P) + (P,); queues
(L, Q, B, C) ring buffers of span ``spans[l]`` = (K - 1) * dilation; cond (B, n, L, G);
noise (n, B, U) from :func:`noise`; out (n, B).
"""

from __future__ import annotations

import math

import numpy as np

from speechzoo.kernels import MULAW
from speechzoo.kernels.cpu import HALF_ROOT, ONE, axpy, compiled, relu, tanh


@compiled
def _layer_input(queue, span, dilation, slot, taps, h, a):
    """``a += sum_j queue[tap j] @ taps[j] + h @ taps[-1]`` for one layer, every row."""
    k_taps = taps.shape[0]
    for j in range(k_taps - 1):
        axpy(queue[(slot + j * dilation) % span], taps[j], a)
    axpy(h, taps[k_taps - 1], a)


def noise(u: np.ndarray, kind: int) -> np.ndarray:
    """The uniforms of the samples as the kernel takes them, transformed up front in one
    vectorised pass: Gumbel noise ``-log(-log u)`` for the Gumbel-max choice of a mu-law
    level or a mixture component, and for a mixture the last column as a standard logistic
    ``log v - log(1 - v)`` (its inverse CDF). Shape: (n, B, U) -> (n, B, U) float32."""
    if kind == MULAW:
        return (-np.log(-np.log(u))).astype(np.float32)
    out = np.empty_like(u, dtype=np.float32)
    out[..., :-1] = -np.log(-np.log(u[..., :-1]))
    v = u[..., -1]
    out[..., -1] = np.log(v) - np.log1p(-v)
    return out


@compiled
def _sample(params, noise, kind, levels, log_scale_min):
    """StackState's sampling from :func:`noise`: Gumbel-max over the logits (a mu-law level,
    or a logistic component, then its location plus scale times the logistic draw, clipped)."""
    k = params.shape[0] if kind == MULAW else params.shape[0] // 3
    best, pick = -np.inf, 0
    for i in range(k):
        v = params[i] + noise[i]
        if v > best:
            best, pick = v, i
    if kind == MULAW:
        return levels[pick]
    log_scale = max(params[2 * k + pick], log_scale_min)
    x = params[k + pick] + math.exp(log_scale) * noise[k]
    return min(1.0, max(-1.0, x))


@compiled
def generate_chunk(t0, prev, cond, noise, out, taps, spans, dilations, res_w, res_b, skip_w,
                   skip_b, in_w, in_b, head1_w, head1_b, head2_w, head2_b, queues, kind,
                   levels, log_scale_min):
    """Samples ``t0 ... t0 + n - 1`` into ``out``, each fed back as the next input; ``prev``
    (B,) is the sample before ``t0`` (0 at the start) and is updated; the queues carry the
    layers' pasts from one chunk to the next."""
    layers, _, channels, gates = taps.shape
    half, batch = gates // 2, prev.shape[0]
    h = np.empty((batch, channels), np.float32)
    res = np.empty((batch, channels), np.float32)
    a = np.empty((batch, gates), np.float32)
    z = np.empty((batch, half), np.float32)
    skip = np.empty((batch, head1_w.shape[0]), np.float32)
    hidden = np.empty((batch, head1_w.shape[1]), np.float32)
    params = np.empty((batch, head2_w.shape[1]), np.float32)
    for step in range(cond.shape[1]):
        t = t0 + step
        for b in range(batch):
            for c in range(channels):
                h[b, c] = prev[b] * in_w[c] + in_b[c]
            skip[b] = skip_b
        for i in range(layers):
            span = spans[i]
            slot = t % max(1, span)
            a[:] = cond[:, step, i]
            _layer_input(queues[i], max(1, span), dilations[i], slot, taps[i], h, a)
            tanh(a)
            for b in range(batch):
                for g in range(half):
                    z[b, g] = a[b, g] * (ONE + a[b, half + g])
            if span:
                queues[i, slot] = h
            for b in range(batch):
                res[b] = res_b[i]
            axpy(z, res_w[i], res)
            for b in range(batch):
                for c in range(channels):
                    h[b, c] = (h[b, c] + res[b, c]) * HALF_ROOT
            axpy(z, skip_w[i], skip)
        relu(skip)
        for b in range(batch):
            hidden[b] = head1_b
        axpy(skip, head1_w, hidden)
        relu(hidden)
        for b in range(batch):
            params[b] = head2_b
        axpy(hidden, head2_w, params)
        for b in range(batch):
            x = _sample(params[b], noise[step, b], kind, levels, log_scale_min)
            out[step, b] = x
            prev[b] = x
