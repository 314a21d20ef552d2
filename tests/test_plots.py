"""speechzoo.plots: each figure's axes, pixels for loggers, atomic saving, a light import."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("matplotlib")

from speechzoo.errors import DataError  # noqa: E402
from speechzoo.plots import (  # noqa: E402
    alignment_figure,
    durations_figure,
    figure_to_array,
    piano_roll_figure,
    save_figure,
    spectrogram_figure,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RNG = np.random.default_rng(0)


def _images(fig) -> list:
    return [image for ax in fig.axes for image in ax.get_images()]


def test_spectrograms_are_stacked_on_one_scale():
    target, predicted = RNG.normal(size=(80, 50)), RNG.normal(size=(80, 40)) + 3.0
    fig = spectrogram_figure([target, torch.tensor(predicted, requires_grad=True)],
                             ["target", "predicted"])
    assert len(fig.axes) == 2
    assert [ax.get_title() for ax in fig.axes] == ["target", "predicted"]
    assert [im.get_array().shape for im in _images(fig)] == [(80, 50), (80, 40)]
    low, high = min(target.min(), predicted.min()), max(target.max(), predicted.max())
    assert all(im.get_clim() == pytest.approx((low, high)) for im in _images(fig))
    assert len(spectrogram_figure([target]).axes) == 1


def test_spectrogram_figure_rejects_bad_input():
    with pytest.raises(DataError, match="2 dimension"):
        spectrogram_figure([np.zeros((1, 80, 5))])
    with pytest.raises(DataError, match="1 titles for 2"):
        spectrogram_figure([np.zeros((80, 5))] * 2, ["only one"])
    with pytest.raises(DataError, match="at least one"):
        spectrogram_figure([])


def test_alignment_shows_frames_across_and_tokens_up():
    weights = torch.softmax(torch.randn(30, 6), dim=1)  # (T, N)
    tokens = ["h", "ə", " ", "l", "oʊ", "<end>"]
    fig = alignment_figure(weights, tokens)
    assert len(fig.axes) == 1
    (image,) = _images(fig)
    assert image.get_array().shape == (6, 30)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["h", "ə", "␣", "l", "oʊ", "<end>"]
    with pytest.raises(DataError, match="5 token labels for 6"):
        alignment_figure(weights, tokens[:5])


def test_durations_bars_with_and_without_the_truth():
    pred, true = np.array([2.5, 4.0, 1.0]), torch.tensor([3, 4, 0])
    fig = durations_figure(pred, true, ["a", "b", "c"])
    assert len(fig.axes) == 1
    bars = fig.axes[0].patches
    assert sorted(b.get_height() for b in bars) == [0, 1.0, 2.5, 3, 4, 4.0]
    assert len(durations_figure(pred).axes[0].patches) == 3
    with pytest.raises(DataError, match="3 durations and true 2"):
        durations_figure(pred, true[:2])


def test_piano_roll_with_and_without_target():
    pred = RNG.random((88, 100))
    target = pred > 0.5
    fig = piano_roll_figure(pred, target)
    assert [ax.get_title() for ax in fig.axes] == ["target", "prediction"]
    assert fig.axes[0].get_ylim() == (20.5, 108.5)  # MIDI 21..108
    assert fig.axes[-1].get_xlabel() == "frame"
    seconds = piano_roll_figure(target, frame_rate=31.25).axes
    assert len(seconds) == 1 and seconds[0].get_xlabel() == "time (s)"
    assert seconds[0].get_xlim() == pytest.approx((-0.016, 99.5 / 31.25))
    with pytest.raises(DataError, match="differ in shape"):
        piano_roll_figure(pred, target[:, :50])


def test_figure_to_array_is_rgb_uint8_of_the_figure_size():
    fig = spectrogram_figure([np.zeros((80, 10))])
    image = figure_to_array(fig)
    width, height = fig.get_size_inches() * fig.dpi
    assert image.shape == (round(height), round(width), 3)
    assert image.dtype == np.uint8
    assert image.min() < image.max()  # something was drawn


def test_save_figure_writes_a_png(tmp_path):
    path = save_figure(durations_figure([1.0, 2.0]), tmp_path / "sub" / "durations.png")
    assert path == tmp_path / "sub" / "durations.png"
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert [p.name for p in path.parent.iterdir()] == ["durations.png"]


def test_save_figure_leaves_nothing_half_written(tmp_path, monkeypatch):
    path = tmp_path / "fig.png"
    path.write_bytes(b"old")
    fig = durations_figure([1.0])

    def broken(target, **kwargs):
        with open(target, "wb") as f:
            f.write(PNG_MAGIC)  # a start, then the failure
        raise OSError("disk full")

    monkeypatch.setattr(fig, "savefig", broken)
    with pytest.raises(OSError, match="disk full"):
        save_figure(fig, path)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]


def test_save_figure_unknown_format_leaves_no_file(tmp_path):
    with pytest.raises(ValueError):
        save_figure(durations_figure([1.0]), tmp_path / "fig.nosuchformat")
    assert list(tmp_path.iterdir()) == []


def test_importing_the_module_does_not_import_matplotlib():
    code = "import sys, speechzoo, speechzoo.plots; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
