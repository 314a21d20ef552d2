"""Training-time audio augmentation on batches of waveforms: a random smooth equaliser, a
random level and pink noise, all in one FFT of each clip.

The MAESTRO paper (arXiv 1810.12247) trains Onsets and Frames with audio augmentation
(equalisation, level, reverb, pink noise) so that the model hears the piano rather than one
recording chain; a model trained on a few SoundFonts needs the same to transcribe a piano it
has never heard. Reverb is already in the synthetic corpora (rendered on and off), so it is
not repeated here.

The equaliser is a random gain curve in dB, drawn at ``eq_points`` frequencies evenly spaced
on a log axis from 50 Hz to Nyquist and interpolated between them: a smooth, zero-phase
filter like a few broad peaking bands. Noise is white noise shaped to 1/f power (pink) and
scaled to a random signal-to-noise ratio against the clip's own power. Padding stays zero.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from speechzoo.errors import ConfigError
from speechzoo.layers.normalization import length_mask

_EQ_LOW_HZ = 50.0


class AudioAugment(nn.Module):
    """Random equaliser, level and pink noise for training batches (identity in eval mode).

    Args:
        sample_rate: of the waveforms, Hz.
        eq_db: the equaliser's gain at each control point is uniform in ``[-eq_db, eq_db]``
            dB (0: no equaliser).
        eq_points: control points of the gain curve, log-spaced from 50 Hz to Nyquist.
        gain_db: the clip's level changes by a uniform ``[-gain_db, gain_db]`` dB.
        noise_snr_db: pink noise at a signal-to-noise ratio uniform in this range (dB), or
            None for no noise.
        p: each clip is augmented with this probability (the rest pass unchanged).
        seed: seeds the draws, so a run is repeatable.

    Shape: waveforms (B, N), lengths (B,) -> (B, N).
    """

    def __init__(self, sample_rate: int, eq_db: float = 0.0, eq_points: int = 6,
                 gain_db: float = 0.0, noise_snr_db: tuple[float, float] | None = None,
                 p: float = 1.0, seed: int = 0) -> None:
        super().__init__()
        if eq_db < 0 or gain_db < 0 or not 0.0 <= p <= 1.0 or eq_points < 2:
            raise ConfigError("augment: eq_db and gain_db must be >= 0, eq_points >= 2 and p "
                              f"in [0, 1]; got eq_db={eq_db}, gain_db={gain_db}, "
                              f"eq_points={eq_points}, p={p}")
        if noise_snr_db is not None and noise_snr_db[0] > noise_snr_db[1]:
            raise ConfigError(f"augment.noise_snr_db is a (low, high) range; got {noise_snr_db}")
        self.sample_rate, self.eq_db, self.eq_points = sample_rate, eq_db, eq_points
        self.gain_db, self.p = gain_db, p
        self.noise_snr_db = tuple(noise_snr_db) if noise_snr_db is not None else None
        self.generator = torch.Generator().manual_seed(seed)

    def _uniform(self, *shape: int, low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(*shape, generator=self.generator)

    def _gain_curve_db(self, batch: int, n_bins: int) -> torch.Tensor:
        """(B, n_bins) dB per rFFT bin: random control points on a log-frequency axis,
        linearly interpolated (flat below the first and above the last point)."""
        points = self._uniform(batch, self.eq_points, low=-self.eq_db, high=self.eq_db)
        nyquist = self.sample_rate / 2
        hz = torch.linspace(0, nyquist, n_bins).clamp_min(_EQ_LOW_HZ)
        # Position of each bin between the control points, 0 .. eq_points - 1.
        pos = (torch.log(hz / _EQ_LOW_HZ) / math.log(nyquist / _EQ_LOW_HZ)) * (self.eq_points - 1)
        lo = pos.floor().long().clamp(max=self.eq_points - 2)
        frac = (pos - lo).clamp(0, 1)
        return points[:, lo] * (1 - frac) + points[:, lo + 1] * frac

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return waveforms
        b, n = waveforms.shape
        mask = length_mask(lengths, n).to(waveforms.dtype)
        spectrum = torch.fft.rfft(waveforms.float() * mask)
        db = self._uniform(b, 1, low=-self.gain_db, high=self.gain_db)
        if self.eq_db > 0:
            db = db + self._gain_curve_db(b, spectrum.shape[-1])
        spectrum = spectrum * 10.0 ** (db / 20.0)
        if self.noise_snr_db is not None:
            spectrum = spectrum + self._pink_noise(spectrum, lengths, n)
        out = torch.fft.irfft(spectrum, n=n).to(waveforms.dtype) * mask
        chosen = torch.rand(b, 1, generator=self.generator) < self.p
        return torch.where(chosen, out, waveforms)

    def _pink_noise(self, spectrum: torch.Tensor, lengths: torch.Tensor, n: int) -> torch.Tensor:
        """Pink noise in the rFFT domain at a random SNR against each clip's power."""
        b, n_bins = spectrum.shape
        noise = torch.complex(torch.randn(b, n_bins, generator=self.generator),
                              torch.randn(b, n_bins, generator=self.generator))
        noise = noise / torch.arange(1, n_bins + 1).sqrt()  # 1/f power
        noise[:, 0] = 0  # no DC
        # Parseval: energies are proportional to the summed |X|^2. The signal's lies in its
        # own samples, the noise's spreads over the whole padded row before it is masked.
        signal = spectrum.abs().square().sum(-1) / lengths.clamp_min(1)
        power = noise.abs().square().sum(-1) / n
        low, high = self.noise_snr_db
        snr = self._uniform(b, low=low, high=high)
        scale = (signal / (power * 10.0 ** (snr / 10.0))).clamp_min(0).sqrt()
        return noise * scale[:, None]
