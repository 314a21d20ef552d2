"""Notes from Onsets and Frames' per-frame probabilities (arXiv 1710.11153, section 3: "we
restrict the predictions from the framewise detector by not allowing a new note to start unless
the onset detector also agrees"; the offset head of 1810.12247, section 4).

On each key, a note starts on a rising edge of the onset probability over its threshold and
sounds while the onset stays over it (its onset frames) or, after them, while the frame
probability is over its threshold and the offset head does not fire. A new rising edge while
it sounds ends it and starts the next (a re-strike). Frames that are "on" without an onset
give no note. The whole roll is decoded at once with array operations, so hours of audio
(about 10^7 cells an hour) take a fraction of a second.
"""

from __future__ import annotations

import numpy as np
import torch

from speechzoo.errors import ConfigError
from speechzoo.music import HOP_SECONDS, MIN_MIDI, Notes

Roll = np.ndarray | torch.Tensor


def _as_array(x: Roll, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy()
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ConfigError(f"{name} must be a (frames, keys) array, got shape {x.shape}")
    return x


def _next_break(breaks: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The first index of sorted ``breaks`` after each of ``starts``."""
    return breaks[np.searchsorted(breaks, starts, side="right")]


def extract_notes(onset: Roll, frame: Roll, velocity: Roll | None = None,
                  offset: Roll | None = None, onset_threshold: float = 0.5,
                  frame_threshold: float = 0.5, offset_threshold: float = 0.5,
                  hop_seconds: float = HOP_SECONDS, start: float = 0.0) -> Notes:
    """The notes of one clip's head outputs.

    Args:
        onset, frame: (T, K) probabilities (numpy or torch); column ``k`` is MIDI pitch
            ``MIN_MIDI + k``, frame ``t`` covers ``[start + t h, start + (t + 1) h)``.
        velocity: (T, K) velocity outputs (velocity / 127); None gives every note 64.
        offset: (T, K) offset probabilities; None: notes end with the frames alone.
        onset_threshold, frame_threshold, offset_threshold: in (0, 1); a head "fires" where
            its probability exceeds its threshold.
        hop_seconds: seconds per frame (h); start: the time of frame 0.

    Returns notes with onset ``start + t_on h`` (t_on the rising edge), offset ``start + t_off
    h`` (t_off the first frame no longer in the note, T at the end of the clip) and velocity
    ``clip(round(127 * mean velocity over the onset frames), 1, 127)``.

    Raises:
        ConfigError: a threshold outside (0, 1), or arrays of different shapes.
    """
    for name, value in (("onset_threshold", onset_threshold),
                        ("frame_threshold", frame_threshold),
                        ("offset_threshold", offset_threshold)):
        if not 0.0 < value < 1.0:
            raise ConfigError(f"{name} must lie in (0, 1), got {value}")
    rolls = {"onset": _as_array(onset, "onset"), "frame": _as_array(frame, "frame")}
    for name, value in (("velocity", velocity), ("offset", offset)):
        if value is not None:
            rolls[name] = _as_array(value, name)
    shapes = {name: r.shape for name, r in rolls.items()}
    if len(set(shapes.values())) > 1:
        raise ConfigError(f"the head outputs differ in shape: {shapes}")
    n, keys = rolls["onset"].shape
    if n == 0:
        return Notes.empty()

    # Key-major (K, T + 1) with a silent last frame, so every note ends within its own row
    # and a flat index search never crosses into the next key.
    def key_major(x: np.ndarray) -> np.ndarray:
        return np.concatenate([x.T, np.zeros((keys, 1), x.dtype)], 1)

    on = key_major(rolls["onset"] > onset_threshold)
    fr = key_major(rolls["frame"] > frame_threshold)
    off = (key_major(rolls["offset"] > offset_threshold) if "offset" in rolls
           else np.zeros_like(on))
    rise = on.copy()
    rise[:, 1:] &= ~on[:, :-1]
    onset_frames = on & ~rise  # continuing a rising edge's run
    sounding = onset_frames | (fr & ~on & ~off)
    starts = np.flatnonzero(rise)
    if len(starts) == 0:
        return Notes.empty()
    ends = _next_break(np.flatnonzero(~sounding), starts)
    onset_ends = _next_break(np.flatnonzero(~onset_frames), starts)
    row, t_on = np.divmod(starts, n + 1)
    t_off = ends - row * (n + 1)
    if "velocity" in rolls:
        total = np.concatenate([[0.0], np.cumsum(key_major(rolls["velocity"]), dtype=np.float64)])
        mean = (total[onset_ends] - total[starts]) / (onset_ends - starts)
        vel = np.clip(np.round(127.0 * mean), 1, 127)
    else:
        vel = np.full(len(starts), 64)
    return Notes(row + MIN_MIDI, start + t_on * hop_seconds, start + t_off * hop_seconds, vel)
