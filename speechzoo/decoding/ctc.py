"""Decoding of per-frame CTC outputs."""

from __future__ import annotations

import torch

from speechzoo.text.tokenizers import CharTokenizer


def ctc_greedy(log_probs: torch.Tensor, lengths: torch.Tensor, blank: int = 0) -> list[list[int]]:
    """Best path: argmax per frame, merge repeats, drop blanks.

    Args:
        log_probs: (B, T, C); lengths: (B,).

    Returns:
        One list of label ids per utterance.
    """
    best = log_probs.argmax(-1).cpu()
    out = []
    for path, n in zip(best, lengths.tolist(), strict=True):
        ids = torch.unique_consecutive(path[:n]).tolist()
        out.append([i for i in ids if i != blank])
    return out


def greedy_transcripts(log_probs: torch.Tensor, lengths: torch.Tensor,
                       tokenizer: CharTokenizer) -> list[str]:
    """Best-path transcripts, with runs of spaces collapsed."""
    return [" ".join(tokenizer.decode(ids).split())
            for ids in ctc_greedy(log_probs, lengths, tokenizer.blank)]
