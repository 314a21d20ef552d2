"""prepare_maestro on tiny fake MAESTRO copies built in tmp_path, and on the shared sample."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile

from speechzoo.data.corpora import prepare
from speechzoo.data.corpora.maestro import prepare_maestro, segments
from speechzoo.data.manifest import read_manifest
from speechzoo.errors import ConfigError, DataError
from speechzoo.music import notes_from_midi

SAMPLE = Path("/work/shared/data/maestro-sample")
FIELDS = ("canonical_composer", "canonical_title", "split", "year", "midi_filename",
          "audio_filename", "duration")
# (composer, title, split, year, stem, seconds)
PIECES = [
    ("Frédéric Chopin", "Ballade No. 1", "train", 2004, "MIDI-Unprocessed_01_R1_2004_01", 2.5),
    ("Franz Liszt", "Étude", "train", 2006, "MIDI-Unprocessed_02_R1_2006_01", 0.8),
    ("Johann Sebastian Bach", "Prelude", "validation", 2009, "MIDI-Unprocessed_03_R1_2009_01",
     1.5),
    ("Claude Debussy", "Reflets dans l'eau", "test", 2018, "MIDI-Unprocessed_04_R1_2018_01",
     2.2),
]


def write_performance(wav: Path, midi: Path, seconds: float, rate: int = 44100) -> None:
    """A stereo WAV of ``seconds`` and a MIDI file of two notes, the first released while the
    sustain pedal is down."""
    wav.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(round(seconds * rate)) / rate
    tone = 0.1 * np.sin(2 * np.pi * 440 * t)
    soundfile.write(wav, np.stack([tone, tone], axis=1).astype(np.float32), rate,
                    subtype="PCM_16")
    piece = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes += [pretty_midi.Note(velocity=80, pitch=69, start=0.1, end=0.3),
                    pretty_midi.Note(velocity=60, pitch=72, start=0.7, end=0.75)]
    piano.control_changes += [pretty_midi.ControlChange(64, 127, 0.2),
                              pretty_midi.ControlChange(64, 0, 0.6)]
    piece.instruments.append(piano)
    piece.write(str(midi))


def _rows() -> list[dict]:
    return [dict(zip(FIELDS, (composer, title, split, year, f"{year}/{stem}.midi",
                              f"{year}/{stem}.wav", seconds), strict=True))
            for composer, title, split, year, stem, seconds in PIECES]


def _build(root: Path, fmt: str = "v2") -> Path:
    """A MAESTRO copy with metadata as v1 (CSV), v2 (JSON rows) or v3 (JSON columns)."""
    rows = _rows()
    for row in rows:
        write_performance(root / row["audio_filename"], root / row["midi_filename"],
                          row["duration"])
    if fmt == "v1":
        with (root / "maestro-v1.0.0.csv").open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, FIELDS)
            writer.writeheader()
            writer.writerows(rows)
    elif fmt == "v2":
        (root / "maestro-v2.0.0.json").write_text(json.dumps(rows), encoding="utf-8")
    else:
        columns = {k: {str(i): row[k] for i, row in enumerate(rows)} for k in FIELDS}
        (root / "maestro-v3.0.0.json").write_text(json.dumps(columns), encoding="utf-8")
    return root


def _read(folder: Path, split: str) -> list[dict]:
    return read_manifest(folder / f"{split}.jsonl",
                         required=("audio_filepath", "duration", "midi_filepath", "piece",
                                   "source"))


def test_segments_cover_the_file_in_equal_windows():
    windows = segments({"duration": 45.0, "piece": "p"}, 20.0)
    assert [(w["offset"], w["duration"]) for w in windows] == [(0.0, 15.0), (15.0, 15.0),
                                                               (30.0, 15.0)]
    assert len(segments({"duration": 40.0}, 20.0)) == 2
    odd = segments({"duration": 10.001}, 3.0)
    assert len(odd) == 4 and max(w["duration"] for w in odd) <= 3.0
    assert odd[-1]["offset"] + odd[-1]["duration"] == pytest.approx(10.001, abs=1e-9)
    assert segments({"duration": 2.0}, 20.0) == [{"duration": 2.0, "offset": 0.0}]
    assert segments({"duration": 2.0}, 0) == [{"duration": 2.0}]
    with pytest.raises(ConfigError, match="segment_seconds"):
        segments({"duration": 2.0}, -1.0)


def test_maestro_splits_windows_and_entries(tmp_path):
    root = _build(tmp_path / "maestro-v2.0.0")
    before = sorted(p for p in root.rglob("*") if p.is_file())
    written = prepare_maestro(tmp_path, segment_seconds=1.0)  # the folder holding the copy
    assert written == {s: root / f"{s}.jsonl" for s in ("train", "dev", "test")}
    assert sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".jsonl") == before
    train, dev, test = (_read(root, s) for s in ("train", "dev", "test"))
    # 2.5 s -> 3 windows of 0.833 s, 0.8 s -> 1, 1.5 s (validation) -> 2; test stays whole
    assert [(e["piece"], e["offset"], e["duration"]) for e in train] == [
        ("2004/MIDI-Unprocessed_01_R1_2004_01", 0.0, 0.833),
        ("2004/MIDI-Unprocessed_01_R1_2004_01", 0.833, 0.834),
        ("2004/MIDI-Unprocessed_01_R1_2004_01", 1.667, 0.833),
        ("2006/MIDI-Unprocessed_02_R1_2006_01", 0.0, 0.8)]
    assert [(e["offset"], e["duration"]) for e in dev] == [(0.0, 0.75), (0.75, 0.75)]
    assert len(test) == 1 and "offset" not in test[0] and test[0]["duration"] == 2.2
    entry = test[0]
    assert entry["audio_filepath"] == str(root / "2018/MIDI-Unprocessed_04_R1_2018_01.wav")
    assert entry["midi_filepath"] == str(root / "2018/MIDI-Unprocessed_04_R1_2018_01.midi")
    assert Path(entry["audio_filepath"]).is_absolute()
    assert (entry["source"], entry["composer"], entry["title"]) == (
        "maestro-2018", "Claude Debussy", "Reflets dans l'eau")
    assert {e["source"] for e in train} == {"maestro-2004", "maestro-2006"}
    notes = notes_from_midi(entry["midi_filepath"])  # the pedal holds the first note to 0.6 s
    assert notes.offset.tolist() == pytest.approx([0.6, 0.75], abs=1e-3)


@pytest.mark.parametrize("fmt", ["v1", "v3"])
def test_csv_and_v3_column_json_give_the_same_manifests(tmp_path, fmt):
    _build(tmp_path / "v2")
    prepare_maestro(tmp_path / "v2", tmp_path / "v2-out")
    _build(tmp_path / fmt, fmt)
    prepare_maestro(tmp_path / fmt, tmp_path / f"{fmt}-out")
    for split in ("train", "dev", "test"):
        ours = [{**e, "audio_filepath": Path(e["audio_filepath"]).name,
                 "midi_filepath": Path(e["midi_filepath"]).name}
                for e in _read(tmp_path / f"{fmt}-out", split)]
        theirs = [{**e, "audio_filepath": Path(e["audio_filepath"]).name,
                   "midi_filepath": Path(e["midi_filepath"]).name}
                  for e in _read(tmp_path / "v2-out", split)]
        assert ours == theirs


def test_registry_entry_point_and_whole_pieces(tmp_path):
    _build(tmp_path / "copy")
    folder = prepare("maestro", tmp_path / "copy", tmp_path / "out", segment_seconds=0)
    assert folder == tmp_path / "out"
    assert not list((tmp_path / "copy").glob("*.jsonl"))
    assert [e["duration"] for e in _read(folder, "train")] == [2.5, 0.8]
    with pytest.raises(ConfigError, match="segment_seconds"):
        prepare("maestro", tmp_path / "copy", tmp_path / "out", segment_seconds=-5)


def test_missing_folder_and_missing_metadata(tmp_path):
    with pytest.raises(DataError, match=r"does not exist.*magenta\.tensorflow\.org"):
        prepare_maestro(tmp_path / "nowhere")
    (tmp_path / "2018").mkdir()
    with pytest.raises(DataError, match=r"no maestro-v\*\.json or maestro-v\*\.csv .*found: 2018"):
        prepare_maestro(tmp_path)


@pytest.mark.parametrize("damage, message", [
    (lambda root: (root / "2009/MIDI-Unprocessed_03_R1_2009_01.wav").unlink(),
     r"lists 2009/MIDI-Unprocessed_03_R1_2009_01\.wav, but .* does not exist.*partial copy"),
    (lambda root: (root / "2018/MIDI-Unprocessed_04_R1_2018_01.midi").unlink(),
     r"lists 2018/MIDI-Unprocessed_04_R1_2018_01\.midi, but .* does not exist"),
    (lambda root: (root / "2006/MIDI-Unprocessed_02_R1_2006_01.wav").write_bytes(b"RIFF junk"),
     r"cannot read audio .*2006_01\.wav .*replace it from the MAESTRO archive"),
    (lambda root: (root / "2018/MIDI-Unprocessed_04_R1_2018_01.midi").write_bytes(b"MThd no"),
     r"cannot read MIDI file .*2018_01\.midi .*damaged - replace it"),
])
def test_a_damaged_copy_names_the_file_and_writes_nothing(tmp_path, damage, message):
    root = _build(tmp_path)
    damage(root)
    with pytest.raises(DataError, match=message):
        prepare_maestro(root)
    assert not list(root.glob("*.jsonl")) and not list(root.glob(".*"))


@pytest.mark.parametrize("edit, message", [
    (lambda rows: rows[1].pop("midi_filename"), r"row 2 has no \['midi_filename'\]"),
    (lambda rows: rows[2].update(split="valid"), r"row 3 has split 'valid'"),
    (lambda rows: rows.append(dict(rows[0])), r"row 5 lists 2004/.*again"),
])
def test_malformed_metadata_rows(tmp_path, edit, message):
    root = _build(tmp_path)
    rows = _rows()
    edit(rows)
    (root / "maestro-v2.0.0.json").write_text(json.dumps(rows), encoding="utf-8")
    with pytest.raises(DataError, match=message):
        prepare_maestro(root)


def test_damaged_json(tmp_path):
    root = _build(tmp_path)
    (root / "maestro-v2.0.0.json").write_text('[{"split": ', encoding="utf-8")
    with pytest.raises(DataError, match=r"not valid JSON .*MAESTRO archive"):
        prepare_maestro(root)


def test_unwritable_out(tmp_path):
    root = _build(tmp_path / "copy")
    (tmp_path / "a-file").write_text("")
    with pytest.raises(DataError, match=r"cannot write the manifests .*--out DIR"):
        prepare_maestro(root, tmp_path / "a-file")


@pytest.mark.skipif(not (SAMPLE / "maestro-v2.0.0.json").is_file(),
                    reason=f"no MAESTRO sample at {SAMPLE} (one mirdata test excerpt)")
def test_the_shared_maestro_sample(tmp_path, capsys):
    written = prepare_maestro(SAMPLE, tmp_path)
    assert list(written) == ["train"]  # its one row is a training piece
    (entry,) = _read(tmp_path, "train")
    stem = "2018/MIDI-Unprocessed_Chamber3_MID--AUDIO_10_R3_2018_wav--1"
    assert entry["audio_filepath"] == str(SAMPLE / f"{stem}.wav")
    assert entry["midi_filepath"] == str(SAMPLE / f"{stem}.midi")
    assert (entry["piece"], entry["source"], entry["offset"]) == (stem, "maestro-2018", 0.0)
    assert entry["duration"] == 2.0  # the audio is cut to 2 s; the metadata says 698.66 s
    assert "1 recording(s) shorter" in capsys.readouterr().out
    pedalled = notes_from_midi(entry["midi_filepath"])
    held = notes_from_midi(entry["midi_filepath"], pedal=False)
    assert len(pedalled) == len(held) == 4197  # the full performance's notes
    assert (pedalled.offset >= held.offset).all() and (pedalled.offset > held.offset).sum() > 1000
    assert pedalled.onset[pedalled.onset < entry["duration"]].tolist() == pytest.approx(
        [0.983, 1.784], abs=1e-3)  # the two onsets within the 2 s of audio
    assert not list(SAMPLE.glob("*.jsonl"))
