"""Gaussian upsampling and within-token positions (Non-Attentive Tacotron, arXiv 2010.04301).

Token features h_1..h_N with durations d_i (frames) and ranges sigma_i become frame features
u_t = sum_i w_ti h_i, w_ti = N(tau_t; c_i, sigma_i^2) / sum_j N(tau_t; c_j, sigma_j^2), with
token centres c_i = sum_{j<=i} d_j - d_i / 2 (section 3.2, eqs. 1-3).

Frame-time convention: frame t (0-based) covers [t, t + 1) in frame units and is evaluated at
its centre tau_t = t + 0.5. Token i covers [s_i, e_i) = [sum_{j<i} d_j, sum_{j<=i} d_j), so
with integer durations its frames lie symmetrically about c_i (its midpoint), and the peak
of its Gaussian is exactly at its middle frame; evaluating at t (or at the 1-based t of the
paper's notation) would shift every token half a frame.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from speechzoo.layers.normalization import length_mask


def frame_lengths_of(durations: torch.Tensor, token_lengths: torch.Tensor) -> torch.Tensor:
    """Frames an utterance of (possibly fractional) durations spans: round(sum d), as (B,) long.

    durations: (B, N) frames; tokens beyond token_lengths do not count.
    """
    valid = length_mask(token_lengths, durations.shape[1])
    return torch.round((durations.float() * valid).sum(1)).long()


class GaussianUpsampling(nn.Module):
    """Upsample token features to frames with one Gaussian per token (section 3.2).

    Args:
        min_sigma: lower bound on the ranges (frames), so no Gaussian collapses to a spike
            whose density underflows between frames.

    Shape:
        h: (B, N, D) token features; durations: (B, N) float frames (>= 0); ranges: (B, N)
        sigma in frames (> 0); token_lengths: (B,).
        frame_lengths: (B,) frames per utterance; default round(sum of durations).
        frames: output length T; default max(frame_lengths).
        Returns upsampled (B, T, D), weights (B, T, N) and frame_lengths (B,). Weights sum to
        one over an utterance's tokens on each of its frames; frames beyond a length are zero
        in both, and padded tokens get zero weight.
    """

    def __init__(self, min_sigma: float = 0.1) -> None:
        super().__init__()
        if not min_sigma > 0:
            raise ValueError(f"min_sigma must be positive, got {min_sigma}")
        self.min_sigma = min_sigma

    def forward(self, h: torch.Tensor, durations: torch.Tensor, ranges: torch.Tensor,
                token_lengths: torch.Tensor, frame_lengths: torch.Tensor | None = None,
                frames: int | None = None):
        tokens = length_mask(token_lengths, h.shape[1])  # (B, N)
        if frame_lengths is None:
            frame_lengths = frame_lengths_of(durations, token_lengths)
        if frames is None:
            frames = int(frame_lengths.max()) if frame_lengths.numel() else 0
        weights = self.weights(durations, ranges, tokens, frame_lengths, frames)
        upsampled = torch.bmm(weights.to(h.dtype), h)
        return upsampled, weights, frame_lengths

    def weights(self, durations: torch.Tensor, ranges: torch.Tensor, tokens: torch.Tensor,
                frame_lengths: torch.Tensor, frames: int) -> torch.Tensor:
        """w_ti (B, T, N) from durations and ranges (B, N), valid tokens (B, N) bool."""
        # In float32 whatever the autocast dtype: squared distances of hundreds of frames
        # overflow half precision, and the softmax needs the exact log-density differences.
        with torch.autocast(durations.device.type, enabled=False):
            d = durations.float() * tokens
            sigma = ranges.float().clamp_min(self.min_sigma)
            centres = torch.cumsum(d, 1) - d / 2  # (B, N)
            tau = torch.arange(frames, device=d.device, dtype=torch.float32) + 0.5
            z = (tau[None, :, None] - centres[:, None, :]) / sigma[:, None, :]  # (B, T, N)
            # log N(tau; c, sigma^2) up to the constant -log(2 pi) / 2, which softmax drops;
            # the -log(sigma) term stays, as the ranges differ between tokens.
            log_density = -0.5 * z.square() - sigma.log()[:, None, :]
            log_density = log_density.masked_fill(~tokens[:, None, :], -math.inf)
            w = torch.softmax(log_density, -1)
            valid = length_mask(frame_lengths, frames)[:, :, None]
            # An utterance without valid tokens has NaN rows (softmax of all -inf): zero them.
            return torch.where(valid & tokens.any(1)[:, None, None], w, 0.0)


def token_positions(durations: torch.Tensor, token_lengths: torch.Tensor,
                    frames: int) -> torch.Tensor:
    """Index of each frame within the token it falls in: (B, N) durations -> (B, T) float.

    Frame t (centre t + 0.5, module docstring) falls in token i when s_i <= t + 0.5 < e_i;
    its position is floor(t + 0.5 - s_i), so with integer durations a token's frames are
    numbered 0, 1, ..., d_i - 1. Frames past the last token count on from its start.
    """
    tokens = length_mask(token_lengths, durations.shape[1])
    d = durations.float() * tokens
    ends = torch.cumsum(d, 1)  # (B, N)
    tau = torch.arange(frames, device=d.device, dtype=torch.float32) + 0.5
    tau = tau.expand(d.shape[0], frames).contiguous()
    index = torch.searchsorted(ends.contiguous(), tau, right=True)  # first i with e_i > tau
    last = (token_lengths - 1).clamp_min(0)[:, None]
    index = torch.minimum(index, last)
    starts = (ends - d).gather(1, index)
    return torch.floor(tau - starts).clamp_min(0)


def sinusoidal_embedding(positions: torch.Tensor, dim: int,
                         max_timescale: float = 1.0e4) -> torch.Tensor:
    """Transformer timing signal (Vaswani et al., 2017): (...) positions -> (..., dim).

    The first half of the channels are sines, the second cosines, at timescales spaced
    geometrically from 1 to max_timescale.
    """
    if dim % 2:
        raise ValueError(f"the embedding needs an even number of channels, got {dim}")
    half = dim // 2
    scales = torch.exp(-math.log(max_timescale) * torch.arange(half, device=positions.device,
                                                               dtype=torch.float32)
                       / max(half - 1, 1))
    angles = positions.float()[..., None] * scales
    return torch.cat([angles.sin(), angles.cos()], -1)
