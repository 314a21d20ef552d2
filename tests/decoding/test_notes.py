import numpy as np
import pytest
import torch

from speechzoo.data.piano import note_labels
from speechzoo.decoding.notes import extract_notes
from speechzoo.errors import ConfigError
from speechzoo.music import HOP_SECONDS, MIN_MIDI, N_KEYS, Notes

T = 20
KEY = 39  # MIDI 60


def rolls():
    z = np.zeros((T, N_KEYS), np.float32)
    return z.copy(), z.copy(), z.copy(), z.copy()  # onset, frame, velocity, offset


def as_tuples(notes: Notes) -> list[tuple]:
    return [(int(p), round(float(a), 6), round(float(b), 6), int(v)) for p, a, b, v in
            zip(notes.pitch, notes.onset, notes.offset, notes.velocity, strict=True)]


def frames(notes: Notes, h: float = 1.0) -> list[tuple]:
    """(pitch, onset frame, offset frame, velocity) on a grid of h seconds."""
    return [(p, round(a / h), round(b / h), v) for p, a, b, v in as_tuples(notes)]


def test_frames_without_an_onset_give_no_note():
    onset, frame, vel, off = rolls()
    frame[3:12, KEY] = 0.9
    assert len(extract_notes(onset, frame, vel, off)) == 0
    onset[5, KEY] = 0.8  # an onset in the middle: the note starts there, not before
    assert frames(extract_notes(onset, frame, None, None, hop_seconds=1.0)) == [
        (60, 5, 12, 64)]


def test_a_restrike_gives_two_notes():
    onset, frame, vel, off = rolls()
    frame[2:15, KEY] = 0.9
    onset[2:4, KEY] = 0.9
    onset[8, KEY] = 0.7  # a new rising edge while the frame stays on
    vel[2:4, KEY], vel[8, KEY] = 0.5, 0.25
    assert frames(extract_notes(onset, frame, vel, off, hop_seconds=1.0)) == [
        (60, 2, 8, 64), (60, 8, 15, 32)]


def test_onset_frames_hold_the_note_and_the_offset_head_ends_it():
    onset, frame, vel, off = rolls()
    onset[4:7, KEY] = 0.9  # frame head silent at first: the onset frames carry the note
    frame[6:16, KEY] = 0.9
    off[5, KEY] = 0.9  # during the onset frames: ignored
    off[11, KEY] = 0.9  # after them: ends the note
    got = frames(extract_notes(onset, frame, vel, off, hop_seconds=1.0))
    assert [(p, a, b) for p, a, b, _ in got] == [(60, 4, 11)]
    got = frames(extract_notes(onset, frame, vel, None, hop_seconds=1.0))
    assert [(p, a, b) for p, a, b, _ in got] == [(60, 4, 16)]
    # a note sounding to the end of the clip ends at T
    frame[6:, KEY] = 0.9
    got = frames(extract_notes(onset, frame, None, None, hop_seconds=1.0))
    assert [(p, a, b) for p, a, b, _ in got] == [(60, 4, T)]


def test_velocity_is_the_mean_over_the_onset_frames():
    onset, frame, vel, off = rolls()
    onset[3:5, KEY], frame[3:9, KEY] = 0.9, 0.9
    vel[3, KEY], vel[4, KEY], vel[6, KEY] = 0.5, 0.7, 0.0  # frame 6: not an onset frame
    onset[10, 0], frame[10:12, 0], vel[10, 0] = 0.9, 0.9, 3.0  # clipped to 127
    onset[14, 87], frame[14, 87], vel[14, 87] = 0.9, 0.9, -1.0  # clipped to 1
    notes = extract_notes(onset, frame, vel, off)
    assert dict(zip(notes.pitch.tolist(), notes.velocity.tolist(), strict=True)) == {
        60: 76, MIN_MIDI: 127, MIN_MIDI + 87: 1}
    assert (extract_notes(onset, frame).velocity == 64).all()


def test_times_thresholds_and_torch_input():
    onset, frame, vel, off = rolls()
    onset[2, KEY], frame[2:6, KEY] = 0.6, 0.45
    notes = extract_notes(torch.from_numpy(onset), torch.from_numpy(frame).half(),
                          start=10.0)
    assert as_tuples(notes) == [(60, round(10 + 2 * HOP_SECONDS, 6),
                                 round(10 + 3 * HOP_SECONDS, 6), 64)]
    # a lower frame threshold keeps it on; a higher onset threshold drops it
    assert frames(extract_notes(onset, frame, frame_threshold=0.4, hop_seconds=1.0))[0][2] == 6
    assert len(extract_notes(onset, frame, onset_threshold=0.7)) == 0


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.2, 1.5, float("nan")])
@pytest.mark.parametrize("name", ["onset_threshold", "frame_threshold", "offset_threshold"])
def test_thresholds_outside_the_unit_interval_are_refused(name, bad):
    onset, frame, _, _ = rolls()
    with pytest.raises(ConfigError, match=name):
        extract_notes(onset, frame, **{name: bad})


def test_empty_and_mismatched_input():
    empty = np.zeros((0, N_KEYS), np.float32)
    notes = extract_notes(empty, empty, empty, empty)
    assert isinstance(notes, Notes) and len(notes) == 0
    with pytest.raises(ConfigError, match="shape"):
        extract_notes(np.zeros((5, N_KEYS)), np.zeros((6, N_KEYS)))
    with pytest.raises(ConfigError, match="frames, keys"):
        extract_notes(np.zeros(5), np.zeros(5))


def test_labels_decode_back_to_their_notes():
    ref = Notes([60, 60, 64, 21, 108], [0.1, 0.7, 0.3, 1.0, 0.05], [0.6, 1.2, 1.9, 1.1, 0.4],
                [30, 90, 64, 127, 1])
    lab = note_labels(ref, 64)
    got = extract_notes(lab["onset"], lab["frame"], lab["velocity"], lab["offset"])
    h = HOP_SECONDS
    np.testing.assert_array_equal(got.pitch, ref.pitch)
    np.testing.assert_array_equal(got.velocity, ref.velocity)
    np.testing.assert_allclose(got.onset, np.floor(ref.onset / h) * h)
    # the offset head ends each note at the start of its offset frame
    np.testing.assert_allclose(got.offset, np.floor(ref.offset / h) * h)


def reference_decoder(onset, frame, velocity, offset, thr=0.5):
    """The rule frame by frame, key by key (what the vectorised decoder must equal)."""
    out = []
    t_max, keys = onset.shape
    for k in range(keys):
        t = 0
        while t < t_max:
            if onset[t, k] > thr and (t == 0 or onset[t - 1, k] <= thr):
                t_on, e = t, t + 1
                while e < t_max and onset[e, k] > thr:
                    e += 1
                v = np.clip(np.round(127 * velocity[t_on:e, k].astype(np.float64).mean()), 1,
                            127)
                end = e
                while end < t_max and frame[end, k] > thr and offset[end, k] <= thr \
                        and onset[end, k] <= thr:
                    end += 1
                out.append((MIN_MIDI + k, t_on, end, int(v)))
                t = end
            else:
                t += 1
    return sorted(out, key=lambda n: (n[1], n[0]))


def test_matches_a_frame_by_frame_decoder_on_random_rolls():
    rng = np.random.default_rng(0)
    t = 300
    # smooth random rolls, so that runs, re-strikes and offsets all occur
    def roll(p):
        return (rng.random((t, N_KEYS)) < p).astype(np.float32) * 0.4 + rng.random(
            (t, N_KEYS)).astype(np.float32) * 0.6
    onset, frame, offset = roll(0.1), roll(0.5), roll(0.1)
    velocity = rng.random((t, N_KEYS)).astype(np.float32)
    got = frames(extract_notes(onset, frame, velocity, offset, hop_seconds=1.0))
    want = reference_decoder(onset, frame, velocity, offset)
    assert len(want) > 500
    assert got == want
