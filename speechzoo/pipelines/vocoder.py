"""Vocoders: log-mel frames -> waveform. A synthesiser takes one by name (``"griffin-lim"``)
or, once the WaveNet bundles exist, by bundle name, without its API changing."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch
import torchaudio.functional as AF

from speechzoo.checkpoints import Bundle, read_bundle
from speechzoo.errors import CheckpointError, ConfigError
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
        if mel.dim() != 2 or mel.shape[0] != self.front.bins or not mel.shape[1]:
            raise ConfigError(f"vocode takes a ({self.front.bins}, frames) log-mel with at "
                              f"least one frame, got {tuple(mel.shape)}")
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


class NeuralVocoder:
    """A vocoder bundle (``wavenet-en``: autoregressive, sample by sample;
    ``parallel-wavenet-en``: every sample at once), what ``speechzoo.load`` returns for one.

    Args:
        model: a network with ``generate(mel (B, n_mels, F), generator) -> (B, F * hop)``.
        features: the front end its mels come from (``Spectrogram(**TTS_MEL)``'s ``config``).
        device: where it runs.
    """

    def __init__(self, model: torch.nn.Module, features: dict[str, Any],
                 device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        self.features = dict(features)
        self.sample_rate: int = model.sample_rate

    @classmethod
    def from_bundle(cls, bundle: Bundle, device: torch.device) -> NeuralVocoder:
        features = bundle.frontend.get("features", {}).get("args")
        if bundle.task != "vocoder" or not features:
            raise CheckpointError(f"{bundle.source} is not a vocoder bundle (task "
                                  f"{bundle.task!r}, no mel front end)")
        return cls(bundle.build("vocoder"), features, device)

    @torch.inference_mode()
    def vocode(self, mel: torch.Tensor | np.ndarray, sample_rate: int | None = None,
               seed: int = 0) -> Audio:
        """Shape: mel (n_mels, frames) -> Audio of frames * hop samples.

        Args:
            mel: log-mel frames of the TTS front end (``features.TTS_MEL``).
            sample_rate: the rate the mels were computed at, if known; a mismatch is refused.
            seed: the noise (student) or sampling (WaveNet) is drawn from this seed.
        """
        mel = torch.as_tensor(mel, dtype=torch.float32, device=self.device)
        n_mels = self.model.n_mels
        if mel.dim() != 2 or mel.shape[0] != n_mels or not mel.shape[1]:
            raise ConfigError(f"vocode takes a ({n_mels}, frames) log-mel with at least one "
                              f"frame, got {tuple(mel.shape)}")
        if sample_rate is not None and sample_rate != self.sample_rate:
            raise ConfigError(f"these mels are of {sample_rate} Hz audio; the vocoder makes "
                              f"{self.sample_rate} Hz from mels of that rate "
                              f"(features.TTS_MEL); compute them at {self.sample_rate} Hz")
        generator = torch.Generator(self.device).manual_seed(seed)
        wav = self.model.generate(mel[None], generator)[0].clamp(-1, 1)
        return Audio(wav.cpu().numpy().astype(np.float32), self.sample_rate)


# name -> factory(features config, device); any other name is a vocoder bundle.
VOCODERS = {"griffin-lim": GriffinLim}


def make_vocoder(name: str, features: dict[str, Any],
                 device: str | torch.device = "cpu") -> Vocoder:
    """The vocoder called ``name`` (``"griffin-lim"`` or a vocoder bundle's name or path)
    for mels of the front end ``features``."""
    if name in VOCODERS:
        return VOCODERS[name](features, device=device)
    try:
        bundle = read_bundle(name)
    except CheckpointError as e:
        raise ConfigError(f"unknown vocoder {name!r}: neither one of {sorted(VOCODERS)} nor a "
                          f"vocoder bundle ({e})") from None
    vocoder = NeuralVocoder.from_bundle(bundle, torch.device(device))
    if vocoder.features != dict(features):
        raise ConfigError(f"vocoder {name!r} takes mels of another front end than this model "
                          f"makes ({vocoder.features} vs {dict(features)}); pair models "
                          "trained on the same features")
    return vocoder
