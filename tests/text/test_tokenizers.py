"""Tokenizers: ids, special symbols, and the dict form bundles store."""

import pytest

from speechzoo.errors import DataError, TextError
from speechzoo.text.english import CHARACTERS
from speechzoo.text.tokenizers import CharTokenizer, PhonemeTokenizer, tokenizer_from_dict


def test_characters_round_trip_and_blank():
    tok = CharTokenizer(CHARACTERS)
    ids = tok.encode("it's")
    assert 0 not in ids and len(tok) == 29 and tok.decode([0, *ids, 0]) == "it's"
    assert tokenizer_from_dict(tok.to_dict()) == tok
    assert tokenizer_from_dict({"kind": "chars", "alphabet": "ab"}) != tok
    with pytest.raises(DataError, match=r"outside the model's alphabet: \['!', 'H'\]"):
        tok.encode("Hi!")


def test_unknown_characters_become_one_symbol():
    tok = CharTokenizer("我们去", unknown="<unk>")
    assert len(tok) == 5 and tok.encode("我们去公园") == [1, 2, 3, 4, 4]
    assert tok.decode(tok.encode("去公园我")) == "去<unk><unk>我"
    assert tokenizer_from_dict(tok.to_dict()) == tok
    assert tokenizer_from_dict(tok.to_dict()).unknown == "<unk>"
    assert CharTokenizer("我们去") != tok


def test_named_alphabets():
    assert CharTokenizer("english") == CharTokenizer(CHARACTERS)
    assert CharTokenizer("english").to_dict()["alphabet"] == CHARACTERS  # spelled out


def test_phonemes_have_pad_blank_and_end():
    tok = PhonemeTokenizer(["h", "ə", "ˈ", " "])
    assert (tok.pad, tok.blank, tok.end) == (0, 1, 2) and len(tok) == 7
    ids = tok.encode(["h", "ˈ", "ə"], add_end=True)
    assert ids == [3, 5, 4, 2]
    assert tok.decode(ids) == ["h", "ˈ", "ə"]
    assert tokenizer_from_dict(tok.to_dict()) == tok
    with pytest.raises(DataError, match="outside the model's inventory"):
        tok.encode(["x"])


def test_bad_inventories():
    with pytest.raises(TextError, match="repeats"):
        PhonemeTokenizer(["a", "a"])
    with pytest.raises(TextError, match="special"):
        PhonemeTokenizer(["<pad>"])
    with pytest.raises(TextError, match="unknown tokenizer"):
        tokenizer_from_dict({"kind": "bytes"})
