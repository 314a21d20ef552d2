"""Losses as small pure functions."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from speechzoo.errors import DataError


def ctc_frames_needed(labels: torch.Tensor, label_lengths: torch.Tensor) -> torch.Tensor:
    """Frames CTC needs for each label sequence: its length plus one blank per repeat."""
    repeats = (labels[:, 1:] == labels[:, :-1]) & (
        torch.arange(1, labels.shape[1], device=labels.device)[None] < label_lengths[:, None])
    return label_lengths + repeats.sum(1)


def ctc_loss(log_probs: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor,
             label_lengths: torch.Tensor, blank: int = 0) -> torch.Tensor:
    """Connectionist Temporal Classification loss, averaged over the batch.

    Each utterance's negative log-likelihood is divided by its label length (PyTorch's
    ``reduction="mean"``), so the scale does not grow with transcript length. On CUDA with
    float32 inputs PyTorch picks cuDNN's implementation where its constraints allow.

    Args:
        log_probs: (B, T, C) log-probabilities.
        lengths: (B,) valid frames.
        labels: (B, L) label ids, padded.
        label_lengths: (B,) valid labels.

    Raises:
        DataError: if a transcript needs more frames than its audio yields.
    """
    needed = ctc_frames_needed(labels, label_lengths)
    bad = (needed > lengths).nonzero().flatten().tolist()
    if bad:
        i = bad[0]
        raise DataError(f"utterance {i} of the batch has a transcript of {int(label_lengths[i])} "
                        f"labels that needs {int(needed[i])} frames, but its audio gives only "
                        f"{int(lengths[i])}: the audio is too short for its text, or the model's "
                        "time stride too large; drop such utterances or lower the stride")
    return F.ctc_loss(log_probs.float().transpose(0, 1), labels, lengths, label_lengths,
                      blank=blank, reduction="mean", zero_infinity=False)
