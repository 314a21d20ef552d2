import numpy as np
import pytest

from speechzoo.errors import DataError
from speechzoo.metrics import mean_metrics, piano_metrics
from speechzoo.music import Notes

pytestmark = pytest.mark.filterwarnings("error")  # mir_eval must not warn (empty sides)

GROUPS = ("frame", "note", "note_offset", "note_offset_velocity")


def piece() -> Notes:
    """A C major arpeggio and chord, one-second notes."""
    return Notes([60, 64, 67, 60, 64, 67, 72], [0.0, 0.5, 1.0, 2.0, 2.0, 2.0, 2.5],
                 [1.0, 1.5, 2.0, 3.0, 3.0, 3.0, 3.5], [40, 60, 80, 100, 70, 50, 90])


def test_keys():
    scores = piano_metrics(piece(), piece())
    assert set(scores) == {f"{g}_{m}" for g in GROUPS for m in ("precision", "recall", "f1")}


def test_perfect_transcription_scores_one():
    scores = piano_metrics(piece(), piece())
    assert all(v == 1.0 for v in scores.values())


def test_a_100ms_shift_misses_every_onset_but_keeps_most_frames():
    scores = piano_metrics(piece(), piece().shifted(0.1))
    assert scores["note_f1"] == 0.0 and scores["note_offset_f1"] == 0.0
    assert 0.85 <= scores["frame_f1"] < 1.0
    # within the 50 ms onset tolerance the notes still count
    assert piano_metrics(piece(), piece().shifted(0.04))["note_f1"] == 1.0


def test_offsets_half_as_long_again_fail_only_the_offset_scores():
    ref = piece()
    longer = Notes(ref.pitch, ref.onset, ref.onset + 1.5 * (ref.offset - ref.onset),
                   ref.velocity)
    scores = piano_metrics(ref, longer)
    assert scores["note_f1"] == 1.0
    assert scores["note_offset_f1"] == 0.0 and scores["note_offset_velocity_f1"] == 0.0
    assert scores["frame_recall"] == 1.0 and scores["frame_precision"] < 0.8


def test_wrong_velocities_lower_only_the_velocity_scores():
    ref = piece()
    shuffled = Notes(ref.pitch, ref.onset, ref.offset, ref.velocity[[3, 0, 6, 1, 5, 2, 4]])
    scores = piano_metrics(ref, shuffled)
    assert scores["note_offset_f1"] == 1.0
    assert scores["note_offset_velocity_f1"] < 0.8
    # velocities off by a scale and shift are fitted away (mir_eval's velocity rule)
    scaled = Notes(ref.pitch, ref.onset, ref.offset, ref.velocity // 2 + 10)
    assert piano_metrics(ref, scaled)["note_offset_velocity_f1"] == 1.0


def test_wrong_pitch_and_missing_notes():
    ref = piece()
    est = Notes(ref.pitch + np.array([0, 0, 0, 0, 0, 0, 1]), ref.onset, ref.offset,
                ref.velocity).select(np.arange(7) != 0)  # first note missing, last a semitone up
    scores = piano_metrics(ref, est)
    assert scores["note_precision"] == pytest.approx(5 / 6)
    assert scores["note_recall"] == pytest.approx(5 / 7)
    assert scores["note_f1"] == pytest.approx(2 * 5 / (6 + 7))


def test_empty_sides():
    empty = Notes.empty()
    # nothing there, nothing found: perfect
    assert all(v == 1.0 for v in piano_metrics(empty, empty).values())
    # nothing found, or nothing there to find: zero
    assert all(v == 0.0 for v in piano_metrics(piece(), empty).values())
    assert all(v == 0.0 for v in piano_metrics(empty, piece()).values())


def test_mean_over_pieces():
    a = piano_metrics(piece(), piece())
    b = piano_metrics(piece(), piece().shifted(0.1))
    mean = mean_metrics([a, b])
    assert mean.keys() == a.keys()
    assert mean["note_f1"] == 0.5
    assert mean["frame_f1"] == pytest.approx((1 + b["frame_f1"]) / 2)
    with pytest.raises(DataError, match="no pieces"):
        mean_metrics([])
    with pytest.raises(DataError, match="keys"):
        mean_metrics([a, {"note_f1": 1.0}])
