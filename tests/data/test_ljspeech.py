"""prepare_ljspeech on a tiny fake LJ Speech tree built in tmp_path, and on the shared part."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from speechzoo.data.corpora.ljspeech import (
    DEV_FRACTION,
    TEST_FRACTION,
    assign_splits,
    prepare,
    prepare_ljspeech,
)
from speechzoo.data.manifest import read_manifest
from speechzoo.errors import DataError
from speechzoo.text.english import CHARACTERS, normalize

SR = 22050
PART = Path("/work/shared/data/ljspeech-part")

# (id, transcription, normalized transcription, seconds); LJ's own quirks: a bare quote,
# an amount only the normalised column writes out, and an abbreviation left in both.
ROWS = [
    ("LJ001-0001", 'Printing, in the only sense with which we are "at present" concerned,',
     'Printing, in the only sense with which we are "at present" concerned,', 0.2),
    ("LJ001-0002", "in being comparatively modern.", "in being comparatively modern.", 0.1),
    ("LJ002-0003", "paid £5 to Mr. Smith & Co.", "paid five pounds to Mr. Smith & Co.", 0.15),
    ("LJ002-0004", "in 1468.", "in fourteen sixty-eight.", 0.25),
    ("LJ003-0005", "And so on;", "And so on;", 0.12),
]


def _sine(seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def _build(base: Path, rows: list = ROWS, nested: bool = True, newline: str = "\n") -> Path:
    root = base / "LJSpeech-1.1" if nested else base
    (root / "wavs").mkdir(parents=True)
    lines = []
    for clip, raw, normalized, seconds in rows:
        soundfile.write(root / "wavs" / f"{clip}.wav", _sine(seconds), SR, subtype="PCM_16")
        lines.append(f"{clip}|{raw}|{normalized}{newline}")
    (root / "metadata.csv").write_text("".join(lines), encoding="utf-8", newline="")
    return root


def _all(written: dict[str, Path]) -> list[dict]:
    return [json.loads(line) for p in written.values() for line in p.read_text().splitlines()]


def test_writes_train_dev_test_beside_the_metadata(tmp_path):
    root = _build(tmp_path)
    wavs_before = sorted((root / "wavs").iterdir())
    written = prepare_ljspeech(tmp_path)
    assert written == {s: root / f"{s}.jsonl" for s in ("train", "dev", "test")}
    splits = {s: [e["id"] for e in _all({s: p})] for s, p in written.items()}
    assert all(splits.values())  # a tiny copy still has one dev and one test clip
    assert sorted(sum(splits.values(), [])) == [r[0] for r in ROWS]
    assert sorted((root / "wavs").iterdir()) == wavs_before  # audio is not copied
    by_id = {e["id"]: e for e in _all(written)}
    for clip, raw, normalized, seconds in ROWS:
        entry = by_id[clip]
        assert entry["audio_filepath"] == str(root / "wavs" / f"{clip}.wav")
        assert Path(entry["audio_filepath"]).is_absolute()
        assert entry["duration"] == pytest.approx(seconds, abs=1e-3)
        assert (entry["raw_text"], entry["normalized_text"]) == (raw, normalized)
        assert (entry["speaker"], entry["source"]) == ("lj", "ljspeech")
        assert entry["text"] == normalized.strip()  # punctuation kept: the pauses
    spoken = {clip: normalize(e["text"], tts=True) for clip, e in by_id.items()}
    assert all(set(t) <= set(CHARACTERS) for t in spoken.values())
    assert spoken["LJ001-0001"] == ("printing in the only sense with which we are at "
                                           "present concerned")
    assert spoken["LJ002-0003"] == "paid five pounds to mister smith and company"
    assert spoken["LJ002-0004"] == "in fourteen sixty eight"


def test_each_manifest_keeps_metadata_order(tmp_path):
    rows = [(f"LJ010-{i:04d}", "Some words.", "Some words.", 0.05) for i in range(1, 41)]
    written = prepare_ljspeech(_build(tmp_path, rows))
    for path in written.values():
        ids = [e["id"] for e in _all({"": path})]
        assert ids == sorted(ids)


def test_out_folder_and_registry_entry_point(tmp_path):
    _build(tmp_path / "copy")
    folder = prepare(tmp_path / "copy" / "LJSpeech-1.1", tmp_path / "manifests")
    assert folder == tmp_path / "manifests"
    assert not list((tmp_path / "copy" / "LJSpeech-1.1").glob("*.jsonl"))
    entries = sum((read_manifest(folder / f"{s}.jsonl", required=("audio_filepath",
                   "duration", "text")) for s in ("train", "dev", "test")), [])
    assert len(entries) == len(ROWS)


def test_partial_copy_without_the_top_folder_and_crlf_metadata(tmp_path):
    root = _build(tmp_path, nested=False, newline="\r\n")
    written = prepare_ljspeech(root, tmp_path / "out")
    entries = _all(written)
    assert len(entries) == len(ROWS)
    assert all(not e["normalized_text"].endswith("\r") for e in entries)


def test_the_split_is_deterministic_and_follows_each_id_alone():
    clips = [f"LJ{c:03d}-{u:04d}" for c in range(1, 51) for u in range(1, 263)]  # 13,100
    full = assign_splits(clips)
    assert assign_splits(list(reversed(clips))) == full
    counts = {s: list(full.values()).count(s) for s in ("train", "dev", "test")}
    assert abs(counts["test"] / len(clips) - TEST_FRACTION) < 0.005
    assert abs(counts["dev"] / len(clips) - DEV_FRACTION) < 0.005
    part = clips[:2000]  # a partial copy: its clips keep the splits they have in the full one
    assert assign_splits(part) == {c: full[c] for c in part}


def test_a_copy_of_three_clips_fills_every_split_and_two_are_refused():
    assert sorted(assign_splits(["LJ001-0001", "LJ001-0002", "LJ001-0003"]).values()) == [
        "dev", "test", "train"]
    with pytest.raises(DataError, match="only 2 clip"):
        assign_splits(["LJ001-0001", "LJ001-0002"])


def test_missing_folder_says_where_to_download(tmp_path):
    with pytest.raises(DataError, match=r"does not exist.*keithito\.com.*speechzoo prepare"):
        prepare_ljspeech(tmp_path / "nowhere")


def test_folder_without_metadata_lists_what_it_found(tmp_path):
    (tmp_path / "wavs").mkdir()
    with pytest.raises(DataError, match=r"no metadata\.csv .*found: wavs"):
        prepare_ljspeech(tmp_path)


def test_metadata_without_wavs_folder(tmp_path):
    root = _build(tmp_path)
    for wav in (root / "wavs").iterdir():
        wav.unlink()
    (root / "wavs").rmdir()
    with pytest.raises(DataError, match=r"no wavs/ folder"):
        prepare_ljspeech(tmp_path)


def test_row_naming_a_missing_wav_writes_nothing(tmp_path):
    root = _build(tmp_path)
    (root / "wavs" / "LJ002-0004.wav").unlink()
    with pytest.raises(DataError, match=r"lists LJ002-0004, but .*LJ002-0004\.wav does not exist"):
        prepare_ljspeech(tmp_path)
    assert not list(root.glob("*.jsonl"))


@pytest.mark.parametrize("bad", ["LJ009-0001|only two fields", "|no id|no id",
                                 "LJ009-0001|text|"])
def test_malformed_row_names_its_line(tmp_path, bad):
    root = _build(tmp_path)
    with (root / "metadata.csv").open("a") as f:
        f.write(bad + "\n")
    with pytest.raises(DataError, match=rf"metadata\.csv:{len(ROWS) + 1}: expected 'ID\|"):
        prepare_ljspeech(tmp_path)


def test_duplicate_row(tmp_path):
    root = _build(tmp_path)
    with (root / "metadata.csv").open("a") as f:
        f.write("LJ001-0001|again|again\n")
    with pytest.raises(DataError, match=r"LJ001-0001 is listed twice"):
        prepare_ljspeech(tmp_path)


def test_unreadable_wav(tmp_path):
    root = _build(tmp_path)
    (root / "wavs" / "LJ001-0002.wav").write_bytes(b"not audio")
    with pytest.raises(DataError, match=r"cannot read audio .*LJ001-0002\.wav"):
        prepare_ljspeech(tmp_path)


def test_unwritable_out(tmp_path):
    _build(tmp_path)
    (tmp_path / "a-file").write_text("")
    with pytest.raises(DataError, match=r"cannot write the manifests .*--out DIR"):
        prepare_ljspeech(tmp_path, tmp_path / "a-file")


@pytest.mark.skipif(not (PART / "metadata.csv").is_file(), reason="no LJ Speech part copy")
def test_the_shared_part_copy(tmp_path):
    written = prepare_ljspeech(PART, tmp_path)
    entries = _all(written)
    assert len(entries) == 353  # LJ001-0033..0186 and LJ002-0001..0200 but 0115
    assert "LJ002-0115" not in {e["id"] for e in entries}
    assert all(len(_all({s: p})) >= 1 for s, p in written.items())
    assert sum(e["duration"] for e in entries) / 60 == pytest.approx(37.96, abs=0.01)
    assert all(set(normalize(e["text"], tts=True)) <= set(CHARACTERS) for e in entries)
    first = next(e for e in entries if e["id"] == "LJ001-0034")
    spoken = normalize(first["text"], tts=True)
    assert spoken.endswith("beginning with the year fourteen sixty eight")
    assert soundfile.info(first["audio_filepath"]).samplerate == SR
    assert not list(PART.glob("*.jsonl"))
