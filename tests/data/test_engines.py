"""The speech engine adapters (each speaks a sentence where installed) and synth-voices-en
(on a fake engine, and on pico where installed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from speechzoo.data import engines
from speechzoo.data.corpora import synth_voices_en
from speechzoo.data.corpora.synth_voices_en import choose_engines, prepare_synth_voices_en
from speechzoo.data.engines import ENGINES, Engine, Utterance
from speechzoo.errors import DataError


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_each_engine_speaks_a_sentence(name, tmp_path):
    engine = ENGINES[name]
    if (why := engine.missing()) is not None:
        pytest.skip(f"{name}: {why}")
    path = tmp_path / "out.wav"
    engine.speak([Utterance('forty two "quoted" words, then more', engine.voices[0], 1.1,
                            0.9, path)])
    wav, rate = soundfile.read(path)
    assert rate >= 8000 and 1.0 < len(wav) / rate < 6.0
    assert np.abs(wav).max() > 0.05  # speech, not silence


def test_a_missing_program_says_what_to_install(monkeypatch):
    monkeypatch.setattr(engines.shutil, "which", lambda program: None)
    assert "apt-get install libttspico-utils" in ENGINES["pico"].missing()
    assert "non-free" in ENGINES["pico"].missing()


def _fake_speak(batch):
    for u in batch:  # a tone whose pitch and length follow the drawn pitch and rate
        t = np.arange(int(8000 * len(u.text.split()) * 0.1 / u.rate)) / 8000
        soundfile.write(u.path, 0.3 * np.sin(2 * np.pi * 200 * u.pitch * t), 8000)


@pytest.fixture
def fake_engines(monkeypatch):
    fake = Engine("fake", ("a", "b"), ("fake-pkg",), "test", True, "true", lambda v: "/",
                  _fake_speak)
    absent = Engine("absent", ("c",), ("absent-pkg",), "test", True, "no-such-program-x",
                    lambda v: "/", _fake_speak)
    monkeypatch.setattr(engines, "ENGINES", {"fake": fake, "absent": absent})
    monkeypatch.setattr(synth_voices_en, "ENGINES", {"fake": fake, "absent": absent})


def test_corpus_from_the_engines_that_run_recording_the_others(fake_engines, tmp_path):
    out = prepare_synth_voices_en(tmp_path / "c", per_voice=3, markov=0, heldout=4, workers=1)
    rows = {s: [json.loads(x) for x in (out / f"{s}.jsonl").read_text().splitlines()]
            for s in ("train", "dev", "test")}
    assert [len(rows[s]) for s in ("train", "dev", "test")] == [6, 4, 4]
    assert {r["speaker"] for r in rows["train"]} == {"fake:a", "fake:b"}
    assert not {r["text"] for r in rows["train"]} & {r["text"] for r in rows["test"]}
    info = json.loads((out / "corpus.json").read_text())
    assert list(info["engines"]) == ["fake"] and "no-such-program-x" in info["skipped"]["absent"]
    first = rows["train"][0]
    wav, rate = soundfile.read(out / first["audio_filepath"])
    assert rate == 16000 and len(wav) / rate == pytest.approx(first["duration"], abs=1e-3)
    again = prepare_synth_voices_en(tmp_path / "d", per_voice=3, markov=0, heldout=4, workers=1)
    assert (again / "train.jsonl").read_text() == (out / "train.jsonl").read_text()
    assert np.array_equal(soundfile.read(again / first["audio_filepath"])[0], wav)
    assert not list(tmp_path.glob("*.tmp*"))


def test_no_engine_that_runs_is_a_clear_error(fake_engines, tmp_path):
    with pytest.raises(DataError, match=r"no speech engine .*\(absent: no-such-program-x"):
        choose_engines("absent")
    with pytest.raises(DataError, match="unknown speech engine 'flite'"):
        choose_engines("flite")
    assert not (tmp_path / "c").exists()


@pytest.mark.skipif(ENGINES["pico"].missing() is not None, reason="SVOX Pico not installed")
def test_pico_corpus(tmp_path):
    out = prepare_synth_voices_en(tmp_path / "p", per_voice=1, engines="pico", markov=0,
                                  heldout=2, workers=2)
    speakers = [json.loads(x)["speaker"] for x in (out / "train.jsonl").read_text().splitlines()]
    assert speakers == ["pico:en-US", "pico:en-GB"]
    assert Path(out / "train" / "pico-en-US-00000.flac").is_file()
