"""Losses as small pure functions."""

from __future__ import annotations

from collections.abc import Callable

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


# Vocoder losses (Parallel WaveNet, arXiv 1711.10433 section 3).


def distillation_kl(mean: torch.Tensor, log_scale: torch.Tensor,
                    teacher_log_prob: Callable[[torch.Tensor], torch.Tensor], samples: int = 4,
                    generator: torch.Generator | None = None):
    """Probability density distillation, KL(P_S || P_T) = H(P_S, P_T) - H(P_S) per sample
    (section 3, eq. 5-6).

    The student's output at ``t`` given ``z_<t`` is a logistic with location ``mean`` and
    scale ``exp(log_scale)``, so its entropy is ``log s + 2`` in closed form; the
    cross-entropy is estimated by drawing ``samples`` values per time step from that
    logistic and scoring them under the teacher's distribution at ``t``, which one parallel
    teacher pass over the student's own audio gives (``teacher_log_prob``).

    Args:
        mean, log_scale: (B, T) the student's per-step logistic.
        teacher_log_prob: (S, B, T) candidate samples -> (S, B, T) teacher log-likelihoods.
        samples: draws per time step.

    Returns (kl, cross_entropy, entropy), each averaged over samples (nats).
    """
    entropy = (log_scale.float() + 2.0).mean()
    u = torch.rand((samples, *mean.shape), generator=generator,
                   device=mean.device).clamp(1e-5, 1 - 1e-5)
    draws = mean + torch.exp(log_scale) * (torch.log(u) - torch.log1p(-u))
    cross_entropy = -teacher_log_prob(draws).float().mean()
    return cross_entropy - entropy, cross_entropy, entropy


def power_loss(audio: torch.Tensor, target: torch.Tensor, n_fft: int = 1024,
               hop: int = 256) -> torch.Tensor:
    """The power loss ``|| |STFT(x)|^2 - |STFT(y)|^2 ||^2`` averaged over frames and bins
    (section 3.2), which keeps the student out of whispering. The STFT is divided by the
    window's root energy, so white noise of variance v has expected power v in every bin
    whatever ``n_fft`` (weights stay comparable across front ends).

    Shape: audio, target (B, T) -> scalar.
    """
    window = torch.hann_window(n_fft, device=audio.device)

    def power(x: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(x.float(), n_fft, hop, window=window, center=False,
                          return_complex=True)
        return spec.abs().square() / window.square().sum()

    return (power(audio) - power(target)).square().mean()
