"""Magnitude pruning maths shared by DSD (arXiv 1607.04381), gradual pruning (1704.05119) and
sparse inference: which weights a layer keeps, and the schedules that say how many.

Masks are boolean tensors shaped like their weight, True where the weight is kept. They are
applied in place (``weight *= mask``) rather than through ``torch.nn.utils.prune``'s
reparametrisation, which renames each pruned parameter ``<name>_orig``: checkpoints, bundles
and the optimiser would then see different parameters in a pruned and a dense model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from speechzoo.errors import ConfigError


def _block_scores(weight: Tensor, block: Sequence[int]) -> Tensor:
    """(R, C) -> (ceil(R / br), ceil(C / bc)): each block's largest magnitude (the block
    pruning of Narang et al., arXiv 1711.02782, section 3)."""
    br, bc = block
    rows, cols = weight.shape
    padded = weight.new_zeros(math.ceil(rows / br) * br, math.ceil(cols / bc) * bc)
    padded[:rows, :cols] = weight.abs()
    return padded.view(padded.shape[0] // br, br, -1, bc).amax(dim=(1, 3))


def magnitude_mask(weight: Tensor, sparsity: float,
                   block: Sequence[int] | None = None) -> Tensor:
    """Keep the largest-magnitude ``1 - sparsity`` of ``weight`` (ties broken by position).

    Args:
        weight: any shape; with ``block`` (rows, cols) a 2-D view of it is pruned in whole
            blocks by each block's largest magnitude: (D * H, G) for DS2's recurrent (D, H, G)
            stack of U matrices (so blocks stay within one direction when H is a multiple of
            the block's rows), (shape[0], rest) otherwise.
        sparsity: fraction of weights (or blocks) to zero, in [0, 1).

    Returns a bool tensor like ``weight``, True where kept.
    """
    if not 0.0 <= sparsity < 1.0:
        raise ConfigError(f"sparsity must be in [0, 1), got {sparsity}")
    rows = weight.shape[0] * weight.shape[1] if weight.dim() == 3 else weight.shape[0]
    flat = weight.detach().float().reshape(rows, -1) if block else weight.detach()
    scores = _block_scores(flat, block) if block else flat.abs()
    drop = int(round(sparsity * scores.numel()))
    keep = torch.ones(scores.numel(), dtype=torch.bool, device=weight.device)
    if drop:
        keep[scores.flatten().float().argsort(stable=True)[:drop]] = False
    keep = keep.view(scores.shape)
    if block:
        br, bc = block
        keep = keep.repeat_interleave(br, 0).repeat_interleave(bc, 1)
        keep = keep[:flat.shape[0], :flat.shape[1]]
    return keep.reshape(weight.shape)


def threshold_mask(weight: Tensor, threshold: float) -> Tensor:
    """Keep the weights whose magnitude is at least ``threshold`` (Narang et al., section 3)."""
    return weight.detach().abs() >= threshold


def sparsity_of(mask_or_weight: Tensor) -> float:
    """Fraction of zeros (False entries of a mask)."""
    return 1.0 - mask_or_weight.count_nonzero().item() / max(1, mask_or_weight.numel())


def cubic_sparsity(step: int, final: float, start: int, end: int, initial: float = 0.0) -> float:
    """Zhu and Gupta's schedule (arXiv 1710.01878, eq. 1): from ``initial`` at ``start`` to
    ``final`` at ``end``, fast at first and levelling off: s_t = s_f + (s_i - s_f)(1 - p)^3."""
    if step < start:
        return 0.0
    progress = min(1.0, (step - start) / max(1, end - start))
    return final + (initial - final) * (1.0 - progress) ** 3


def narang_threshold(step: int, theta: float, start: int, ramp: int, end: int,
                     freq: int, phi: float | None = None) -> float:
    """The threshold epsilon of Narang et al. (arXiv 1704.05119, section 3, Table 1): it
    rises with slope ``theta / freq`` per iteration from ``start`` to ``ramp``, then with
    ``phi / freq`` (phi = 1.5 theta, section 3.2) until ``end``, then holds; 0 before
    ``start``. Masks are recomputed every ``freq`` iterations with it."""
    if step < start:
        return 0.0
    phi = 1.5 * theta if phi is None else phi
    step = min(step, end)
    if step < ramp:
        return theta * (step - start + 1) / freq
    return (theta * (ramp - start + 1) + phi * (step - ramp + 1)) / freq


def narang_theta(q: float, start: int, ramp: int, end: int, freq: int) -> float:
    """The paper's heuristic for the start slope (section 3.2):
    theta = 2 q freq / (2 (ramp - start) + 3 (end - ramp)), which makes the threshold reach
    ``q`` at ``end``. The paper takes q as the 90th percentile of the layer's weight
    magnitudes for about 90% sparsity; any quantile targets that sparsity."""
    return 2.0 * q * freq / (2.0 * (ramp - start) + 3.0 * (end - ramp))


def quantile_of_magnitude(weight: Tensor, fraction: float) -> float:
    """The ``fraction`` quantile of |weight| (the paper's q)."""
    values = weight.detach().abs().float().flatten()
    k = min(values.numel(), max(1, int(round(fraction * values.numel()))))
    return values.kthvalue(k).values.item()


def prunable(module: nn.Module, names: Sequence[str] = ("weight", "recurrent"),
             min_size: int = 1024) -> dict[str, nn.Parameter]:
    """The matrices worth pruning: parameters called ``names`` (Linear/Conv ``weight``, DS2's
    recurrent ``recurrent``), with at least ``min_size`` entries (norm scales and biases stay
    dense, as in both papers), by their full name."""
    return {name: p for name, p in module.named_parameters()
            if name.rsplit(".", 1)[-1] in names and p.dim() >= 2 and p.numel() >= min_size}
