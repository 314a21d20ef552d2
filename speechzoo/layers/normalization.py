"""Sequence-wise Batch Normalisation (Deep Speech 2, arXiv 1512.02595, section 3.2)."""

from __future__ import annotations

import torch
from torch import nn


def length_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B,) lengths -> (B, max_len) bool mask, True on valid frames."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


class SequenceBatchNorm(nn.BatchNorm1d):
    """BatchNorm whose statistics run over every *valid* frame of the minibatch.

    Padding frames take no part in the statistics, so in training as well as in evaluation a
    sequence's output does not depend on how much padding the batch gives it.

    Shape:
        x: (B, C, ..., T) with channels on dim 1 and time last; lengths: (B,).
        Output: same as x, with padding frames set to zero.
    """

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        dtype = x.dtype
        x = x.float()  # sums over every frame of a batch overflow float16
        mask = length_mask(lengths, x.shape[-1])  # (B, T)
        shape = (x.shape[0],) + (1,) * (x.dim() - 2) + (x.shape[-1],)
        m = mask.view(shape).to(x.dtype)  # (B, 1, ..., T)
        view = (1, -1) + (1,) * (x.dim() - 2)
        if self.training:
            dims = [d for d in range(x.dim()) if d != 1]
            count = (m.sum() * x[0, 0].numel() / x.shape[-1]).clamp_min(1)
            mean = (x * m).sum(dims) / count
            var = (((x - mean.view(view)) * m) ** 2).sum(dims) / count
            with torch.no_grad():
                unbiased = var * count / (count - 1).clamp_min(1)
                self.running_mean.lerp_(mean.detach(), self.momentum)
                self.running_var.lerp_(unbiased.detach(), self.momentum)
                self.num_batches_tracked += 1
        else:
            mean, var = self.running_mean, self.running_var
        y = (x - mean.view(view)) * torch.rsqrt(var.view(view) + self.eps)
        if self.affine:
            y = y * self.weight.view(view) + self.bias.view(view)
        return (y * m).to(dtype)
