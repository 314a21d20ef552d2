"""Losses as small pure functions."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from speechzoo.errors import ConfigError, DataError
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


def sequence_cross_entropy(logits: torch.Tensor, targets: torch.Tensor,
                           pad: int = 0) -> torch.Tensor:
    """Teacher-forced cross-entropy per predicted symbol, padding (``pad``) left out; float32,
    so safe under autocast (the G2P decoder's loss).

    Shape: logits (B, U, V), targets (B, U) -> ().
    """
    return F.cross_entropy(logits.float().transpose(1, 2), targets, ignore_index=pad)


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


# Piano transcription losses (Onsets and Frames, arXiv 1710.11153 section 3; the offset and
# velocity heads of 1810.12247 section 4). Cross-entropies are computed in float32 from the
# logits, so they are safe under autocast.


def _frame_loss_weights(onset: torch.Tensor, frame: torch.Tensor, c: float) -> torch.Tensor:
    """The 2017 paper's frame weights (section 3): ``c`` on a note's onset frame, ``c / (t -
    t_on)`` on its later frames (the frame right after the onset also ``c``), 1 elsewhere,
    including frames of a note whose onset lies before the window.

    Shape: onset, frame (B, T, K) labels -> (B, T, K).
    """
    t = torch.arange(onset.shape[1], device=onset.device).view(1, -1, 1)
    minus_one = torch.full_like(t, -1)
    # The latest onset frame, and the latest silent frame, at or before each frame: the
    # frame belongs to the note of that onset if the onset is the later of the two.
    last_onset = torch.where(onset > 0.5, t, minus_one).cummax(1).values
    last_silent = torch.where(frame > 0.5, minus_one, t).cummax(1).values
    sounding = (frame > 0.5) & (last_onset > last_silent)
    decay = c / (t - last_onset).clamp_min(1).float()
    return torch.where(sounding, decay, torch.ones_like(decay))


def onsets_frames_loss(out, labels: dict[str, torch.Tensor], frames: torch.Tensor,
                       frame_weight: float | None = None) -> dict[str, torch.Tensor]:
    """The Onsets and Frames losses, one per head the model has.

    onset, offset, frame: binary cross-entropy of the logits against the labels, averaged over
    every valid (frame, key) of the batch. With ``frame_weight`` (the 2017 paper's c = 5,
    section 3) the frame term is the paper's weighted frame loss: each (frame, key) weighted as
    ``_frame_loss_weights`` says, then averaged (the MAESTRO model drops it: None).
    velocity: the squared error of the velocity output against the labels (velocity / 127),
    weighted by the onset labels and divided by their sum (1710.11153's velocity estimation;
    1810.12247 section 4): only onset frames train it.

    Args:
        out: an ``OnsetsFramesOutput`` (``speechzoo.models.onsets_frames``); heads that are
            None (no offset or velocity head) have no loss.
        labels: ``"onset"``, ``"offset"``, ``"frame"``, ``"velocity"`` -> (B, T, K) as
            ``speechzoo.data.piano.note_labels`` makes them.
        frames: (B,) valid frames per clip.

    Returns ``{"onset", "offset", "frame", "velocity"}`` -> scalar tensors (float32), without
    the keys of absent heads.
    """
    shape = out.frame.shape
    for key, value in labels.items():
        if key in ("onset", "offset", "frame", "velocity") and value.shape != shape:
            raise ValueError(f"labels[{key!r}] has shape {tuple(value.shape)} but the model's "
                             f"outputs {tuple(shape)}: crop labels and inputs to one length")
    valid = length_mask(frames, shape[1]).unsqueeze(-1)  # (B, T, 1)

    def bce(logits: torch.Tensor, target: torch.Tensor,
            weight: torch.Tensor | None = None) -> torch.Tensor:
        loss = F.binary_cross_entropy_with_logits(logits.float(), target.float(),
                                                  reduction="none")
        return _mean_over(loss if weight is None else loss * weight, valid)

    weight = None
    if frame_weight is not None:
        if not frame_weight > 0:
            raise ConfigError(f"frame_weight must be positive (the 2017 paper: 5) or None, got "
                              f"{frame_weight}")
        weight = _frame_loss_weights(labels["onset"], labels["frame"], frame_weight)
    losses = {"onset": bce(out.onset, labels["onset"])}
    if out.offset is not None:
        losses["offset"] = bce(out.offset, labels["offset"])
    losses["frame"] = bce(out.frame, labels["frame"], weight)
    if out.velocity is not None:
        err = (out.velocity.float() - labels["velocity"].float()).square()
        losses["velocity"] = _mean_over(err, labels["onset"].float() * valid)
    return losses


def voicing_f0_loss(voiced_logits: torch.Tensor, f0: torch.Tensor, voiced: torch.Tensor,
                    f0_target: torch.Tensor, frames: torch.Tensor, lengths: torch.Tensor,
                    smoothness: float = 0.1) -> dict[str, torch.Tensor]:
    """Deep Voice's voicing and F0 terms (arXiv 1702.07825, section 3.3): the voicing
    cross-entropy over phonemes that last at least a frame, the L1 error of the F0 contour over
    truly voiced phonemes, and a penalty on the contour's absolute change between its points
    (``smoothness`` times its mean) to keep it smooth.

    Shape: voiced_logits (B, N), f0 and f0_target (B, N, P) octaves, voiced and frames (B, N),
    lengths (B,) -> ``{"voicing", "f0", "f0_smoothness"}`` scalars.
    """
    mask = length_mask(lengths, voiced.shape[1]) & (frames > 0)
    bce = F.binary_cross_entropy_with_logits(voiced_logits.float(), voiced.float(),
                                             reduction="none")
    f0 = f0.float()
    on = (mask & (voiced > 0.5))[..., None]
    return {"voicing": _mean_over(bce, mask),
            "f0": _mean_over((f0 - f0_target.float()).abs(), on),
            "f0_smoothness": smoothness * _mean_over((f0[..., 1:] - f0[..., :-1]).abs(), on)}
