"""Piano transcription: an Onsets and Frames bundle -> notes -> ``pretty_midi.PrettyMIDI``.

**Long recordings.** The network runs on windows that keep ``window_seconds`` (20 s) of
frames and see ``context_seconds`` (2 s) more audio on each side, then drop it: the
bidirectional LSTMs near a cut would otherwise miss the other side, and activations stay
bounded by one window. The kept frames joined are the recording's per-frame probabilities
(fp16, 22 kB per second of audio) and notes are decoded from them once, so a note held
across a cut is one note. Windows start on frame boundaries of the one frame grid
(``speechzoo.music``: frame ``t`` is ``[t, t + 1) * 32 ms``).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from speechzoo.audio import waveform_at
from speechzoo.checkpoints import Bundle
from speechzoo.decoding.notes import extract_notes
from speechzoo.errors import CheckpointError
from speechzoo.features import Spectrogram
from speechzoo.music import HOP, HOP_SECONDS, MIN_MIDI, N_KEYS, Notes, notes_to_midi

HEADS = ("onset", "offset", "frame", "velocity")


def logits_to_probabilities(out: Any) -> dict[str, torch.Tensor | None]:
    """The heads' logits (``OnsetsFramesOutput``) -> probabilities in fp32; velocity as is
    (a regression towards velocity / 127); a head the model lacks -> None."""
    def sigmoid(x: torch.Tensor | None) -> torch.Tensor | None:
        return None if x is None else torch.sigmoid(x.float())

    return {"onset": sigmoid(out.onset), "offset": sigmoid(out.offset),
            "frame": sigmoid(out.frame),
            "velocity": None if out.velocity is None else out.velocity.float()}


def notes_roll(notes: Notes, frames: int) -> np.ndarray:
    """A (88, frames) roll, 1 where a note sounds (for plots)."""
    roll = np.zeros((N_KEYS, frames), dtype=np.float32)
    for p, on, off in zip(notes.pitch, notes.onset, notes.offset, strict=True):
        roll[p - MIN_MIDI, int(on / HOP_SECONDS):max(int(on / HOP_SECONDS) + 1,
                                                     int(np.ceil(off / HOP_SECONDS)))] = 1.0
    return roll


class PianoTranscriber:
    """Piano audio -> notes, what ``speechzoo.load("onsets-frames")`` returns.

    Args:
        model: an Onsets and Frames network (``speechzoo.models.onsets_frames``).
        features: the log-mel front end's settings (``music.PIANO_MEL``).
        thresholds: the default ``{"onset", "frame", "offset"}`` thresholds.
        pad: samples of silence the front end expects on each side (``music.PIANO_PAD``).
        device: where the network runs.
    """

    window_seconds = 20.0
    context_seconds = 2.0

    def __init__(self, model: torch.nn.Module, features: dict[str, Any],
                 thresholds: dict[str, float], pad: int,
                 device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        self.features = Spectrogram(**features).to(self.device)
        self.sample_rate: int = self.features.sample_rate
        if self.features.hop != HOP:
            raise CheckpointError(f"the front end's hop is {self.features.hop} samples; piano "
                                  f"models use {HOP}")
        self.thresholds, self.pad = dict(thresholds), pad

    @classmethod
    def from_bundle(cls, bundle: Bundle, device: torch.device) -> PianoTranscriber:
        front = bundle.frontend
        features = front.get("features", {}).get("args")
        if bundle.task != "piano" or not features:
            raise CheckpointError(f"{bundle.source} is not a piano bundle (task "
                                  f"{bundle.task!r}, no front end)")
        return cls(bundle.build("transcriber"), features, front.get("thresholds", {}),
                   int(front.get("pad", 0)), device)

    def transcribe(self, audio: Any, sample_rate: int | None = None, *,
                   onset_threshold: float | None = None, frame_threshold: float | None = None,
                   offset_threshold: float | None = None, progress: bool | None = None):
        """Transcribe a recording (a path, or a waveform with its ``sample_rate``) of any
        length to a ``pretty_midi.PrettyMIDI`` with one piano. Silence gives a MIDI without
        notes. Thresholds (default: the bundle's) must lie in (0, 1)."""
        probs = self.probabilities(audio, sample_rate, progress=progress)
        return notes_to_midi(self.decode(probs, onset_threshold, frame_threshold,
                                         offset_threshold))

    def decode(self, probs: dict[str, np.ndarray | None], onset_threshold: float | None = None,
               frame_threshold: float | None = None,
               offset_threshold: float | None = None) -> Notes:
        """Notes from :meth:`probabilities` (the papers' onset-gated rule,
        ``speechzoo.decoding.notes.extract_notes``)."""
        t = self.thresholds
        return extract_notes(
            probs["onset"], probs["frame"], probs["velocity"], probs["offset"],
            t.get("onset", 0.5) if onset_threshold is None else onset_threshold,
            t.get("frame", 0.5) if frame_threshold is None else frame_threshold,
            t.get("offset", 0.5) if offset_threshold is None else offset_threshold,
            HOP_SECONDS)

    @torch.inference_mode()
    def probabilities(self, audio: Any, sample_rate: int | None = None, *,
                      progress: bool | None = None) -> dict[str, np.ndarray | None]:
        """Per-frame head outputs of a recording: ``{"onset", "offset", "frame",
        "velocity"}`` -> (frames, 88) float16 arrays (None for a head the model lacks), one
        frame per 32 ms (the last one partial)."""
        wav = waveform_at(audio, self.sample_rate, sample_rate)
        n = -(-len(wav) // HOP)
        padded = np.pad(wav, (self.pad, self.pad + n * HOP - len(wav)))
        keep = int(round(self.window_seconds / HOP_SECONDS))
        context = int(round(self.context_seconds / HOP_SECONDS))
        parts: dict[str, list[np.ndarray]] = {k: [] for k in HEADS}
        show = sys.stderr.isatty() if progress is None else progress
        with tqdm(total=n, unit="frame", desc="transcribing", leave=False, disable=not show,
                  delay=1.0 if progress is None else 0.0) as bar:
            for start in range(0, n, keep):
                lo, hi = max(0, start - context), min(n, start + keep + context)
                seg = torch.from_numpy(padded[lo * HOP:hi * HOP + 2 * self.pad]).to(self.device)
                mels, frames = self.features(seg[None], torch.tensor([len(seg)]))
                probs = logits_to_probabilities(self.model(mels, frames.to(self.device)))
                a, b = start - lo, start - lo + min(keep, n - start)
                for k, v in probs.items():
                    if v is not None:
                        parts[k].append(v[0, a:b].cpu().numpy().astype(np.float16))
                bar.update(b - a)
        return {k: np.concatenate(v) if v else None
                for k, v in parts.items()}


    def plot(self, probs: dict[str, np.ndarray | None], notes: Notes):
        """A figure: the decoded notes over the frame probabilities (piano rolls)."""
        from speechzoo.plots import piano_roll_figure

        frames = probs["frame"]
        return piano_roll_figure(frames.T, notes_roll(notes, len(frames)),
                                 titles=("notes", "frame probability"),
                                 frame_rate=1.0 / HOP_SECONDS)

