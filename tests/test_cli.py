"""The command line: its output equals the API's; prepare, evaluate and export work; bad input
is reported without stopping the good."""

import importlib
import json
from pathlib import Path

import pytest

import speechzoo
from speechzoo.cli import main
from speechzoo.data.corpora import CORPORA, prepare
from speechzoo.data.manifest import read_manifest
from speechzoo.errors import DataError

HELDOUT = Path(__file__).parent / "data" / "heldout"
FILES = [str(p) for p in sorted(HELDOUT.glob("*.flac"))]
librispeech_tree = importlib.import_module("tests.data.test_librispeech")._build


@pytest.fixture(scope="module")
def asr():
    return speechzoo.load("ds2-en", device="cpu")


def test_transcripts_equal_the_apis(asr, capsys):
    main(["transcribe", *FILES])
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{f}\t{t}" for f, t in zip(FILES, asr.transcribe(FILES), strict=True)]
    main(["transcribe", "--format", "jsonl", FILES[0]])
    assert json.loads(capsys.readouterr().out) == {"audio_filepath": FILES[0],
                                                   "text": asr.transcribe(FILES[0])}
    main(["transcribe", FILES[1]])
    assert capsys.readouterr().out == asr.transcribe(FILES[1]) + "\n"


def test_a_bad_file_does_not_stop_the_others(asr, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not audio")
    args = ["transcribe", FILES[0], str(tmp_path), str(tmp_path / "notes.txt"), FILES[1]]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"{FILES[0]}\t{asr.transcribe(FILES[0])}",
                                f"{FILES[1]}\t{asr.transcribe(FILES[1])}"]
    assert f"{tmp_path} is a folder, not an audio file" in err
    assert "could not decode" in err and "2 of 4 files could not be transcribed" in err


def test_evaluate_scores_a_manifest(asr, tmp_path, capsys):
    manifest = HELDOUT / "heldout.jsonl"
    expected = asr.evaluate(manifest)
    main(["evaluate", str(manifest), "--output", str(tmp_path / "hyps.jsonl")])
    out = capsys.readouterr().out
    assert out.startswith(f"WER {expected['wer']:.4f}  CER {expected['cer']:.4f}  (4 utt")
    rows = read_manifest(tmp_path / "hyps.jsonl")
    assert [r["hypothesis"] for r in rows] == asr.transcribe([r["audio_filepath"] for r in rows])
    assert [r["text"] for r in rows] == [e["text"] for e in read_manifest(manifest)]


def test_prepare_routes_each_corpus_its_own_options(tmp_path, capsys, monkeypatch):
    librispeech_tree(tmp_path)
    main(["prepare", "librispeech", str(tmp_path), "--out", str(tmp_path / "m")])
    assert capsys.readouterr().out.strip() == str(tmp_path / "m")
    assert {p.name for p in (tmp_path / "m").glob("*.jsonl")} == {
        "dev-clean.jsonl", "train-clean-100.jsonl", "train.jsonl"}
    seen = {}
    synth_en = importlib.import_module("speechzoo.data.corpora.synth_en")
    monkeypatch.setattr(synth_en, "prepare_synth_en",
                        lambda out, markov: seen.update(out=out, markov=markov) or out)
    main(["prepare", "synth-en", "--markov", "7", "--out", str(tmp_path / "s")])
    assert seen == {"out": str(tmp_path / "s"), "markov": 7}
    with pytest.raises(SystemExit):  # --markov is synth-en's, not librispeech's
        main(["prepare", "librispeech", str(tmp_path), "--markov", "3"])
    with pytest.raises(DataError, match="no option"):
        prepare("librispeech", tmp_path, markov=3)
    with pytest.raises(DataError, match="needs the folder"):
        prepare("librispeech")
    assert all(c.help for c in CORPORA.values())


def test_export_writes_a_bundle_that_loads(tmp_path, capsys):
    main(["export", str(HELDOUT.parents[1].parent / "pretrained" / "ds2-en"),
          str(tmp_path / "copy")])
    assert capsys.readouterr().out.strip() == str(tmp_path / "copy" / "model.ckpt")
    again = speechzoo.load(tmp_path / "copy", device="cpu")
    assert again.transcribe(FILES) == speechzoo.load("ds2-en").transcribe(FILES)
