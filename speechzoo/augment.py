"""Training-time augmentation on batches: for music (:class:`AudioAugment`: a random smooth
equaliser, a random level and pink noise, all in one FFT of each clip) and for speech
(:class:`SpeechAugment`: tempo, room reverberation, noise, a telephone line, vocal tract
length perturbation and SpecAugment masks).

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
from collections.abc import Sequence

import torch
from torch import nn
from torchaudio.functional import mu_law_decoding, mu_law_encoding, phase_vocoder

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


def reverberate(waves: torch.Tensor, lengths: torch.Tensor, rt60: torch.Tensor,
                drr_db: torch.Tensor, sample_rate: int, generator: torch.Generator,
                ) -> torch.Tensor:
    """Convolve each clip with a simulated room impulse response: a direct path and a tail of
    Gaussian noise decaying by 60 dB over ``rt60`` seconds (the statistical model of late
    reverberation), its energy ``drr_db`` below the direct path's. The output keeps each
    clip's length (the tail past its end is cut) and its RMS level; padding stays zero.

    Shape: waves (B, N), lengths, rt60, drr_db (B,) -> (B, N).
    """
    b, n = waves.shape
    taps = max(2, int(float(rt60.max()) * sample_rate))
    t = torch.arange(taps) / sample_rate
    tail = torch.randn(b, taps, generator=generator) * torch.exp(-6.9078 * t / rt60[:, None])
    tail[:, 0] = 0
    tail = tail * (10 ** (-drr_db / 20) / tail.square().sum(-1).sqrt().clamp_min(1e-9))[:, None]
    tail[:, 0] = 1.0  # the direct path
    size = n + taps
    wet = torch.fft.irfft(torch.fft.rfft(waves.float(), size) * torch.fft.rfft(tail, size), size)
    mask = length_mask(lengths, n).to(wet.dtype)
    wet = wet[:, :n] * mask
    rms = lambda x: (x.square().sum(-1) / lengths.clamp_min(1)).sqrt()  # noqa: E731
    return (wet * (rms(waves.float()) / rms(wet).clamp_min(1e-9))[:, None]).to(waves.dtype)


def telephone(waves: torch.Tensor, lengths: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """A telephone channel: the 300-3,400 Hz band of an 8 kHz line, then 8-bit mu-law
    (G.711) quantisation. Shape: (B, N), (B,) -> (B, N)."""
    n = waves.shape[-1]
    spectrum = torch.fft.rfft(waves.float())
    hz = torch.fft.rfftfreq(n, 1 / sample_rate)
    band = torch.fft.irfft(spectrum * ((hz >= 300) & (hz <= 3400)), n)
    peak = band.abs().amax(-1, keepdim=True).clamp_min(1e-9)
    quantised = mu_law_decoding(mu_law_encoding(band / peak, 256), 256) * peak
    return (quantised * length_mask(lengths, n)).to(waves.dtype)


def change_tempo(waves: torch.Tensor, lengths: torch.Tensor, factor: float,
                 n_fft: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Play ``factor`` times faster at the same pitch and formants (a phase vocoder on the
    STFT, torchaudio's ``phase_vocoder``), unlike speed perturbation, which shifts them.

    Shape: (B, N), (B,) -> (B, N'), (B,) with N' about N / factor.
    """
    if factor <= 0:
        raise ValueError(f"tempo factor must be positive, got {factor}")
    if factor == 1.0:
        return waves, lengths
    hop = n_fft // 4
    window = torch.hann_window(n_fft)
    spec = torch.stft(waves.float(), n_fft, hop, window=window, return_complex=True)
    advance = torch.linspace(0, math.pi * hop, spec.shape[-2])[:, None]
    stretched = phase_vocoder(spec, factor, advance)
    new_lengths = torch.ceil(lengths / factor).long()
    out = torch.istft(stretched, n_fft, hop, window=window, length=int(new_lengths.max()))
    return (out * length_mask(new_lengths, out.shape[-1])).to(waves.dtype), new_lengths


def warp_frequencies(spec: torch.Tensor, alpha: torch.Tensor, boundary: float = 0.8,
                     ) -> torch.Tensor:
    """Vocal tract length perturbation (Jaitly & Hinton 2013): the frequency axis of each
    spectrogram scaled by ``alpha``, piecewise linearly so that the band edge stays put
    (the scale holds up to ``boundary`` x Nyquist x min(alpha, 1) / alpha, then a straight
    line to Nyquist). Each output bin reads the input at its pre-image by linear
    interpolation. Shape: spec (B, F, T), alpha (B,) -> (B, F, T).
    """
    f = spec.shape[1]
    bins = torch.arange(f, dtype=torch.float32)[None, :]  # output bins
    nyquist = f - 1
    knee = (boundary * nyquist * alpha.clamp(max=1.0) / alpha)[:, None]
    a = alpha[:, None]
    # the forward warp is w(x) = a x below the knee, linear to (nyquist, nyquist) above;
    # its inverse at the output bins gives where to read
    source = torch.where(bins <= a * knee, bins / a,
                         knee + (bins - a * knee) * (nyquist - knee) / (nyquist - a * knee))
    lo = source.floor().long().clamp(0, f - 2)
    frac = (source - lo).clamp(0, 1).unsqueeze(-1).to(spec.dtype)
    gather = lambda idx: spec.gather(1, idx.unsqueeze(-1).expand(-1, -1, spec.shape[-1]))  # noqa: E731
    return gather(lo) * (1 - frac) + gather(lo + 1) * frac


def mask_spectrogram(spec: torch.Tensor, frames: torch.Tensor, freq_masks: int,
                     freq_width: int, time_masks: int, time_width: float,
                     generator: torch.Generator) -> torch.Tensor:
    """SpecAugment's masks (Park et al. 2019, section 2): ``freq_masks`` bands of up to
    ``freq_width`` bins and ``time_masks`` spans of up to ``time_width`` x each utterance's
    frames, set to the utterance's mean (zero for normalised features). Time masks stay
    within each utterance's frames. Shape: spec (B, F, T), frames (B,) -> (B, F, T).
    """
    b, f, t = spec.shape
    valid = length_mask(frames, t)[:, None, :].to(spec.dtype)
    mean = (spec * valid).sum((1, 2)) / (frames.clamp_min(1) * f)
    keep = torch.ones(b, f, t, dtype=torch.bool)
    rand = lambda *shape: torch.rand(*shape, generator=generator)  # noqa: E731
    for _ in range(freq_masks):
        width = (rand(b) * (freq_width + 1)).long()
        start = (rand(b) * (f - width + 1)).long()
        band = torch.arange(f)[None, :]
        keep &= ~((band >= start[:, None]) & (band < (start + width)[:, None]))[:, :, None]
    for _ in range(time_masks):
        width = (rand(b) * (time_width * frames + 1)).long()
        start = (rand(b) * (frames - width + 1).clamp_min(1)).long()
        step = torch.arange(t)[None, :]
        keep &= ~((step >= start[:, None]) & (step < (start + width)[:, None]))[:, None, :]
    return torch.where(keep, spec, mean[:, None, None].to(spec.dtype))


class SpeechAugment(nn.Module):
    """On-the-fly augmentation of speech training batches, every part switchable (the
    defaults switch all off) and each clip's draws decided by (seed, training step), so a run
    repeats exactly, resumed or not. Identity in eval mode.

    Waveforms (:meth:`forward`), in this order: tempo (one factor per batch), room
    reverberation, pink noise at a random SNR with a random gain, a telephone channel.
    Features (:meth:`features`, the acoustic model calls it on its spectrogram): vocal tract
    length perturbation, then SpecAugment masks. Speed perturbation is ``ASRTask``'s own.

    Args:
        sample_rate: of the waveforms.
        tempo: factors (e.g. ``[0.9, 1.0, 1.1]``) one of which each batch plays at.
        reverb_p: share of clips reverberated; ``rt60`` (s) and ``drr_db`` (direct-to-
            reverberant ratio) are drawn uniformly from their ranges.
        noise_p: share of clips given noise at ``noise_snr_db`` and a gain within
            +-``gain_db``.
        telephone_p: share of clips sent through an 8 kHz mu-law line.
        vtlp: warp factors are uniform in ``[1 - vtlp, 1 + vtlp]`` (0: off; 0.1 is usual).
        freq_masks, freq_width, time_masks, time_width: SpecAugment (``mask_spectrogram``).
        seed: with the step, seeds every draw.

    Shape: forward (B, N), (B,), step -> (B, N'), (B,); features (B, F, T), (B,), step ->
    (B, F, T).
    """

    def __init__(self, sample_rate: int = 16000, tempo: Sequence[float] = (),
                 reverb_p: float = 0.0, rt60: tuple[float, float] = (0.2, 0.8),
                 drr_db: tuple[float, float] = (0.0, 10.0), noise_p: float = 0.0,
                 noise_snr_db: tuple[float, float] = (5.0, 30.0), gain_db: float = 6.0,
                 telephone_p: float = 0.0, vtlp: float = 0.0, freq_masks: int = 0,
                 freq_width: int = 27, time_masks: int = 0, time_width: float = 0.05,
                 seed: int = 0) -> None:
        super().__init__()
        probabilities = (reverb_p, noise_p, telephone_p)
        if not all(0.0 <= p <= 1.0 for p in probabilities) or not 0.0 <= vtlp < 1.0:
            raise ConfigError(f"augment: reverb_p, noise_p and telephone_p must be in [0, 1] "
                              f"and vtlp in [0, 1); got {probabilities}, vtlp={vtlp}")
        if any(f <= 0 for f in tempo) or rt60[0] <= 0 or rt60[0] > rt60[1]:
            raise ConfigError(f"augment: tempo factors must be positive and rt60 a (low, high) "
                              f"range of seconds; got tempo={tempo}, rt60={rt60}")
        self.sample_rate, self.tempo, self.seed = sample_rate, tuple(tempo), seed
        self.reverb_p, self.rt60, self.drr_db = reverb_p, tuple(rt60), tuple(drr_db)
        self.telephone_p, self.vtlp = telephone_p, vtlp
        self.masks = (freq_masks, freq_width, time_masks, time_width)
        self.noise = AudioAugment(sample_rate, gain_db=gain_db, noise_snr_db=noise_snr_db,
                                  p=noise_p) if noise_p > 0 else None

    def _generator(self, step: int, part: int) -> torch.Generator:
        return torch.Generator().manual_seed((self.seed * 1_000_003 + step) * 4 + part)

    def forward(self, waves: torch.Tensor, lengths: torch.Tensor, step: int,
                ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.training:
            return waves, lengths
        g = self._generator(step, 0)
        if self.tempo:
            factor = self.tempo[int(torch.randint(len(self.tempo), (1,), generator=g))]
            waves, lengths = change_tempo(waves, lengths, factor)
        b = len(lengths)
        draw = lambda low, high: low + (high - low) * torch.rand(b, generator=g)  # noqa: E731
        if self.reverb_p > 0:
            wet = reverberate(waves, lengths, draw(*self.rt60), draw(*self.drr_db),
                              self.sample_rate, g)
            waves = torch.where(torch.rand(b, 1, generator=g) < self.reverb_p, wet, waves)
        if self.noise is not None:
            self.noise.generator = g
            waves = self.noise(waves, lengths)
        if self.telephone_p > 0:
            line = telephone(waves, lengths, self.sample_rate)
            waves = torch.where(torch.rand(b, 1, generator=g) < self.telephone_p, line, waves)
        return waves, lengths

    def features(self, spec: torch.Tensor, frames: torch.Tensor, step: int) -> torch.Tensor:
        if not self.training:
            return spec
        g = self._generator(step, 1)
        if self.vtlp > 0:
            alpha = 1 + self.vtlp * (2 * torch.rand(len(frames), generator=g) - 1)
            spec = warp_frequencies(spec, alpha)
        if self.masks[0] or self.masks[2]:
            spec = mask_spectrogram(spec, frames, *self.masks, generator=g)
        return spec
