"""prepare_librispeech on a tiny fake LibriSpeech tree built in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from speechzoo.data.corpora.librispeech import prepare_librispeech
from speechzoo.data.manifest import read_manifest
from speechzoo.errors import DataError

SR = 16000

# subset -> {(speaker, chapter): [(utt, transcript, seconds)]}; utterances deliberately out
# of order and with differing lengths so sorting and durations are observable.
TREE = {
    "dev-clean": {("84", "121123"): [("0001", "GO DO YOU HEAR", 0.2),
                                     ("0000", "HELLO WORLD", 0.25)]},
    "train-clean-100": {("19", "198"): [("0000", "NORTHANGER ABBEY", 0.2)],
                        ("103", "1240"): [("0000", "CHAPTER ONE", 0.3)]},
}


def _sine(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def _build(base: Path, tree: dict = TREE) -> Path:
    root = base / "LibriSpeech"
    for subset, chapters in tree.items():
        for (speaker, chapter), utts in chapters.items():
            folder = root / subset / speaker / chapter
            folder.mkdir(parents=True)
            lines = []
            for utt, text, seconds in utts:
                utt_id = f"{speaker}-{chapter}-{utt}"
                soundfile.write(folder / f"{utt_id}.flac", _sine(seconds), SR)
                lines.append(f"{utt_id} {text}\n")
            (folder / f"{speaker}-{chapter}.trans.txt").write_text("".join(lines))
    return root


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_writes_one_manifest_per_subset_and_train(tmp_path):
    root = _build(tmp_path)
    written = prepare_librispeech(tmp_path)
    assert written == {"dev-clean": root / "dev-clean.jsonl",
                       "train-clean-100": root / "train-clean-100.jsonl",
                       "train": root / "train.jsonl"}
    dev = _lines(written["dev-clean"])
    assert [e["id"] for e in dev] == ["84-121123-0000", "84-121123-0001"]
    assert [e["text"] for e in dev] == ["hello world", "go do you hear"]
    assert [e["duration"] for e in dev] == [0.25, 0.2]
    assert {e["speaker"] for e in dev} == {"84"}
    train = _lines(written["train-clean-100"])
    # String sort, as LibriSpeech ids are compared as text: "103-..." before "19-...".
    assert [e["id"] for e in train] == ["103-1240-0000", "19-198-0000"]
    assert [e["speaker"] for e in train] == ["103", "19"]
    assert [e["duration"] for e in train] == [0.3, 0.2]
    for entry in dev + train:
        audio = Path(entry["audio_filepath"])
        assert audio.is_absolute() and audio.is_file()
        assert audio.name == f"{entry['id']}.flac"
        assert set(entry) == {"audio_filepath", "duration", "text", "speaker", "id"}
    assert _lines(written["train"]) == train


def test_manifests_read_back(tmp_path):
    _build(tmp_path)
    written = prepare_librispeech(tmp_path / "LibriSpeech", out=tmp_path / "manifests")
    assert all(p.parent == tmp_path / "manifests" for p in written.values())
    entries = read_manifest(written["dev-clean"])
    assert [e["text"] for e in entries] == ["hello world", "go do you hear"]
    assert len(read_manifest(written["train"])) == 2


def test_requested_subsets_only_and_no_train_manifest(tmp_path):
    root = _build(tmp_path)
    written = prepare_librispeech(tmp_path, subsets=["train-clean-100"])
    assert list(written) == ["train-clean-100"]
    assert not (root / "dev-clean.jsonl").exists()
    assert not (root / "train.jsonl").exists()


def test_single_string_subset_is_not_split_into_letters(tmp_path):
    _build(tmp_path)
    assert list(prepare_librispeech(tmp_path, subsets="dev-clean")) == ["dev-clean"]


def test_no_train_manifest_without_train_subsets(tmp_path):
    root = _build(tmp_path, {"dev-clean": TREE["dev-clean"]})
    assert list(prepare_librispeech(tmp_path)) == ["dev-clean"]
    assert not (root / "train.jsonl").exists()


def test_missing_source_says_where_to_download(tmp_path):
    with pytest.raises(DataError, match=r"openslr\.org/12.*speechzoo prepare librispeech"):
        prepare_librispeech(tmp_path / "nowhere")


def test_no_known_subset_lists_what_was_found(tmp_path):
    (tmp_path / "LibriSpeech" / "dev-cleen").mkdir(parents=True)
    with pytest.raises(DataError, match=r"no LibriSpeech subset.*found: dev-cleen"):
        prepare_librispeech(tmp_path)


def test_requested_subset_missing(tmp_path):
    _build(tmp_path)
    expected = r"'test-clean' not found.*present: train-clean-100, dev-clean\)"
    with pytest.raises(DataError, match=expected):
        prepare_librispeech(tmp_path, subsets=["test-clean"])


def test_unknown_subset_name(tmp_path):
    _build(tmp_path)
    with pytest.raises(DataError, match=r"unknown LibriSpeech subset 'dev'.*dev-clean"):
        prepare_librispeech(tmp_path, subsets=["dev"])


def test_transcript_naming_missing_flac(tmp_path):
    root = _build(tmp_path)
    (root / "dev-clean/84/121123/84-121123-0001.flac").unlink()
    with pytest.raises(DataError, match=r"84-121123\.trans\.txt:1: names 84-121123-0001\.flac"):
        prepare_librispeech(tmp_path)


@pytest.mark.parametrize("bad_line", ["84-121123-0002", "not-an-id HELLO"])
def test_malformed_transcript_line(tmp_path, bad_line):
    root = _build(tmp_path)
    trans = root / "dev-clean/84/121123/84-121123.trans.txt"
    trans.write_text(trans.read_text() + bad_line + "\n")
    with pytest.raises(DataError, match=r"84-121123\.trans\.txt:3: expected"):
        prepare_librispeech(tmp_path)


def test_unreadable_flac(tmp_path):
    root = _build(tmp_path)
    (root / "train-clean-100/19/198/19-198-0000.flac").write_bytes(b"not audio")
    with pytest.raises(DataError, match=r"cannot read audio .*19-198-0000\.flac"):
        prepare_librispeech(tmp_path)
