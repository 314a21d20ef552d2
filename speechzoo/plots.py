"""Figures for training logs and the CLI: spectrograms, alignments, durations, piano rolls.

Matplotlib is imported inside the functions, so ``import speechzoo`` stays light, and figures
are made as ``matplotlib.figure.Figure`` on an Agg canvas, not through ``pyplot``: nothing
global (backend, open-figure list) changes, no window opens, and a figure is freed when it is
no longer referenced (no ``plt.close`` needed). For a logger, turn a figure into pixels::

    image = figure_to_array(spectrogram_figure([target, predicted], ["target", "predicted"]))
    tensorboard.add_image("mel", image, step, dataformats="HWC")

Arrays may be numpy arrays or torch tensors (on any device, with or without grad).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from speechzoo.errors import DataError
from speechzoo.files import atomic_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

WIDTH = 10.0  # inches; at the default 100 dpi a logged image is 1000 pixels wide
ROW_HEIGHT = 2.5
LOWEST_PIANO_PITCH = 21  # MIDI A0: the lowest of the piano's 88 keys (Onsets and Frames)


def _array(x: Any, ndim: int, name: str) -> np.ndarray:
    """``x`` (numpy or torch) as a float numpy array of ``ndim`` dimensions."""
    if hasattr(x, "detach"):  # a torch tensor, without importing torch
        x = x.detach().float().cpu().numpy()
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != ndim:
        raise DataError(f"{name} must have {ndim} dimension(s), got shape {tuple(x.shape)}")
    return x


def _figure(rows: int, row_height: float = ROW_HEIGHT) -> tuple[Figure, list[Axes]]:
    """A figure of ``rows`` stacked axes on its own Agg canvas (no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH, row_height * rows), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, list(fig.subplots(rows, 1, squeeze=False)[:, 0])


def spectrogram_figure(mels: Sequence[Any], titles: Sequence[str] | None = None) -> Figure:
    """Spectrograms stacked top to bottom on one colour scale, e.g. target over prediction.

    Args:
        mels: (F, T) arrays (log-mels: bins x frames); lengths may differ.
        titles: one per spectrogram, or None.

    Returns:
        A figure with ``len(mels)`` axes.
    """
    arrays = [_array(m, 2, f"mels[{i}]") for i, m in enumerate(mels)]
    if not arrays:
        raise DataError("spectrogram_figure needs at least one spectrogram")
    if titles is not None and len(titles) != len(arrays):
        raise DataError(f"{len(titles)} titles for {len(arrays)} spectrograms; give one each")
    # One scale for all, so a prediction that is too quiet or too loud shows as such.
    low = min(float(a.min()) for a in arrays)
    high = max(float(a.max()) for a in arrays)
    fig, axes = _figure(len(arrays))
    for i, (ax, mel) in enumerate(zip(axes, arrays, strict=True)):
        ax.imshow(mel, origin="lower", aspect="auto", interpolation="none", vmin=low, vmax=high)
        ax.set_ylabel("mel bin")
        if titles is not None:
            ax.set_title(titles[i])
    axes[-1].set_xlabel("frame")
    return fig


def _token_ticks(ax: Axes, tokens: Sequence[str] | None, count: int, axis: str) -> None:
    if tokens is None:
        return
    if len(tokens) != count:
        raise DataError(f"{len(tokens)} token labels for {count} tokens; give one each")
    # A word boundary (" ") would be an invisible label.
    labels = [t if t.strip() else "␣" for t in tokens]
    getattr(ax, f"set_{axis}ticks")(range(count), labels, fontsize=7)


def alignment_figure(weights: Any, tokens: Sequence[str] | None = None) -> Figure:
    """Which input token each output frame attends to (Gaussian upsampling weights).

    Args:
        weights: (T, N): frames x tokens, each row a distribution over tokens.
        tokens: the N token labels (e.g. phonemes) for the token axis, or None.

    Returns:
        A figure with one axes: frames across, tokens up.
    """
    w = _array(weights, 2, "weights")
    frames, count = w.shape
    fig, (ax,) = _figure(1, row_height=max(ROW_HEIGHT, min(12.0, 0.12 * count)))
    ax.imshow(w.T, origin="lower", aspect="auto", interpolation="none", vmin=0.0,
              extent=(-0.5, frames - 0.5, -0.5, count - 0.5))
    _token_ticks(ax, tokens, count, "y")
    ax.set_xlabel("frame")
    ax.set_ylabel("token")
    return fig


def durations_figure(pred: Any, true: Any | None = None,
                     tokens: Sequence[str] | None = None) -> Figure:
    """Predicted (and true) frames per token as side-by-side bars.

    Args:
        pred: (N,) predicted durations (frames; fractional ones are fine).
        true: (N,) reference durations, or None.
        tokens: the N token labels, or None.

    Returns:
        A figure with one axes.
    """
    p = _array(pred, 1, "pred")
    t = None if true is None else _array(true, 1, "true")
    if t is not None and t.shape != p.shape:
        raise DataError(f"pred has {len(p)} durations and true {len(t)}; give one per token")
    fig, (ax,) = _figure(1)
    x = np.arange(len(p))
    if t is None:
        ax.bar(x, p, 0.8, label="predicted")
    else:
        ax.bar(x - 0.2, t, 0.4, label="true")
        ax.bar(x + 0.2, p, 0.4, label="predicted")
    _token_ticks(ax, tokens, len(p), "x")
    ax.set_xlim(-0.5, len(p) - 0.5)
    ax.set_xlabel("token")
    ax.set_ylabel("frames")
    ax.legend(loc="best")
    return fig


def piano_roll_figure(pred: Any, target: Any | None = None,
                      lowest_pitch: int = LOWEST_PIANO_PITCH,
                      titles: tuple[str, str] = ("target", "prediction"),
                      frame_rate: float | None = None) -> Figure:
    """Piano rolls: the target (if given) over the prediction.

    Args:
        pred: (P, T) pitches x frames, bool or probabilities in [0, 1].
        target: (P, T) reference roll, or None.
        lowest_pitch: the MIDI pitch of row 0 (21, A0, for 88 keys).
        titles: the target's and the prediction's titles.
        frame_rate: frames per second: the time axis in seconds (None: in frames).

    Returns:
        A figure with one axes, or two (target, prediction) when ``target`` is given.
    """
    rolls = [(titles[1], _array(pred, 2, "pred"))]
    if target is not None:
        rolls.insert(0, (titles[0], _array(target, 2, "target")))
        if rolls[0][1].shape != rolls[1][1].shape:
            raise DataError(f"target {rolls[0][1].shape} and pred {rolls[1][1].shape} differ "
                            "in shape; give both as (pitches, frames)")
    fig, axes = _figure(len(rolls))
    scale = 1.0 / frame_rate if frame_rate else 1.0
    for ax, (title, roll) in zip(axes, rolls, strict=True):
        pitches, frames = roll.shape
        ax.imshow(roll, origin="lower", aspect="auto", interpolation="none", cmap="Greys",
                  vmin=0.0, vmax=1.0, extent=(-0.5 * scale, (frames - 0.5) * scale,
                                               lowest_pitch - 0.5, lowest_pitch + pitches - 0.5))
        ax.set_title(title)
        ax.set_ylabel("MIDI pitch")
    axes[-1].set_xlabel("time (s)" if frame_rate else "frame")
    return fig


def figure_to_array(fig: Figure) -> np.ndarray:
    """Render a figure to pixels for image loggers (TensorBoard ``dataformats="HWC"``).

    Returns:
        (H, W, 3) uint8 RGB; H, W = the figure's size in inches times its dpi.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    # pyplot figures of the usual backends (TkAgg, QtAgg, ...) are Agg canvases already.
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def save_figure(fig: Figure, path: str | os.PathLike, dpi: float | None = None) -> Path:
    """Save a figure atomically: ``path`` holds the whole image or is left as it was.

    Args:
        fig: the figure.
        path: where to write; its suffix picks the format (``.png``, ``.pdf``, ``.svg``, ...;
            PNG without one).
        dpi: resolution; the figure's own by default.

    Returns:
        ``path``.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix[1:].lower() or "png", dpi=dpi or "figure")
    return path
