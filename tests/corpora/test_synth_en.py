import json

import numpy as np
import pytest
import soundfile as sf

from speechzoo.data.corpora.synth_en import CORE_VARIANTS, HELD_OUT_VARIANTS, prepare_synth_en
from speechzoo.data.manifest import read_manifest
from speechzoo.errors import DataError
from speechzoo.text import espeak
from speechzoo.text.english import CHARACTERS


def test_espeak_phoneme_events_cover_the_utterance():
    syn = espeak.synthesize("The quick brown fox.", "en-us+f3", rate=170)
    assert syn.sample_rate == espeak.SAMPLE_RATE and syn.waveform.dtype == np.float32
    assert 1.0 < len(syn.waveform) / syn.sample_rate < 3.0
    assert len(syn.phonemes) == len(syn.starts) > 10
    assert syn.starts == sorted(syn.starts) and syn.starts[-1] <= len(syn.waveform)
    with pytest.raises(DataError, match="no voice"):
        espeak.synthesize("hello", "xx-nowhere")


def test_splits_manifests_and_audio(tiny_corpus):
    splits = {s: read_manifest(tiny_corpus / f"{s}.jsonl") for s in ("train", "dev", "test")}
    assert [len(splits[s]) for s in ("train", "dev", "test")] == [8, 2, 2]
    train_text = {e["text"] for e in splits["train"]}
    held_out = {e["text"] for s in ("dev", "test") for e in splits[s]}
    assert not train_text & held_out  # dev/test sentences never occur in training
    assert not {e["speaker"].partition("+")[2] for e in splits["train"]} & set(HELD_OUT_VARIANTS)
    # dev and test speak only core or held-out variants, so their numbers stay comparable
    evaluated = {e["speaker"].partition("+")[2] for s in ("dev", "test") for e in splits[s]}
    assert evaluated <= set(CORE_VARIANTS) | set(HELD_OUT_VARIANTS)
    for entry in splits["train"] + splits["dev"]:
        info = sf.info(entry["audio_filepath"])
        assert info.samplerate == 22050
        assert abs(info.frames / info.samplerate - entry["duration"]) < 1e-2
        assert set(entry["text"]) <= set(CHARACTERS) and entry["text"].strip()
        starts = entry["phoneme_starts"]
        assert len(starts) == len(entry["phonemes"]) and starts == sorted(starts)
        assert 0 <= starts[0] and starts[-1] <= entry["duration"]
    # relative paths: the corpus folder can move
    first = json.loads((tiny_corpus / "train.jsonl").read_text().splitlines()[0])
    assert not first["audio_filepath"].startswith("/")


def test_deterministic_and_refuses_to_overwrite(tiny_corpus, tmp_path):
    again = prepare_synth_en(tmp_path / "again", seed=3, train_size=8, dev_size=2, test_size=2,
                             markov=0, workers=1)
    for split in ("train", "test"):
        a = read_manifest(tiny_corpus / f"{split}.jsonl")
        b = read_manifest(again / f"{split}.jsonl")
        assert [e["text"] for e in a] == [e["text"] for e in b]
        wa, _ = sf.read(a[0]["audio_filepath"])
        wb, _ = sf.read(b[0]["audio_filepath"])
        np.testing.assert_array_equal(wa, wb)
    with pytest.raises(FileExistsError):
        prepare_synth_en(again, train_size=2, dev_size=1, test_size=1, markov=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again"]  # nothing half-written


def test_a_job_that_crashes_espeak_gets_the_plain_voice(tmp_path, monkeypatch):
    import faulthandler
    import os
    import signal

    from speechzoo.data.corpora import synth_en

    render = synth_en.render

    def crashing(index, split, text, seed, folder, accents, plain=False):
        if split == "train" and index == 1 and not plain:
            # The worker inherits pytest's faulthandler, whose "Fatal Python error" dump of this
            # deliberate crash would show in a passing run.
            faulthandler.disable()
            os.kill(os.getpid(), signal.SIGSEGV)  # what eSpeak NG does on a few inputs
        return render(index, split, text, seed, folder, accents, plain)

    monkeypatch.setattr(synth_en, "render", crashing)  # forked workers inherit it
    out = prepare_synth_en(tmp_path / "c", seed=3, train_size=4, dev_size=1, test_size=1,
                           markov=0, workers=2)
    train = read_manifest(out / "train.jsonl")
    assert all(e["audio_filepath"].endswith(f"train-{i:06d}.flac") for i, e in enumerate(train))
    assert "+" not in train[1]["speaker"]
    monkeypatch.setattr(synth_en, "render", render)
    again = prepare_synth_en(tmp_path / "d", seed=3, train_size=4, dev_size=1, test_size=1,
                             markov=0, workers=2)
    normal = read_manifest(again / "train.jsonl")
    assert train[1]["speaker"] == normal[1]["speaker"].split("+")[0]
    assert [e["text"] for e in train] == [e["text"] for e in normal]
