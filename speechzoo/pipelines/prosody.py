"""``ProsodyPredictor``: text or phonemes -> per-phoneme duration, voicing and F0 with a Deep
Voice duration/F0 bundle (``speechzoo.load("deepvoice-prosody-en")``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from speechzoo.checkpoints import Bundle
from speechzoo.data.prosody import frame_contour
from speechzoo.errors import CheckpointError, ConfigError, TextError
from speechzoo.text.phonemes import phonemize
from speechzoo.text.tokenizers import PhonemeTokenizer, tokenizer_from_dict


@dataclass
class Prosody:
    """Per phoneme (the end token last): its symbol, duration in seconds, probability of being
    voiced and F0 contour in Hz (``(N, points)``, spread uniformly over the duration)."""

    phonemes: list[str]
    durations: np.ndarray
    voiced: np.ndarray
    f0: np.ndarray

    def frame_f0(self, frame_seconds: float) -> np.ndarray:
        """F0 per frame of ``frame_seconds`` (0 where the phoneme is unvoiced): the contour
        points of each phoneme spread over its frames, what a vocoder is conditioned on."""
        ends = np.round(np.cumsum(self.durations) / frame_seconds).astype(int)
        return frame_contour(ends, self.voiced, self.f0)


class ProsodyPredictor:
    """Durations, voicing and F0 of a phoneme sequence.

    Args:
        model: a ``speechzoo.models.deepvoice.prosody.DurationF0Model``.
        tokenizer: its phoneme tokenizer.
        frame_seconds: seconds per duration frame (the corpus' hop / rate).
        device: where the network runs.
    """

    def __init__(self, model: torch.nn.Module, tokenizer: PhonemeTokenizer,
                 frame_seconds: float, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model, self.tokenizer = model.eval().to(self.device), tokenizer
        self.frame_seconds = frame_seconds

    @classmethod
    def from_bundle(cls, bundle: Bundle, device: torch.device) -> ProsodyPredictor:
        front = bundle.frontend
        if bundle.task != "prosody" or "phonemes" not in front:
            raise CheckpointError(f"{bundle.source} is not a duration/F0 bundle (task "
                                  f"{bundle.task!r})")
        return cls(bundle.build("prosody"), tokenizer_from_dict(front["phonemes"]),
                   front["hop"] / front["sample_rate"], device)

    def predict(self, text: str | None = None, phonemes: Sequence[str] | None = None,
                pace: float = 1.0, pitch: float = 1.0) -> Prosody:
        """Prosody of ``text`` (phonemised as the TTS models are: eSpeak NG, with glides) or of
        the given ``phonemes`` (symbols of ``speechzoo.text.phonemes.ENGLISH``).

        Args:
            pace: durations are divided by it (2 speaks twice as fast).
            pitch: F0 is multiplied by it (2 is an octave up).
        """
        if (text is None) == (phonemes is None):
            raise TextError("give either text or phonemes")
        if not (0.1 <= pace <= 10.0 and 0.25 <= pitch <= 4.0):
            raise ConfigError(f"pace must be in [0.1, 10] and pitch in [0.25, 4]; got pace "
                              f"{pace}, pitch {pitch}")
        symbols = phonemize(text, glides=True) if text is not None else list(phonemes)
        if not symbols:
            raise TextError("no phonemes to predict the prosody of")
        ids = torch.tensor([self.tokenizer.encode(symbols, add_end=True)], device=self.device)
        out = self.model.predict(ids, torch.tensor([ids.shape[1]]))
        return Prosody(symbols + ["<end>"],
                       out["frames"][0].cpu().numpy() * self.frame_seconds / pace,
                       out["voiced"][0].cpu().numpy(), out["f0_hz"][0].cpu().numpy() * pitch)
