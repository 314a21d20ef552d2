"""The one feature front end: STFT, power spectrogram, mel, log, per-utterance normalisation.

Deep Speech 2's input (log power spectrogram, normalised per utterance), Non-Attentive
Tacotron's targets and the WaveNet vocoders' conditioning (log-mel) and Onsets and Frames'
input (log-mel) are all one :class:`Spectrogram` with different settings. Every setting is a
constructor argument recorded in ``config``, so a bundle stores its front end and rebuilds it
(``speechzoo.checkpoints.network_spec``).

Framing never centres or reflects: frame ``t`` covers samples ``[t * hop, t * hop + win)``
and only frames that lie wholly inside a sequence count. The frames of a padded sequence are
therefore exactly those of the sequence alone, which keeps every model padding-invariant.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchaudio.functional as AF
from torch import nn

from speechzoo.layers.normalization import length_mask
from speechzoo.models import constructor_args

# The text-to-speech mel (Tacotron 2's, at the Piper voice's 22,050 Hz): 80 slaney mel bands
# of the magnitude up to 8 kHz, 1024-sample windows every 256 samples: Non-Attentive
# Tacotron's targets and the vocoders' conditioning. TTS_PAD samples of silence on each side
# centre frame t on sample 256 t + 128, so a clip of n * 256 samples gives exactly n frames,
# one per frame of its duration labels.
TTS_MEL = {"sample_rate": 22050, "window_ms": 1024 / 22.05, "hop_ms": 256 / 22.05,
           "n_fft": 1024, "power": 1.0, "n_mels": 80, "f_min": 0.0, "f_max": 8000.0,
           "mel_scale": "slaney", "log": True, "log_floor": 1e-5}
TTS_PAD = (1024 - 256) // 2


def frame_count(samples: torch.Tensor, window: int, hop: int) -> torch.Tensor:
    """Whole frames in sequences of ``samples`` samples (at least one: short input is padded)."""
    return torch.div(samples - window, hop, rounding_mode="floor").clamp_min(0) + 1


def normalize_per_utterance(x: torch.Tensor, frames: torch.Tensor,
                            eps: float = 1e-5) -> torch.Tensor:
    """Zero mean, unit variance per utterance and bin over its valid frames; padding -> 0.

    Shape: x (B, F, T), frames (B,) -> (B, F, T).
    """
    m = length_mask(frames, x.shape[-1]).unsqueeze(1).to(x.dtype)
    count = frames.view(-1, 1, 1).to(x.dtype)
    mean = (x * m).sum(-1, keepdim=True) / count
    std = ((((x - mean) * m) ** 2).sum(-1, keepdim=True) / count).sqrt()
    return (x - mean) / (std + eps) * m


class Spectrogram(nn.Module):
    """Waveforms -> (log) power or mel spectrogram frames.

    Args:
        sample_rate: rate of the input waveforms.
        window_ms, hop_ms: analysis window and stride (rounded to whole samples).
        n_fft: FFT size (default: the window length; larger zero-pads each frame).
        power: exponent of the magnitude (2: power, 1: magnitude).
        n_mels: mel bands (0: keep the ``n_fft // 2 + 1`` linear bins).
        f_min, f_max: mel band range in Hz (``f_max`` None: half the sample rate).
        mel_scale: ``"htk"`` or ``"slaney"`` (torchaudio's mel filter banks).
        log: take ``log(x + log_floor)``.
        log_floor: added before the log, so silence stays finite.
        normalize: normalise each utterance and bin to zero mean and unit variance over its
            valid frames (Deep Speech 2's input).

    Shape:
        waveforms (B, samples), lengths (B,) -> features (B, bins, frames), frames (B,).
        Frames beyond a sequence's length are zero when ``normalize``, else left as computed.
    """

    def __init__(self, sample_rate: int = 16000, window_ms: float = 20.0, hop_ms: float = 10.0,
                 n_fft: int | None = None, power: float = 2.0, n_mels: int = 0,
                 f_min: float = 0.0, f_max: float | None = None, mel_scale: str = "htk",
                 log: bool = True, log_floor: float = 1e-10, normalize: bool = False) -> None:
        self.config = constructor_args(locals())
        super().__init__()
        self.sample_rate = sample_rate
        self.win = int(round(sample_rate * window_ms / 1000))
        self.hop = int(round(sample_rate * hop_ms / 1000))
        self.n_fft = n_fft or self.win
        if self.win < 1 or self.hop < 1 or self.n_fft < self.win:
            raise ValueError(f"window {self.win}, hop {self.hop} and n_fft {self.n_fft} samples "
                             "must be positive, with n_fft >= the window")
        self.power, self.log, self.log_floor, self.normalize = power, log, log_floor, normalize
        self.register_buffer("window", torch.hann_window(self.win), persistent=False)
        if n_mels:
            banks = AF.melscale_fbanks(self.n_fft // 2 + 1, f_min, f_max or sample_rate / 2,
                                       n_mels, sample_rate, mel_scale=mel_scale)
            self.register_buffer("mel", banks.T.contiguous(), persistent=False)  # (mels, bins)
        else:
            self.mel = None

    @property
    def bins(self) -> int:
        """Feature rows per frame."""
        return self.mel.shape[0] if self.mel is not None else self.n_fft // 2 + 1

    def frames(self, samples: torch.Tensor) -> torch.Tensor:
        """Frames out for sequences of ``samples`` samples."""
        return frame_count(samples, self.win, self.hop)

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor):
        wav = waveforms.float()
        if wav.shape[-1] < self.win:
            wav = F.pad(wav, (0, self.win - wav.shape[-1]))
        spec = torch.stft(wav, self.n_fft, self.hop, self.win, window=self.window,
                          center=False, return_complex=True).abs().pow(self.power)
        if self.mel is not None:
            spec = torch.matmul(self.mel, spec)
        if self.log:
            spec = torch.log(spec + self.log_floor)
        n = self.frames(lengths)
        if self.normalize:
            spec = normalize_per_utterance(spec, n)
        return spec, n
