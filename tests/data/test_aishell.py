"""prepare_aishell on a tiny fake AISHELL-1 tree built in tmp_path."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from speechzoo.data.corpora import prepare
from speechzoo.data.corpora.aishell import prepare_aishell
from speechzoo.data.manifest import read_manifest
from speechzoo.errors import DataError


def _build(base, transcripts: str) -> None:
    root = base / "data_aishell"
    (root / "transcript").mkdir(parents=True)
    (root / "transcript" / "aishell_transcript_v0.8.txt").write_text(transcripts, "utf-8")
    for split, speaker, utt, seconds in [("train", "S0002", "BAC009S0002W0122", 0.5),
                                         ("train", "S0002", "BAC009S0002W0123", 0.25),
                                         ("dev", "S0724", "BAC009S0724W0121", 0.3),
                                         ("test", "S0764", "BAC009S0764W0121", 0.2)]:
        folder = root / "wav" / split / speaker
        folder.mkdir(parents=True, exist_ok=True)
        soundfile.write(folder / f"{utt}.wav", np.zeros(int(16000 * seconds), np.float32), 16000)


def test_manifests_hold_characters_per_split(tmp_path):
    _build(tmp_path, "BAC009S0002W0122 而 对 楼市 成交\nBAC009S0724W0121 甚至 出现\n"
                     "BAC009S0764W0121 一二三\n")
    written = prepare_aishell(tmp_path)  # the folder above data_aishell works too
    train = read_manifest(written["train"])
    # W0123 has no transcript line: left out
    assert [(e["text"], e["speaker"], e["duration"]) for e in train] == [("而对楼市成交", "S0002",
                                                                         0.5)]
    assert read_manifest(written["dev"])[0]["text"] == "甚至出现"
    assert prepare("aishell", tmp_path / "data_aishell") == tmp_path / "data_aishell"


def test_missing_or_packed_copies_say_what_to_do(tmp_path):
    with pytest.raises(DataError, match="openslr.org/33"):
        prepare_aishell(tmp_path)
    root = tmp_path / "data_aishell"
    (root / "transcript").mkdir(parents=True)
    (root / "transcript" / "aishell_transcript_v0.8.txt").write_text("X 你好\n", "utf-8")
    for split in ("train", "dev", "test"):
        (root / "wav" / split).mkdir(parents=True)
    (root / "wav" / "S0002.tar.gz").write_bytes(b"")
    with pytest.raises(DataError, match="unpack the 1 speaker archives"):
        prepare_aishell(root)
    (root / "transcript" / "aishell_transcript_v0.8.txt").write_text("X hello\n", "utf-8")
    with pytest.raises(DataError, match=":1: expected"):
        prepare_aishell(root)
