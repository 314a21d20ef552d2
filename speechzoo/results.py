"""What users receive: plain dataclasses, the same from the API, the CLI and the server."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from speechzoo.audio import save_audio


@dataclass
class Word:
    """A recognised word and where it lies in the audio (seconds)."""

    text: str
    start: float
    end: float


@dataclass
class Transcript:
    """A transcription with its words' times (``transcribe(..., timestamps=True)``)."""

    text: str
    words: list[Word] = field(default_factory=list)


@dataclass
class Audio:
    """A mono waveform: float32 samples in [-1, 1], shape (samples,), and its rate."""

    waveform: np.ndarray
    sample_rate: int

    @property
    def duration(self) -> float:
        """Seconds of audio."""
        return len(self.waveform) / self.sample_rate

    def save(self, path: str | os.PathLike) -> None:
        """Write the audio (format from the extension), atomically."""
        save_audio(path, self.waveform, self.sample_rate)
