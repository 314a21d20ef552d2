"""Piano transcription data: frame labels from notes, and the dataset over piano manifests.

A piano manifest entry names an audio file (``audio_filepath``), the MIDI file of its notes
in the same absolute times (``midi_filepath``) and the window ``[offset, offset + duration)``
seconds of both that it covers (``offset`` defaults to 0). Labels follow Onsets and Frames
(arXiv 1710.11153, section 3; the offset and velocity labels of 1810.12247, section 4) on
the frame grid of :mod:`speechzoo.music`: frame ``t`` covers ``[start + t h, start + (t + 1) h)``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from speechzoo.audio import load_audio
from speechzoo.data.datasets import _ManifestDataset
from speechzoo.errors import AudioError, DataError
from speechzoo.music import (
    HOP,
    HOP_SECONDS,
    MIN_MIDI,
    N_KEYS,
    PIANO_PAD,
    SAMPLE_RATE,
    Notes,
    notes_from_midi,
)

LABELS = ("onset", "offset", "frame", "velocity")


def clip_frames(duration: float) -> int:
    """Whole frames in ``duration`` seconds: ``floor(duration * SAMPLE_RATE / HOP)`` (a
    duration written rounded to the millisecond still counts a frame it ends on)."""
    return math.floor(duration * SAMPLE_RATE / HOP + 1e-6)


def note_labels(notes: Notes, n_frames: int, start: float = 0.0,
                hop_seconds: float = HOP_SECONDS) -> dict[str, np.ndarray]:
    """Onset, offset, frame and velocity labels of the window of ``n_frames`` frames from
    ``start`` seconds.

    A note sounds on frames ``floor((onset - start) / h) .. floor((offset - start) / h)``
    (clipped to the window); its onset and offset labels mark the first and last of them
    only where they lie inside the window, so a note begun before the window has a frame
    label but no onset. Velocity is ``velocity / 127`` on the onset frames, 0 elsewhere.

    Shape: -> each (n_frames, N_KEYS) float32; column ``k`` is MIDI pitch ``MIN_MIDI + k``.
    """
    labels = {k: np.zeros((n_frames, N_KEYS), np.float32) for k in LABELS}
    end = start + n_frames * hop_seconds
    inside = (notes.onset < end) & (notes.offset > start)
    for p, on_s, off_s, v in zip(notes.pitch[inside], notes.onset[inside],
                                 notes.offset[inside], notes.velocity[inside], strict=True):
        k = int(p) - MIN_MIDI
        on = math.floor((on_s - start) / hop_seconds)
        off = math.floor((off_s - start) / hop_seconds)
        labels["frame"][max(0, on):min(n_frames - 1, off) + 1, k] = 1.0
        if 0 <= on < n_frames:
            labels["onset"][on, k] = 1.0
            labels["velocity"][on, k] = max(labels["velocity"][on, k], v / 127.0)
        if 0 <= off < n_frames:
            labels["offset"][off, k] = 1.0
    return labels


class PianoDataset(_ManifestDataset):
    """Windows of piano recordings with their note labels.

    Every MIDI file is read once, up front (sustain pedal applied,
    :func:`speechzoo.music.notes_from_midi`), so a missing or broken one stops the run before
    training starts, naming it.

    Args:
        entries: manifest entries (``audio_filepath``, ``duration``, ``midi_filepath``;
            optional ``offset``, seconds into both files, default 0).
        source: where the entries came from, for error messages.

    Items: ``{"audio": (n_frames * HOP + 2 * PIANO_PAD,), "onset"|"offset"|"frame"|"velocity":
    (n_frames, N_KEYS)}`` with ``n_frames = floor(duration * SAMPLE_RATE / HOP)``: 16 kHz
    mono, cut or zero-padded to whole frames, ``PIANO_PAD`` zeros on each side.
    """

    required = ("audio_filepath", "duration", "midi_filepath")

    def __init__(self, entries: list[dict[str, Any]], source: str = "manifest") -> None:
        if not entries:
            raise DataError(f"{source}: no piano recordings")
        self.entries = entries
        self.notes: dict[str, Notes] = {}
        for entry in entries:
            where = f"{source}, entry {entry['audio_filepath']}"
            if clip_frames(float(entry["duration"])) < 1:
                raise DataError(f"{where}: duration {entry['duration']} s is shorter than one "
                                f"frame ({HOP_SECONDS:.3f} s); drop the entry")
            midi = str(entry["midi_filepath"])
            if midi in self.notes:
                continue
            if not Path(midi).is_file():
                raise DataError(f"{where}: MIDI file {midi} does not exist; check the "
                                "manifest's midi_filepath or prepare the corpus again")
            self.notes[midi] = notes_from_midi(midi)  # DataError naming the file if broken

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        entry = self.entries[i]
        offset, duration = float(entry.get("offset", 0.0)), float(entry["duration"])
        n_frames = clip_frames(duration)
        try:
            wav, _ = load_audio(entry["audio_filepath"], SAMPLE_RATE, offset, duration)
        except AudioError as e:
            raise DataError(f"piano entry {i} ({entry['audio_filepath']}, offset {offset} s): "
                            f"{e}") from None
        samples = n_frames * HOP
        wav = np.pad(wav[:samples], (PIANO_PAD, PIANO_PAD + max(0, samples - len(wav))))
        item = {"audio": torch.from_numpy(wav.astype(np.float32, copy=False))}
        labels = note_labels(self.notes[str(entry["midi_filepath"])], n_frames, start=offset)
        item.update({k: torch.from_numpy(v) for k, v in labels.items()})
        return item
