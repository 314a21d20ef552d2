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
