"""Output distributions of the WaveNet vocoders over samples in [-1, 1].

* Discretized mixture of logistics (PixelCNN++, Salimans et al. 2017, section 2.1; Parallel
  WaveNet section 2 at 16 bits): parameters (B, 3 K, T) = K mixture logits, K means, K log
  scales.
* 256-way mu-law softmax (WaveNet section 2.2; Deep Voice's vocoder).
* The logistic distribution of the Parallel WaveNet student (section 2.2).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def _split(params: torch.Tensor, log_scale_min: float):
    logits, means, log_scales = params.chunk(3, 1)
    return logits, means, log_scales.clamp_min(log_scale_min)


def mol_log_prob(params: torch.Tensor, x: torch.Tensor, bits: int = 16,
                 log_scale_min: float = -9.0) -> torch.Tensor:
    """Log-probability of samples under a discretized logistic mixture with ``2**bits`` bins
    on [-1, 1]; the edge bins take the tails (everything below -1 or above 1).

    Shape: params (B, 3 K, T), x (B, T) -> (B, T).
    """
    logits, means, log_scales = _split(params, log_scale_min)
    x = x.unsqueeze(1)
    half_bin = 1.0 / (2 ** bits - 1)
    inv = torch.exp(-log_scales)
    centred = x - means
    plus, minus = inv * (centred + half_bin), inv * (centred - half_bin)
    log_cdf_plus = plus - F.softplus(plus)          # log sigmoid(plus)
    log_one_minus_cdf_min = -F.softplus(minus)      # log (1 - sigmoid(minus))
    delta = torch.sigmoid(plus) - torch.sigmoid(minus)
    mid = inv * centred
    # where the bin is too narrow for float32 differences, the density at its centre times
    # its width
    log_pdf_mid = mid - log_scales - 2 * F.softplus(mid) + math.log(2 * half_bin)
    inner = torch.where(delta > 1e-5, torch.log(delta.clamp_min(1e-12)), log_pdf_mid)
    edge = 1 - half_bin
    log_p = torch.where(x < -edge, log_cdf_plus,
                        torch.where(x > edge, log_one_minus_cdf_min, inner))
    return torch.logsumexp(log_p + F.log_softmax(logits, 1), 1)


def mol_sample(params: np.ndarray, u: np.ndarray, log_scale_min: float = -9.0) -> np.ndarray:
    """One sample per row, clipped to [-1, 1], from uniforms drawn beforehand: a component
    by Gumbel-max over the logits, then inverse-CDF sampling of its logistic. NumPy, for the
    sample-by-sample loop of generation (a torch call per tiny step costs more than the
    arithmetic).

    Shape: params (B, 3 K), u (B, K + 1) uniforms in (0, 1) -> (B,).
    """
    k = params.shape[1] // 3
    rows = np.arange(params.shape[0])
    pick = (params[:, :k] - np.log(-np.log(u[:, :k]))).argmax(1)
    mean = params[rows, k + pick]
    log_scale = np.maximum(params[rows, 2 * k + pick], log_scale_min)
    v = u[:, k]
    return np.clip(mean + np.exp(log_scale) * (np.log(v) - np.log1p(-v)), -1.0, 1.0)


def categorical_sample(logits: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Class ids by Gumbel-max from uniforms drawn beforehand (NumPy, as :func:`mol_sample`).
    Shape: logits (B, C), u (B, C) -> (B,)."""
    return (logits - np.log(-np.log(u))).argmax(1)


def logistic_noise(shape, generator: torch.Generator | None = None,
                   device: torch.device | str = "cpu") -> torch.Tensor:
    """Standard logistic samples ``log u - log(1 - u)``."""
    u = torch.rand(shape, generator=generator, device=device).clamp(1e-5, 1 - 1e-5)
    return torch.log(u) - torch.log1p(-u)


def logistic_log_prob(x: torch.Tensor, mean: torch.Tensor,
                      log_scale: torch.Tensor) -> torch.Tensor:
    """Density of a logistic with location ``mean`` and scale ``exp(log_scale)``."""
    z = (x - mean) * torch.exp(-log_scale)
    return z - log_scale - 2 * F.softplus(z)


def mulaw_encode(x: torch.Tensor, classes: int = 256) -> torch.Tensor:
    """Samples in [-1, 1] -> class ids (WaveNet eq. 1)."""
    mu = classes - 1
    y = torch.sign(x) * torch.log1p(mu * x.abs().clamp(max=1)) / math.log1p(mu)
    return ((y + 1) / 2 * mu + 0.5).floor().long().clamp(0, mu)


def mulaw_decode(ids: torch.Tensor, classes: int = 256) -> torch.Tensor:
    """Class ids -> samples in [-1, 1] (the inverse of :func:`mulaw_encode` at bin centres)."""
    mu = classes - 1
    y = ids.float() / mu * 2 - 1
    return torch.sign(y) * ((1 + mu) ** y.abs() - 1) / mu
