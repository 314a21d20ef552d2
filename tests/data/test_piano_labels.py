"""Piano labels from MIDI (pedal, re-strikes, windows) and the piano dataset's items."""

import json

import numpy as np
import pretty_midi
import pytest
import soundfile as sf
import torch

from speechzoo.audio import load_audio
from speechzoo.data.collate import collate
from speechzoo.data.manifest import read_manifest
from speechzoo.data.piano import PianoDataset, note_labels
from speechzoo.errors import DataError
from speechzoo.features import Spectrogram
from speechzoo.music import (
    HOP,
    HOP_SECONDS,
    MIN_MIDI,
    N_KEYS,
    PIANO_MEL,
    PIANO_PAD,
    SAMPLE_RATE,
    notes_from_midi,
)

C4, C5 = 60 - MIN_MIDI, 72 - MIN_MIDI  # label columns


def _midi() -> pretty_midi.PrettyMIDI:
    """C4 struck at 0.10 s (released 0.30 s, pedal down 0.20..0.80 s) and again at 0.50 s
    (released 0.60 s); C5 from 0.05 to 0.15 s, before the pedal."""
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes += [pretty_midi.Note(100, 60, 0.10, 0.30), pretty_midi.Note(50, 60, 0.50, 0.60),
                    pretty_midi.Note(127, 72, 0.05, 0.15)]
    piano.control_changes += [pretty_midi.ControlChange(64, 127, 0.20),
                              pretty_midi.ControlChange(64, 0, 0.80)]
    midi.instruments.append(piano)
    return midi


def test_labels_of_a_known_midi_apply_pedal_and_restrike():
    assert HOP_SECONDS == 0.032
    labels = note_labels(notes_from_midi(_midi()), 32)
    expected = {k: np.zeros((32, N_KEYS), np.float32) for k in labels}
    # First C4: frames 3 (0.10 s) .. 15, cut by the re-strike at 0.50 s although the pedal
    # holds it; second C4: released under the pedal, sounds until it lifts (0.80 s: frame 25).
    expected["onset"][[3, 15], C4] = 1
    expected["offset"][[15, 25], C4] = 1
    expected["frame"][3:26, C4] = 1
    expected["velocity"][3, C4], expected["velocity"][15, C4] = 100 / 127, 50 / 127
    # C5 ends before the pedal goes down: its own release (0.15 s, frame 4).
    expected["onset"][1, C5] = expected["offset"][4, C5] = expected["velocity"][1, C5] = 1
    expected["frame"][1:5, C5] = 1
    for key, value in expected.items():
        assert labels[key].dtype == np.float32 and labels[key].shape == (32, N_KEYS)
        np.testing.assert_allclose(labels[key], value, err_msg=key)


def test_a_window_starting_inside_a_note_has_its_frames_but_no_onset():
    labels = note_labels(notes_from_midi(_midi()), 10, start=0.2)  # frames cover 0.2..0.52 s
    assert labels["onset"][:, C4].nonzero()[0].tolist() == [9]  # the re-strike at 0.50 s
    assert labels["frame"][:, C4].all()  # the first C4 sounds from before the window
    assert labels["offset"][:, C4].nonzero()[0].tolist() == [9]
    assert labels["velocity"][9, C4] == pytest.approx(50 / 127)
    assert not labels["frame"][:, C5].any()  # ended before the window
    assert not note_labels(notes_from_midi(_midi()), 10, start=5.0)["frame"].any()


@pytest.fixture
def recording(tmp_path):
    """1.3 s of noise with the MIDI above, and a manifest of three windows of it."""
    wav = np.random.default_rng(0).uniform(-0.5, 0.5, int(1.3 * SAMPLE_RATE)).astype(np.float32)
    sf.write(tmp_path / "a.flac", wav, SAMPLE_RATE, subtype="PCM_16")
    _midi().write(str(tmp_path / "a.mid"))
    rows = [{"audio_filepath": "a.flac", "midi_filepath": "a.mid", "duration": 1.3},
            {"audio_filepath": "a.flac", "midi_filepath": "a.mid", "duration": 0.3,
             "offset": 0.2},
            {"audio_filepath": "a.flac", "midi_filepath": "a.mid", "duration": 1.0,
             "offset": 0.8}]  # runs past the end of the file: zero-padded
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path, sf.read(tmp_path / "a.flac", dtype="float32")[0]


def test_dataset_items_match_the_front_ends_frames(recording):
    folder, wav = recording
    ds = PianoDataset(read_manifest(folder / "m.jsonl", PianoDataset.required))
    assert ds.durations == [1.3, 0.3, 1.0] and len(ds.notes) == 1  # MIDI read once
    spec = Spectrogram(**PIANO_MEL)
    for i, n_frames in enumerate([40, 9, 31]):  # floor(duration * 16000 / 512)
        item = ds[i]
        assert item["audio"].shape == (n_frames * HOP + 2 * PIANO_PAD,)
        assert int(spec.frames(torch.tensor(len(item["audio"])))) == n_frames
        for key in ("onset", "offset", "frame", "velocity"):
            assert item[key].shape == (n_frames, N_KEYS) and item[key].dtype == torch.float32
        assert item["audio"][:PIANO_PAD].eq(0).all() and item["audio"][-PIANO_PAD:].eq(0).all()
    start = int(0.2 * SAMPLE_RATE)
    np.testing.assert_array_equal(ds[1]["audio"][PIANO_PAD:-PIANO_PAD],
                                  wav[start:start + 9 * HOP])
    np.testing.assert_array_equal(ds[1]["frame"], note_labels(ds.notes[str(folder / "a.mid")],
                                                              9, start=0.2)["frame"])
    tail = ds[2]["audio"][PIANO_PAD:-PIANO_PAD]
    assert tail[len(wav) - int(0.8 * SAMPLE_RATE):].eq(0).all()
    batch = collate([ds[0], ds[1]])
    assert batch["frame"].shape == (2, 40, N_KEYS) and batch["frame_lengths"].tolist() == [40, 9]


def test_load_audio_reads_a_window(recording):
    folder, wav = recording
    window, rate = load_audio(folder / "a.flac", offset=0.5, duration=0.25)
    assert rate == SAMPLE_RATE
    np.testing.assert_array_equal(window, wav[8000:12000])
    np.testing.assert_array_equal(load_audio(folder / "a.flac")[0], wav)


def test_missing_or_broken_midi_names_the_file(recording):
    folder, _ = recording
    entries = read_manifest(folder / "m.jsonl", PianoDataset.required)
    (folder / "a.mid").write_bytes(b"not a midi file")
    with pytest.raises(DataError, match=r"a\.mid"):
        PianoDataset(entries)
    (folder / "a.mid").unlink()
    with pytest.raises(DataError, match=r"a\.mid does not exist"):
        PianoDataset(entries, source="m.jsonl")
