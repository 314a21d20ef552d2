"""Vocoders: log-mel frames -> waveform. A synthesiser takes one by name (``"griffin-lim"``)
or, once the WaveNet bundles exist, by bundle name, without its API changing."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch
import torchaudio.functional as AF

from speechzoo.errors import ConfigError
from speechzoo.features import Spectrogram
from speechzoo.results import Audio


class Vocoder(Protocol):
    sample_rate: int

    def vocode(self, mel: torch.Tensor | np.ndarray) -> Audio:
        """(n_mels, frames) log-mel of the TTS front end -> the waveform."""


class GriffinLim:
    """Griffin-Lim phase reconstruction (Griffin & Lim 1984; torchaudio's, with momentum as
    in Perraudin et al. 2013) of the linear magnitude that the mel least-squares gives.

    No training and no weights: what Tacotron's authors listened through before neural
    vocoders, and the reference the intelligibility target is set against (Griffin-Lim of
    the ground-truth mels).

    Args:
        features: the front end whose log-mel is inverted (``Spectrogram(**TTS_MEL)``'s
            ``config``), a magnitude (power 1) mel with a log.
        n_iter: Griffin-Lim iterations.
        momentum: the fast Griffin-Lim momentum.
        device: where it runs.
    """

    def __init__(self, features: dict[str, Any], n_iter: int = 60, momentum: float = 0.99,
                 device: str | torch.device = "cpu") -> None:
        self.front = Spectrogram(**features).to(device)
        if self.front.mel is None or not self.front.log:
            raise ConfigError("Griffin-Lim inverts a log-mel front end (n_mels > 0, log=True)")
        self.sample_rate, self.device = self.front.sample_rate, torch.device(device)
        # Least-squares inverse of the mel filter bank, clamped to magnitudes >= 0.
        self.inverse = torch.linalg.pinv(self.front.mel.double()).float()
        self.power, self.n_iter, self.momentum = self.front.power, n_iter, momentum

    @torch.no_grad()
    def vocode(self, mel: torch.Tensor | np.ndarray) -> Audio:
        """Shape: mel (n_mels, frames) -> Audio of about frames * hop samples."""
        mel = torch.as_tensor(mel, dtype=torch.float32, device=self.device)
        if mel.dim() != 2 or mel.shape[0] != self.front.bins:
            raise ConfigError(f"vocode takes a ({self.front.bins}, frames) log-mel, got "
                              f"{tuple(mel.shape)}")
        energy = (mel.exp() - self.front.log_floor).clamp_min(0.0)
        magnitude = (self.inverse @ energy).clamp_min(1e-8) ** (1.0 / self.power)
        # torchaudio centres frame t on sample t * hop; the TTS front end (audio padded by
        # TTS_PAD) on t * hop + hop / 2: half a hop of silence on each side keeps a clip of
        # n frames n * hop long and in place.
        hop = self.front.hop
        wav = AF.griffinlim(magnitude, self.front.window, self.front.n_fft, hop, self.front.win,
                            1.0, self.n_iter, self.momentum, (mel.shape[-1] - 1) * hop,
                            rand_init=False)
        wav = torch.nn.functional.pad(wav, (hop // 2, hop - hop // 2))
        peak = float(wav.abs().max()) if wav.numel() else 0.0
        wav = wav / peak * 0.95 if peak > 0.95 else wav  # no clipping when written
        return Audio(wav.cpu().numpy().astype(np.float32), self.sample_rate)


# name -> factory(features config, device); the neural vocoders join by bundle name.
VOCODERS = {"griffin-lim": GriffinLim}


def make_vocoder(name: str, features: dict[str, Any],
                 device: str | torch.device = "cpu") -> Vocoder:
    """The vocoder called ``name`` for a front end's mels."""
    if name not in VOCODERS:
        raise ConfigError(f"unknown vocoder {name!r}; known: {sorted(VOCODERS)}")
    return VOCODERS[name](features, device=device)
