"""``Segmenter``: a recording and its text -> where each phoneme starts and ends, with a Deep
Voice segmentation bundle (``speechzoo.load("deepvoice-segmentation-en")``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from speechzoo.audio import waveform_at
from speechzoo.checkpoints import Bundle
from speechzoo.data.segmentation import phoneme_pairs
from speechzoo.decoding.ctc import frames_needed, peak_frames
from speechzoo.errors import AudioError, CheckpointError, TextError
from speechzoo.text.phonemes import phonemize
from speechzoo.text.tokenizers import PhonemeTokenizer, tokenizer_from_dict


@dataclass
class Segment:
    """A phoneme and its span in seconds."""

    phoneme: str
    start: float
    end: float


class Segmenter:
    """Phoneme boundaries of a recording whose phonemes are known.

    Args:
        model: a ``speechzoo.models.deepspeech2.DeepSpeech2`` trained on phoneme pairs.
        pairs: its pair tokenizer.
        offset: seconds added to every boundary: CTC places a pair's peak consistently early
            or late, and ``benchmarks/deepvoice.py --calibrate`` measures by how much on the
            dev split and stores it in the bundle.
        device: where the network runs.
    """

    def __init__(self, model: torch.nn.Module, pairs: PhonemeTokenizer, offset: float = 0.0,
                 device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model, self.pairs, self.offset = model.eval().to(self.device), pairs, offset
        self.sample_rate: int = model.sample_rate

    @classmethod
    def from_bundle(cls, bundle: Bundle, device: torch.device) -> Segmenter:
        if bundle.task != "segmentation" or "pairs" not in bundle.frontend:
            raise CheckpointError(f"{bundle.source} is not a segmentation bundle (task "
                                  f"{bundle.task!r})")
        return cls(bundle.build("segmenter"), tokenizer_from_dict(bundle.frontend["pairs"]),
                   float(bundle.frontend.get("boundary_offset", 0.0)), device)

    @torch.inference_mode()
    def align(self, audio: str | np.ndarray, text: str | None = None,
              phonemes: Sequence[str] | None = None,
              sample_rate: int | None = None) -> list[Segment]:
        """Each phoneme's span: from the peak of the pair that begins it to the peak of the
        pair that ends it (section 3.1), shifted by the bundle's calibrated ``offset`` and kept
        inside the audio and in order.

        Args:
            audio: a file, or samples with their ``sample_rate``.
            text: what is said (phonemised as the TTS models read it), or ``phonemes``.

        Raises:
            TextError: neither or both of text and phonemes, or nothing to align.
            AudioError: unreadable, empty or silent audio, or audio too short for its
                phonemes.
        """
        if (text is None) == (phonemes is None):
            raise TextError("give either text or phonemes")
        symbols = phonemize(text, glides=True) if text is not None else list(phonemes)
        ids = self.pairs.encode(phoneme_pairs(symbols))
        wav = waveform_at(audio, self.sample_rate, sample_rate)
        if float(np.abs(wav).max()) < 1e-4:
            raise AudioError("the audio is silent: there is no speech to segment")
        x = torch.from_numpy(wav)[None].to(self.device)
        log_probs, frames = self.model(x, torch.tensor([len(wav)], device=self.device))
        if frames_needed(ids) > int(frames[0]):
            raise AudioError(f"{len(symbols)} phonemes need at least {frames_needed(ids)} "
                             f"frames of {self.model.frame_seconds * 1000:.0f} ms; the audio "
                             f"gives {int(frames[0])}: is it the right recording?")
        peaks = peak_frames(log_probs[0, :int(frames[0])], ids, self.pairs.blank)
        times = self.model.frame_centre(torch.tensor(peaks)).numpy() + self.offset
        times = np.maximum.accumulate(times.clip(0.0, len(wav) / self.sample_rate)).tolist()
        return [Segment(s, a, b) for s, a, b in zip(symbols, times[:-1], times[1:], strict=True)]
