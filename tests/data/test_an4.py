"""prepare_an4 on a tiny AN4 tree (SPHERE files, CMU's etc/ lists) built in tmp_path, and on
the shared training-split copy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from speechzoo.audio import load_audio
from speechzoo.data.corpora import prepare
from speechzoo.data.corpora.an4 import dev_speakers, prepare_an4
from speechzoo.errors import DataError

SHARED = Path("/work/shared/data/an4")
SPEAKERS = ("fash", "fbbh", "mcen", "mjwl")
TEXTS = ("YES", "ENTER SIX TWO FOUR", "P I T T S B U R G H")


def _build(base: Path, test_split: bool = False, speakers: tuple[str, ...] = SPEAKERS) -> Path:
    root = base / "an4"
    (root / "etc").mkdir(parents=True)
    splits = {"train": ("an4_clstk", speakers)} | ({"test": ("an4test_clstk", ("fcaw",))}
                                                  if test_split else {})
    for split, (folder, speakers) in splits.items():
        ids, lines = [], []
        for s, speaker in enumerate(speakers):
            (root / "wav" / folder / speaker).mkdir(parents=True)
            for i, text in enumerate(TEXTS):
                utt = f"an{10 * s + i}-{speaker}-b"
                wav = 0.1 * np.sin(np.arange(1600 * (i + 1)) / 5.0)
                soundfile.write(root / "wav" / folder / speaker / f"{utt}.sph", wav, 16000,
                                format="NIST", subtype="PCM_16")
                ids.append(f"{folder}/{speaker}/{utt}")
                lines.append(f"<s> {text} </s> ({utt})")
        (root / "etc" / f"an4_{split}.fileids").write_text("\n".join(ids) + "\n")
        (root / "etc" / f"an4_{split}.transcription").write_text("\n".join(lines) + "\n")
    return root


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_train_and_dev_by_speaker_with_lower_case_text(tmp_path):
    root = _build(tmp_path)
    written = prepare_an4(tmp_path, tmp_path / "out", dev_count=1)
    assert set(written) == {"train", "dev"}  # no test split in this copy
    train, dev = _read(written["train"]), _read(written["dev"])
    assert len(train) == 9 and len(dev) == 3
    assert {e["speaker"] for e in dev} == dev_speakers(set(SPEAKERS), 1)
    assert not {e["speaker"] for e in dev} & {e["speaker"] for e in train}
    first = next(e for e in train + dev if e["id"] == "an2-fash-b")
    assert first["text"] == "p i t t s b u r g h" and first["duration"] == 0.3
    assert first["audio_filepath"] == str(root / "wav/an4_clstk/fash/an2-fash-b.sph")
    wav, rate = load_audio(first["audio_filepath"])
    assert rate == 16000 and len(wav) == 4800


def test_test_split_where_the_copy_has_it_and_the_registry_entry(tmp_path):
    _build(tmp_path, test_split=True, speakers=tuple(f"sp{i:02d}" for i in range(10)))
    folder = prepare("an4", tmp_path / "an4", out=tmp_path / "m")
    assert {p.name for p in folder.iterdir()} == {"train.jsonl", "dev.jsonl", "test.jsonl"}
    assert len({e["speaker"] for e in _read(folder / "dev.jsonl")}) == 8  # the default
    assert {e["speaker"] for e in _read(folder / "test.jsonl")} == {"fcaw"}


def test_dev_speakers_do_not_depend_on_the_others():
    assert dev_speakers({"a", "b", "c", "d"}, 2) <= dev_speakers({"a", "b", "c", "d", "e"}, 3)
    with pytest.raises(DataError, match="leaves none to train on"):
        dev_speakers({"a", "b"}, 2)


def test_missing_transcript_names_the_utterance(tmp_path):
    root = _build(tmp_path)
    text = root / "etc" / "an4_train.transcription"
    text.write_text("\n".join(text.read_text().splitlines()[1:]) + "\n")
    with pytest.raises(DataError, match=r"no transcript for an0-fash-b"):
        prepare_an4(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unreadable_sphere_file_is_named(tmp_path):
    root = _build(tmp_path)
    (root / "wav/an4_clstk/mcen/an21-mcen-b.sph").write_bytes(b"NIST_1A\n garbage")
    with pytest.raises(DataError, match=r"cannot read audio .*an21-mcen-b\.sph"):
        prepare_an4(root, tmp_path / "out")


def test_missing_audio_and_malformed_line(tmp_path):
    root = _build(tmp_path)
    (root / "wav/an4_clstk/mjwl/an30-mjwl-b.sph").unlink()
    with pytest.raises(DataError, match=r"an30-mjwl-b\.sph does not exist"):
        prepare_an4(root, tmp_path / "out")
    (root / "etc" / "an4_train.transcription").write_text("YES without an id\n")
    with pytest.raises(DataError, match=r"an4_train\.transcription:1: expected"):
        prepare_an4(root, tmp_path / "out")


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist: download an4_sphere"):
        prepare_an4(tmp_path / "nowhere")
    with pytest.raises(DataError, match="no etc/an4_train.transcription"):
        prepare_an4(tmp_path)


@pytest.mark.skipif(not (SHARED / "etc").is_dir(), reason="no AN4 copy")
def test_the_shared_training_split(tmp_path):
    written = prepare_an4(SHARED, tmp_path)
    train, dev = _read(written["train"]), _read(written["dev"])
    assert len(train) + len(dev) == 948
    assert len({e["speaker"] for e in dev}) == 8 and 80 <= len(dev) <= 130
    assert sum(e["duration"] for e in train + dev) / 60 == pytest.approx(42.4, abs=0.1)
