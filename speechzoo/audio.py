"""Audio in and out: load (soundfile), resample, mono-mix, save atomically.

Features (spectrograms) are in ``speechzoo.features``.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.transforms as T

from speechzoo.errors import AudioError, DataError
from speechzoo.files import atomic_path

SAMPLE_RATE = 16000  # what the ASR models listen at; other rates are resampled to it


def audio_seconds(path: str | os.PathLike, source: str) -> float:
    """A corpus file's duration from its header (no decoding), to the millisecond.

    Raises:
        DataError: for a file that cannot be read or holds no samples, saying to replace it
            from ``source`` (e.g. "the LJ Speech archive").
    """
    try:
        info = sf.info(str(path))
    except (RuntimeError, OSError) as e:  # LibsndfileError subclasses RuntimeError
        raise DataError(f"cannot read audio {path} ({e}); the file is damaged - replace it "
                        f"from {source}") from None
    if info.samplerate <= 0 or info.frames <= 0:
        raise DataError(f"audio {path} holds no samples; replace it from {source}")
    return round(info.frames / info.samplerate, 3)


def load_audio(path: str | os.PathLike, sample_rate: int | None = None, offset: float = 0.0,
               duration: float | None = None) -> tuple[np.ndarray, int]:
    """Read an audio file (or the window ``[offset, offset + duration)`` seconds of it) as mono
    float32.

    Args:
        path: any format libsndfile reads (WAV, FLAC, OGG, MP3, ...).
        sample_rate: resample to this rate; ``None`` keeps the file's rate.
        offset, duration: the window to read (seconds; ``duration`` None: to the end); only
            that part is decoded, and a window past the end gives what the file holds.

    Returns:
        ``(waveform, rate)``; waveform has shape (samples,) and values in [-1, 1].

    Raises:
        AudioError: the file is missing, cannot be decoded, or holds no samples.
    """
    path = Path(path)
    if path.is_dir():
        raise AudioError(f"{path} is a folder, not an audio file; give the files in it, e.g. "
                         f"{path}/*.wav")
    if not path.is_file():
        raise AudioError(f"audio file {path} does not exist; check the path")
    try:
        with sf.SoundFile(path) as f:
            rate = f.samplerate
            if offset > 0:
                f.seek(min(int(round(offset * rate)), f.frames))
            frames = -1 if duration is None else int(round(duration * rate))
            data = f.read(frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise AudioError(f"could not decode {path} ({e}); convert it to WAV or FLAC, e.g. "
                         f"`ffmpeg -i {path.name} out.wav`") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path} holds no audio samples")
    wav = data.mean(axis=1)
    if sample_rate is not None and rate != sample_rate:
        wav, rate = resample(wav, rate, sample_rate), sample_rate
    return wav, rate


def as_mono(waveform: np.ndarray | torch.Tensor) -> np.ndarray:
    """A user's waveform, (samples,), (channels, samples) or (samples, channels), as mono float32.

    The shorter axis of a 2-D array is taken to be the channels.
    """
    wav = waveform.detach().cpu().float().numpy() if torch.is_tensor(waveform) else np.asarray(
        waveform, dtype=np.float32)
    if wav.ndim == 2:
        wav = wav.mean(axis=0 if wav.shape[0] <= wav.shape[1] else 1)
    if wav.ndim != 1:
        raise AudioError(f"expected a waveform of shape (samples,) or (channels, samples), got "
                         f"{tuple(wav.shape)}")
    if wav.size == 0:
        raise AudioError("the waveform holds no samples")
    if not np.isfinite(wav).all():
        raise AudioError("the waveform holds NaN or infinite values")
    return wav.astype(np.float32, copy=False)


def waveform_at(audio: str | os.PathLike | np.ndarray | torch.Tensor, rate: int,
                sample_rate: int | None = None) -> np.ndarray:
    """What a pipeline is given -> mono float32 samples at ``rate``: a file (read and
    resampled) or samples with their ``sample_rate`` (mixed to mono and resampled).

    Raises:
        AudioError: an unreadable or empty file, samples without their rate, or no samples.
    """
    if isinstance(audio, (str, os.PathLike)):
        return load_audio(audio, rate)[0]
    if sample_rate is None:
        raise AudioError("a waveform needs its sample_rate: e.g. transcribe(wav, "
                         "sample_rate=16000)")
    wav = as_mono(audio)
    if not len(wav):
        raise AudioError("the waveform holds no samples")
    return resample(wav, sample_rate, rate)


def resample(wav: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Band-limited resampling (torchaudio's windowed sinc)."""
    if orig_rate <= 0:
        raise AudioError(f"sample rate must be positive, got {orig_rate}")
    if orig_rate == new_rate:
        return wav
    with torch.inference_mode():
        return _resampler(orig_rate, new_rate)(torch.from_numpy(np.ascontiguousarray(wav))).numpy()


@functools.lru_cache(maxsize=16)
def _resampler(orig_rate: int, new_rate: int, device: str = "cpu") -> T.Resample:
    # Building the sinc kernel costs more than applying it: build it once per rate pair
    # (and device, so that a GPU batch never moves the kernel the CPU loaders share).
    return T.Resample(orig_rate, new_rate).to(device)


def change_speed(waveforms: torch.Tensor, lengths: torch.Tensor,
                 factor: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Speed perturbation (Ko et al., Interspeech 2015): play ``factor`` times faster, which
    scales tempo, pitch and formants together, like a shorter or longer vocal tract.

    Resamples from ``factor * r`` to ``r`` for a nominal ``r``; only the ratio matters, and
    ``factor`` is rounded to a ratio of small integers (1/100ths) to keep the kernel small.
    Padding stays padding: the resampler pads with zeros itself, so a padded sequence's
    samples within its new length equal those of the sequence alone.

    Shape: waveforms (B, samples), lengths (B,) -> (B, samples'), (B,).
    """
    if factor <= 0:
        raise ValueError(f"speed factor must be positive, got {factor}")
    orig = int(round(factor * 100))
    if orig == 100:
        return waveforms, lengths
    out = _resampler(orig, 100, str(waveforms.device))(waveforms)
    new_lengths = torch.div(lengths * 100 + orig - 1, orig, rounding_mode="floor")
    return out, new_lengths.clamp_max(out.shape[-1])


def save_audio(path: str | os.PathLike, wav: np.ndarray, sample_rate: int) -> Path:
    """Write a waveform atomically (format from the file's extension)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        sf.write(tmp, np.asarray(wav, dtype=np.float32), sample_rate)
    return path
