"""synth-tts-en: Piper run as a separate process (here the stand-in of tests/data/fake_piper,
which answers like Piper's HTTP server), its alignments turned into frame durations."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from speechzoo.data.corpora import piper
from speechzoo.data.corpora.synth_tts_en import (
    HOP,
    SAMPLE_RATE,
    labels,
    prepare_synth_tts_en,
    split_sentences,
)
from speechzoo.data.manifest import read_manifest
from speechzoo.errors import DataError
from speechzoo.text.phonemes import speakable


def test_corpus_holds_audio_cut_to_its_durations(tiny_tts_corpus):
    for split, size in (("train", 8), ("dev", 2), ("test", 2)):
        entries = read_manifest(tiny_tts_corpus / f"{split}.jsonl")
        assert len(entries) == size
        for e in entries:
            info = sf.info(e["audio_filepath"])
            assert info.samplerate == SAMPLE_RATE
            assert info.frames == sum(e["durations"]) * HOP  # cut to the alignment
            assert len(e["durations"]) == len(e["phonemes"]) + 1  # + the end token
            # the fake speaks 3 frames per symbol: the start marker joins the first phoneme
            assert e["durations"][0] == 6 and set(e["durations"][1:]) == {3}
            assert e["phonemes_agree"] and e["speaker"] == "joe"
    lines = (tiny_tts_corpus / "train.jsonl").read_text().splitlines()
    assert not json.loads(lines[0])["audio_filepath"].startswith("/")  # movable folder


def test_dev_and_test_sentences_never_train():
    real = [f"Real sentence number {i}." for i in range(20)]
    generated = ["Real sentence number 3.", "Another generated one."]
    splits = split_sentences(real, generated, seed=0, dev_size=3, test_size=3,
                             train_size=None)
    held = {speakable(t) for t in splits["dev"] + splits["test"]}
    assert not held & {speakable(t) for t in splits["train"]}
    assert len(splits["train"]) == 20 - 6 + 1  # the generated copy of a real one dropped
    assert split_sentences(real, generated, 0, 3, 3, None) == splits  # deterministic


def test_labels_fold_the_markers():
    said = piper.PiperUtterance(np.zeros(10, np.int16), SAMPLE_RATE, ["^", "a", "b", "$"],
                                [512, 256, 768, 1024])
    assert labels(said) == (["a", "b"], [3, 3, 4])
    with pytest.raises(DataError, match="unexpected Piper alignment"):
        labels(piper.PiperUtterance(np.zeros(1, np.int16), SAMPLE_RATE, ["a", "b", "c"],
                                    [1, 1, 1]))


def test_generation_leaves_nothing_behind_when_piper_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHZOO_PIPER_PYTHON", str(tmp_path / "no-python"))
    with pytest.raises(DataError, match="SPEECHZOO_PIPER_PYTHON"):
        prepare_synth_tts_en(tmp_path / "c", markov=0, dev_size=1, test_size=1, train_size=1)
    assert list(tmp_path.iterdir()) == []


def test_server_answers_and_stops(fake_piper):
    with piper.PiperServer("joe") as server:
        said = server.synthesize("hello world.")
        process = server.process
    assert said.phonemes[0] == piper.BOS and said.phonemes[-1] == piper.EOS
    assert said.sample_rate == SAMPLE_RATE and len(said.audio) >= sum(said.samples)
    assert process.poll() is not None  # the server process is gone
    with pytest.raises(DataError, match="unknown Piper voice"):
        piper.voice_model("amy")
