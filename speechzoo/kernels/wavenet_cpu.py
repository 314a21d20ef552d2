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
from numba import njit

from speechzoo.kernels import MULAW


@njit(cache=True, fastmath=True)
def _layer_input(queue, span, dilation, slot, taps, h, a):
    """``a += sum_j queue[tap j] @ taps[j] + h @ taps[-1]`` for one layer, every row."""
    k_taps = taps.shape[0]
    for j in range(k_taps - 1):
        _axpy(queue[(slot + j * dilation) % span], taps[j], a)
    _axpy(h, taps[k_taps - 1], a)


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


# Eigen's rational approximation of tanh (generic_fast_tanh_float): within 4e-7 of tanh in
# float32, and only multiplications and one division, which vectorise (libm's tanh does not).
# Every constant is float32: one float64 literal would widen the whole loop to float64.
_A13, _A11, _A9, _A7, _A5, _A3, _A1 = (np.float32(c) for c in (
    -2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11,
    5.12229709037114e-08, 1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03))
_B6, _B4, _B2, _B0 = (np.float32(c) for c in (
    1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03))
_CLIP, _ZERO, _ONE = np.float32(9.0), np.float32(0.0), np.float32(1.0)
_HALF_ROOT = np.float32(np.sqrt(0.5))  # the residual block's sqrt(1/2)


@njit(cache=True, fastmath=True)
def _tanh(a):
    """In place over a (B, G) float32 array."""
    for b in range(a.shape[0]):
        for g in range(a.shape[1]):
            x = min(_CLIP, max(-_CLIP, a[b, g]))
            x2 = x * x
            p = ((((((_A13 * x2 + _A11) * x2 + _A9) * x2 + _A7) * x2 + _A5) * x2 + _A3) * x2
                 + _A1)
            q = ((_B6 * x2 + _B4) * x2 + _B2) * x2 + _B0
            a[b, g] = x * p / q


@njit(cache=True, fastmath=True)
def _axpy(x, w, out):
    """``out += x @ w`` for x (B, R), w (R, N), out (B, N): weight rows outer, so each row is
    read once for the whole batch, and the inner loop runs along contiguous memory and
    vectorises."""
    for r in range(w.shape[0]):
        for b in range(x.shape[0]):
            v = x[b, r]
            for k in range(w.shape[1]):
                out[b, k] += v * w[r, k]


@njit(cache=True, fastmath=True)
def _relu(x):
    for b in range(x.shape[0]):
        for k in range(x.shape[1]):
            x[b, k] = max(x[b, k], _ZERO)


@njit(cache=True, fastmath=True)
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


@njit(cache=True, fastmath=True)
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
            _tanh(a)
            for b in range(batch):
                for g in range(half):
                    z[b, g] = a[b, g] * (_ONE + a[b, half + g])
            if span:
                queues[i, slot] = h
            for b in range(batch):
                res[b] = res_b[i]
            _axpy(z, res_w[i], res)
            for b in range(batch):
                for c in range(channels):
                    h[b, c] = (h[b, c] + res[b, c]) * _HALF_ROOT
            _axpy(z, skip_w[i], skip)
        _relu(skip)
        for b in range(batch):
            hidden[b] = head1_b
        _axpy(skip, head1_w, hidden)
        _relu(hidden)
        for b in range(batch):
            params[b] = head2_b
        _axpy(hidden, head2_w, params)
        for b in range(batch):
            x = _sample(params[b], noise[step, b], kind, levels, log_scale_min)
            out[step, b] = x
            prev[b] = x
