"""Deep Speech 2's recurrences at inference on the CPU, compiled (numba): every frame of every
direction in one call, the recurrent product and the cell maths fused per frame, so no
Python or torch dispatch happens per frame (what streaming pays for each new frame).

The maths is ``_RecurrentLayer._step`` of ``speechzoo.models.deepspeech2`` (eq. 4):
``u = U h_{t-1} + b``; simple RNN ``h = min(max(pre + u, 0), clip)``; GRU (torch's form)
``r = s(pre_r + u_r), z = s(pre_z + u_z), n = tanh(pre_n + r u_n), h = (1 - z) n + z h``,
with tanh and the sigmoid through ``kernels.cpu``'s vectorising approximation (within 4e-7).

Shapes: pre (D, T, B, G), recurrent (D, H, G), bias (D, G), h (D, B, H) the state before the
first frame (updated to the state after the last), out (D, T, B, H).
"""

from __future__ import annotations

import numpy as np

from speechzoo.kernels import RNN
from speechzoo.kernels.cpu import ONE, ZERO, axpy, compiled, sigmoid, tanh


@compiled
def recur(pre, recurrent, bias, h, out, cell, clip):
    dirs, frames, batch, gates = pre.shape
    size = recurrent.shape[1]
    clip = np.float32(clip)
    u = np.empty((batch, gates), np.float32)
    rz = np.empty((batch, 2 * size), np.float32)
    n = np.empty((batch, size), np.float32)
    for d in range(dirs):
        for t in range(frames):
            for b in range(batch):
                u[b] = bias[d]
            axpy(h[d], recurrent[d], u)
            if cell == RNN:
                for b in range(batch):
                    for k in range(size):
                        h[d, b, k] = min(max(pre[d, t, b, k] + u[b, k], ZERO), clip)
            else:
                for b in range(batch):
                    for k in range(2 * size):
                        rz[b, k] = pre[d, t, b, k] + u[b, k]
                sigmoid(rz)
                for b in range(batch):
                    for k in range(size):
                        n[b, k] = pre[d, t, b, 2 * size + k] + rz[b, k] * u[b, 2 * size + k]
                tanh(n)
                for b in range(batch):
                    for k in range(size):
                        z = rz[b, size + k]
                        h[d, b, k] = (ONE - z) * n[b, k] + z * h[d, b, k]
            out[d, t] = h[d]
