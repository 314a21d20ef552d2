"""A linear-chain conditional random field over label sequences (Lafferty et al. 2001): the
output layer Deep Voice 2 (arXiv 1705.08947, section 3.1) puts on its duration model, where a
phoneme's duration bucket depends on its neighbours' through learned pairwise potentials.

Score of labels ``y`` for emissions ``e``: ``sum_t e[t, y_t] + start[y_0] + sum_t
transitions[y_{t-1}, y_t]``; the likelihood normalises it over every labelling (forward
algorithm); decoding takes the best one (Viterbi). Padding (``mask`` False) is skipped, so a
padded batch gives each sequence's own result.
"""

from __future__ import annotations

import torch
from torch import nn


class LinearChainCRF(nn.Module):
    """Pairwise label potentials over a sequence of per-position emission scores.

    Args:
        n_labels: label classes.

    Shape: emissions (B, T, K), labels (B, T) long, mask (B, T) bool with every sequence's
    first position True and its valid positions first.
    """

    def __init__(self, n_labels: int) -> None:
        super().__init__()
        self.start = nn.Parameter(torch.zeros(n_labels))
        self.transitions = nn.Parameter(torch.zeros(n_labels, n_labels))

    def nll(self, emissions: torch.Tensor, labels: torch.Tensor,
            mask: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of ``labels`` per sequence. Shape: -> (B,)."""
        emissions = emissions.float()
        rows = torch.arange(len(labels), device=labels.device)
        score = self.start[labels[:, 0]] + emissions[rows, 0, labels[:, 0]]
        alpha = self.start + emissions[:, 0]  # (B, K) log-sum over paths ending in each label
        for t in range(1, emissions.shape[1]):
            step = mask[:, t]
            pair = (self.transitions[labels[:, t - 1], labels[:, t]]
                    + emissions[rows, t, labels[:, t]])
            score = score + pair * step
            nxt = torch.logsumexp(alpha[:, :, None] + self.transitions, dim=1) + emissions[:, t]
            alpha = torch.where(step[:, None], nxt, alpha)
        return torch.logsumexp(alpha, dim=1) - score

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The most likely labels (Viterbi); padding positions get label 0. Shape: -> (B, T)."""
        emissions = emissions.float()
        t_max = emissions.shape[1]
        best = self.start + emissions[:, 0]
        back, identity = [], torch.arange(emissions.shape[2], device=emissions.device)
        for t in range(1, t_max):
            scores, arg = (best[:, :, None] + self.transitions).max(dim=1)
            step = mask[:, t, None]
            best = torch.where(step, scores + emissions[:, t], best)
            # Past a sequence's end, keep the label: the back-pointer is the identity.
            back.append(torch.where(step, arg, identity.expand_as(arg)))
        labels = [best.argmax(dim=1)]
        for arg in reversed(back):
            labels.append(arg.gather(1, labels[-1][:, None])[:, 0])
        out = torch.stack(labels[::-1], dim=1)
        return out.masked_fill(~mask, 0)
