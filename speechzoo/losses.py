"""Losses as small pure functions."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from speechzoo.errors import DataError
from speechzoo.layers.normalization import length_mask


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


# Text-to-speech losses (Non-Attentive Tacotron, arXiv 2010.04301). Each computes in float32,
# so it is safe under autocast: squared errors of log-mels and durations overflow fp16.


def _mean_over(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of values over the True entries of mask (broadcast to values); 0 for none."""
    mask = mask.expand_as(values).float()
    return (values * mask).sum() / mask.sum().clamp_min(1)


def mel_loss(pred: torch.Tensor, target: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """L1 + L2 spectrogram loss over valid frames (section 3.3; applied to the mels before and
    after the post-net, one call each).

    Args:
        pred, target: (B, n_mels, T) log-mel spectrograms.
        lengths: (B,) valid frames.

    Returns the mean absolute error plus the mean squared error over every valid
    (frame, channel) of the batch.
    """
    err = pred.float() - target.float()
    mask = length_mask(lengths, err.shape[-1])[:, None, :]
    return _mean_over(err.abs(), mask) + _mean_over(err.square(), mask)


def duration_loss(pred: torch.Tensor, target: torch.Tensor, token_lengths: torch.Tensor,
                  frame_seconds: float = 1.0) -> torch.Tensor:
    """L2 loss between predicted and target token durations (section 3.3), averaged over
    valid tokens.

    Args:
        pred: (B, N) predicted durations in frames.
        target: (B, N) target durations in frames.
        token_lengths: (B,) valid tokens.
        frame_seconds: seconds per frame; the paper's loss is on durations in seconds
            (pass ``hop / sample_rate``); the default keeps frames.
    """
    err = (pred.float() - target.float()) * frame_seconds
    return _mean_over(err.square(), length_mask(token_lengths, err.shape[1]))


def utterance_duration_loss(pred_durations: torch.Tensor, mel_lengths: torch.Tensor,
                            token_lengths: torch.Tensor,
                            frame_seconds: float = 1.0) -> torch.Tensor:
    """Utterance-level duration loss for when token durations are unknown (section 4):
    the squared error between the predicted total duration and the true number of frames,
    divided by the number of tokens (so it is on the per-token scale of
    :func:`duration_loss`), averaged over the batch.

    Args:
        pred_durations: (B, N) predicted durations in frames.
        mel_lengths: (B,) true frames.
        token_lengths: (B,) valid tokens.
        frame_seconds: seconds per frame, as in :func:`duration_loss`.
    """
    valid = length_mask(token_lengths, pred_durations.shape[1])
    total = (pred_durations.float() * valid).sum(1)
    err = (total - mel_lengths.float()) * frame_seconds
    return (err.square() / token_lengths.float().clamp_min(1)).mean()


def kl_loss(mu: torch.Tensor, logvar: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) of per-token latents (the fine-grained VAE of
    section 4.1), summed over latent dimensions and averaged over valid tokens.

    Args:
        mu, logvar: (B, N, Z) posterior means and log-variances.
        mask: (B, N) bool, True on valid tokens.
    """
    mu, logvar = mu.float(), logvar.float()
    kl = 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(-1)
    return _mean_over(kl, mask)
