"""Building blocks of the compiled CPU kernels (numba): float32 products laid out so LLVM
vectorises them, and activations written with only multiplications, additions and one
division, which vectorise where libm's ``tanh`` and ``exp`` do not."""

from __future__ import annotations

import numpy as np
from numba import njit

# Eigen's rational approximation of tanh (generic_fast_tanh_float): within 4e-7 of tanh in
# float32, and only multiplications and one division, which vectorise (libm's tanh does not).
# Every constant is float32: one float64 literal would widen the whole loop to float64.
_A13, _A11, _A9, _A7, _A5, _A3, _A1 = (np.float32(c) for c in (
    -2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11,
    5.12229709037114e-08, 1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03))
_B6, _B4, _B2, _B0 = (np.float32(c) for c in (
    1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03))
_CLIP, ZERO, ONE, HALF = (np.float32(c) for c in (9.0, 0.0, 1.0, 0.5))
HALF_ROOT = np.float32(np.sqrt(0.5))  # WaveNet's residual scaling

# Every kernel compiles with these options. error_model="numpy": numba's default (Python's)
# checks every float division and integer modulo for a zero divisor to raise
# ZeroDivisionError, and that branch kept LLVM from vectorising any loop that divides (tanh
# ran scalar, 5x slower); with NumPy's model a division by zero gives inf or nan instead.
compiled = njit(cache=True, fastmath=True, error_model="numpy")


@compiled
def tanh(a):
    """In place over a (B, G) float32 array."""
    for b in range(a.shape[0]):
        for g in range(a.shape[1]):
            x = min(_CLIP, max(-_CLIP, a[b, g]))
            x2 = x * x
            p = ((((((_A13 * x2 + _A11) * x2 + _A9) * x2 + _A7) * x2 + _A5) * x2 + _A3) * x2
                 + _A1)
            q = ((_B6 * x2 + _B4) * x2 + _B2) * x2 + _B0
            a[b, g] = x * p / q


@compiled
def axpy(x, w, out):
    """``out += x @ w`` for x (B, R), w (R, N), out (B, N): weight rows outer, so each row is
    read once for the whole batch, and the inner loop runs along contiguous memory and
    vectorises."""
    for r in range(w.shape[0]):
        for b in range(x.shape[0]):
            v = x[b, r]
            for k in range(w.shape[1]):
                out[b, k] += v * w[r, k]


@compiled
def relu(x):
    for b in range(x.shape[0]):
        for k in range(x.shape[1]):
            x[b, k] = max(x[b, k], ZERO)


@compiled
def sigmoid(a):
    """In place over a (B, N) float32 array: ``(1 + tanh(x / 2)) / 2``."""
    for b in range(a.shape[0]):
        for k in range(a.shape[1]):
            a[b, k] *= HALF
    tanh(a)
    for b in range(a.shape[0]):
        for k in range(a.shape[1]):
            a[b, k] = HALF + HALF * a[b, k]
