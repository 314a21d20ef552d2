"""Piano constants, the note list every piano module passes around, and MIDI in and out.

Onsets and Frames (arXiv 1710.11153, section 3; 1810.12247, section 4) listens at 16 kHz to
229 log-mel bins every 512 samples (32 ms): :data:`PIANO_MEL` is that front end for
``speechzoo.features.Spectrogram``. :data:`PIANO_PAD` samples of silence on each side centre
frame ``t`` on sample ``512 t + 256``, so frame ``t`` stands for the time span
``[t * HOP_SECONDS, (t + 1) * HOP_SECONDS)`` and a clip of ``n * 512`` samples gives exactly
``n`` frames: labels and predictions share one grid.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from speechzoo.errors import DataError

SAMPLE_RATE = 16000
HOP = 512
HOP_SECONDS = HOP / SAMPLE_RATE
MIN_MIDI, MAX_MIDI = 21, 108  # A0 .. C8, the 88 keys
N_KEYS = MAX_MIDI - MIN_MIDI + 1
PIANO_MEL = {"sample_rate": SAMPLE_RATE, "window_ms": 2048 / 16, "hop_ms": HOP / 16,
             "n_fft": 2048, "power": 1.0, "n_mels": 229, "f_min": 30.0, "f_max": 8000.0,
             "mel_scale": "htk", "log": True, "log_floor": 1e-5}
PIANO_PAD = (2048 - HOP) // 2
SUSTAIN_CC = 64  # MIDI controller number of the damper (sustain) pedal


@dataclass
class Notes:
    """Piano notes as parallel arrays, sorted by onset then pitch.

    Attributes:
        pitch: MIDI note numbers (N,), int, in ``MIN_MIDI .. MAX_MIDI``.
        onset, offset: seconds (N,), float, ``offset > onset``.
        velocity: MIDI velocities (N,), int, 1 .. 127.
    """

    pitch: np.ndarray
    onset: np.ndarray
    offset: np.ndarray
    velocity: np.ndarray

    def __post_init__(self) -> None:
        self.pitch = np.asarray(self.pitch, dtype=np.int64).reshape(-1)
        self.onset = np.asarray(self.onset, dtype=np.float64).reshape(-1)
        self.offset = np.asarray(self.offset, dtype=np.float64).reshape(-1)
        self.velocity = np.asarray(self.velocity, dtype=np.int64).reshape(-1)
        if not len(self.pitch) == len(self.onset) == len(self.offset) == len(self.velocity):
            raise ValueError("Notes: pitch, onset, offset and velocity differ in length")
        order = np.lexsort((self.pitch, self.onset))
        for name in ("pitch", "onset", "offset", "velocity"):
            setattr(self, name, getattr(self, name)[order])

    def __len__(self) -> int:
        return len(self.pitch)

    @classmethod
    def empty(cls) -> Notes:
        return cls(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))

    def select(self, keep: np.ndarray) -> Notes:
        """The notes where boolean ``keep`` (N,) is true."""
        return Notes(self.pitch[keep], self.onset[keep], self.offset[keep], self.velocity[keep])

    def shifted(self, seconds: float) -> Notes:
        """The same notes, ``seconds`` later."""
        return Notes(self.pitch, self.onset + seconds, self.offset + seconds, self.velocity)


def sustained_offsets(notes: Notes, pedal: list[tuple[float, float]]) -> Notes:
    """Offsets extended while the sustain pedal is down, as the MAESTRO labels are (1810.12247,
    section 3): a note released with the pedal down sounds until the pedal lifts, or until the
    same key is struck again, whichever comes first.

    Args:
        notes: notes with their key-release offsets.
        pedal: (down, up) time spans in seconds, sorted and disjoint.
    """
    offset = notes.offset.copy()
    for i in range(len(notes)):
        for down, up in pedal:
            if down <= offset[i] < up:
                offset[i] = up
                break
    # A re-strike of the same key cuts the sustained note short.
    for p in np.unique(notes.pitch):
        idx = np.flatnonzero(notes.pitch == p)
        for a, b in zip(idx[:-1], idx[1:], strict=True):
            offset[a] = min(offset[a], max(notes.onset[b], notes.offset[a]))
    return Notes(notes.pitch, notes.onset, offset, notes.velocity)


def pedal_spans(control_changes, end: float, threshold: int = 64) -> list[tuple[float, float]]:
    """(down, up) spans of the sustain pedal from ``pretty_midi.ControlChange``s (value >=
    ``threshold`` is down); a pedal still down at the end lifts at ``end``."""
    spans, down = [], None
    for cc in sorted((c for c in control_changes if c.number == SUSTAIN_CC),
                     key=lambda c: c.time):
        if cc.value >= threshold and down is None:
            down = cc.time
        elif cc.value < threshold and down is not None:
            spans.append((down, cc.time))
            down = None
    if down is not None:
        spans.append((down, max(end, down)))
    return spans


def notes_from_midi(midi, pedal: bool = True) -> Notes:
    """The piano notes of a ``pretty_midi.PrettyMIDI`` (or a path to a MIDI file): every
    non-drum instrument, keys outside the 88 dropped, sustain pedal applied if ``pedal``."""
    import pretty_midi

    if isinstance(midi, (str, os.PathLike)):
        try:
            midi = pretty_midi.PrettyMIDI(str(midi))
        except Exception as e:  # pretty_midi raises bare Exceptions/ValueErrors/IOErrors
            raise DataError(f"cannot read MIDI file {midi}: {e}") from None
    all_notes = []
    for inst in midi.instruments:
        if inst.is_drum:
            continue
        notes = Notes([n.pitch for n in inst.notes], [n.start for n in inst.notes],
                      [n.end for n in inst.notes], [n.velocity for n in inst.notes])
        notes = notes.select((notes.pitch >= MIN_MIDI) & (notes.pitch <= MAX_MIDI)
                             & (notes.offset > notes.onset))
        if pedal:
            end = max([midi.get_end_time()] + notes.offset.tolist())
            notes = sustained_offsets(notes, pedal_spans(inst.control_changes, end))
        all_notes.append(notes)
    if not all_notes:
        return Notes.empty()
    return Notes(*(np.concatenate([getattr(n, k) for n in all_notes])
                   for k in ("pitch", "onset", "offset", "velocity")))


def notes_to_midi(notes: Notes, program: int = 0):
    """A ``pretty_midi.PrettyMIDI`` with one piano (General MIDI ``program``) playing ``notes``
    (offsets as given: no pedal events are written)."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=program, name="piano")
    for p, on, off, v in zip(notes.pitch, notes.onset, notes.offset, notes.velocity,
                             strict=True):
        piano.notes.append(pretty_midi.Note(velocity=int(np.clip(v, 1, 127)), pitch=int(p),
                                            start=float(on), end=float(max(off, on + 1e-3))))
    midi.instruments.append(piano)
    return midi
