"""English normalisation: every rule of normalize, the number helpers and split_sentences."""

from __future__ import annotations

import pytest

from speechzoo.errors import DataError, SpeechZooError
from speechzoo.text.english import (
    CHARACTERS,
    normalize,
    number_to_words,
    ordinal_to_words,
    split_sentences,
)


def test_characters_are_the_deep_speech_2_alphabet():
    assert CHARACTERS == " abcdefghijklmnopqrstuvwxyz'"


@pytest.mark.parametrize(("n", "words"), [
    (0, "zero"),
    (7, "seven"),
    (13, "thirteen"),
    (40, "forty"),
    (99, "ninety nine"),
    (100, "one hundred"),
    (101, "one hundred one"),
    (1_000, "one thousand"),
    (1_234, "one thousand two hundred thirty four"),
    (1_000_001, "one million one"),
    (999_999_999_999, "nine hundred ninety nine billion nine hundred ninety nine million "
                      "nine hundred ninety nine thousand nine hundred ninety nine"),
    (-42, "minus forty two"),
])
def test_number_to_words(n, words):
    assert number_to_words(n) == words


def test_number_to_words_rejects_numbers_without_a_scale_word():
    with pytest.raises(DataError, match="too large"):
        number_to_words(10 ** 15)
    assert issubclass(DataError, SpeechZooError)


@pytest.mark.parametrize(("n", "words"), [
    (1, "first"), (2, "second"), (3, "third"), (4, "fourth"), (5, "fifth"), (8, "eighth"),
    (9, "ninth"), (11, "eleventh"), (12, "twelfth"), (20, "twentieth"),
    (22, "twenty second"), (103, "one hundred third"), (1_000, "one thousandth"),
])
def test_ordinal_to_words(n, words):
    assert ordinal_to_words(n) == words


@pytest.mark.parametrize(("text", "spoken"), [
    ("1,234", "one thousand two hundred thirty four"),
    ("1,000,000 people", "one million people"),
    ("999,999,999,999", number_to_words(999_999_999_999)),
    ("-5 degrees", "minus five degrees"),
    ("3.14", "three point one four"),
    ("-0.25", "minus zero point two five"),
    (".5", "point five"),
    ("room 101", "room one hundred one"),
    ("007", "zero zero seven"),
    ("1234567890123456789", "one two three four five six seven eight nine zero "
                            "one two three four five six seven eight nine"),
    ("10km", "ten km"),
    ("1,2345", "one two thousand three hundred forty five"),
])
def test_numbers(text, spoken):
    assert normalize(text) == spoken


@pytest.mark.parametrize(("text", "spoken"), [
    ("1st", "first"), ("22nd", "twenty second"), ("103rd", "one hundred third"),
    ("4th", "fourth"), ("11th", "eleventh"), ("the 1,000th visitor", "the one thousandth visitor"),
])
def test_ordinals(text, spoken):
    assert normalize(text) == spoken


@pytest.mark.parametrize(("text", "spoken"), [
    ("1999", "nineteen ninety nine"),
    ("1905", "nineteen oh five"),
    ("1900", "nineteen hundred"),
    ("1100", "eleven hundred"),
    ("2000", "two thousand"),
    ("2008", "two thousand eight"),
    ("2015", "twenty fifteen"),
    ("in 1066", "in one thousand sixty six"),
    ("2100", "two thousand one hundred"),
    ("19999", "nineteen thousand nine hundred ninety nine"),
    ("1999.5", "one thousand nine hundred ninety nine point five"),
    ("May 4, 1999, was", "may four nineteen ninety nine was"),
])
def test_years(text, spoken):
    assert normalize(text) == spoken


@pytest.mark.parametrize(("text", "spoken"), [
    ("1990s", "nineteen nineties"),
    ("the 1960's", "the nineteen sixties"),
    ("1900s", "nineteen hundreds"),
    ("2000s", "two thousands"),
    ("80s", "eighties"),
    ("'80s music", "eighties music"),
    ("in his 20s", "in his twenties"),
])
def test_decades(text, spoken):
    assert normalize(text) == spoken


@pytest.mark.parametrize(("text", "spoken"), [
    ("$5", "five dollars"),
    ("$1", "one dollar"),
    ("$5.50", "five dollars fifty cents"),
    ("$5.5", "five dollars fifty cents"),
    ("$1.01", "one dollar one cent"),
    ("$0.50", "fifty cents"),
    ("$5.00", "five dollars"),
    ("$1,234", "one thousand two hundred thirty four dollars"),
    ("$2 million", "two million dollars"),
    ("$1.5 billion", "one point five billion dollars"),
    ("£3", "three pounds"),
    ("£3.01", "three pounds one penny"),
    ("£2.50", "two pounds fifty pence"),
    ("€10", "ten euros"),
    ("€1.20", "one euro twenty cents"),
])
def test_currency(text, spoken):
    assert normalize(text) == spoken


@pytest.mark.parametrize(("text", "spoken"), [
    ("50%", "fifty percent"),
    ("2.5 %", "two point five percent"),
    ("1500%", "one thousand five hundred percent"),
    ("salt & pepper", "salt and pepper"),
])
def test_percent_and_ampersand(text, spoken):
    assert normalize(text) == spoken


@pytest.mark.parametrize(("text", "spoken"), [
    ("4:00pm", "four p m"),
    ("4:30 p.m.", "four thirty p m"),
    ("7:05", "seven oh five"),
    ("7:00", "seven o'clock"),
    ("14:00", "fourteen hundred"),
    ("11:45 AM", "eleven forty five a m"),
    ("4pm", "four p m"),
    ("at 6 a.m. sharp", "at six a m sharp"),
    ("25:30", "twenty five thirty"),
    ("in the a.m.", "in the a m"),
])
def test_times(text, spoken):
    assert normalize(text) == spoken


@pytest.mark.parametrize(("text", "spoken"), [
    ("Mr. Smith", "mister smith"),
    ("Mrs. Smith", "missus smith"),
    ("Ms. Smith", "miss smith"),
    ("Mr Smith", "mister smith"),
    ("Dr. Jones", "doctor jones"),
    ("St. Louis", "saint louis"),
    ("Main St. is closed", "main street is closed"),
    ("John Smith Jr. and Sr.", "john smith junior and senior"),
    ("Ali vs. Frazier", "ali versus frazier"),
    ("apples, pears, etc.", "apples pears et cetera"),
    ("Prof. Gen. Lt. Col. Sgt. Capt.",
     "professor general lieutenant colonel sergeant captain"),
    ("Mt. Everest", "mount everest"),
    ("No. 5", "number five"),
    ("#3", "number three"),
    ("no. I won't", "no i won't"),
    ("fruit, e.g. apples", "fruit for example apples"),
    ("one, i.e. this", "one that is this"),
])
def test_abbreviations(text, spoken):
    assert normalize(text) == spoken


@pytest.mark.parametrize(("text", "spoken"), [
    ("café naïve façade", "cafe naive facade"),
    ("Ærøskøbing straße", "aeroskobing strasse"),
    ("“Hello,” she said.", "hello she said"),
    ("don’t", "don't"),
    ("wait—what", "wait what"),
    ("pages 3–5", "pages three five"),
    ("−5", "minus five"),
    ("3½ cups", "three one two cups"),
])
def test_unicode_is_folded_to_ascii(text, spoken):
    assert normalize(text) == spoken


@pytest.mark.parametrize(("text", "spoken"), [
    ("don't", "don't"),
    ("o'clock", "o'clock"),
    ("James' car", "james' car"),
    ("the boys' toys", "the boys' toys"),
    ("he said 'yes'.", "he said yes"),
    ("'quoted' words", "quoted words"),
    ("rock 'n' roll", "rock n roll"),
    ("''double''", "double"),
])
def test_apostrophes_are_kept_only_inside_words(text, spoken):
    assert normalize(text) == spoken


@pytest.mark.parametrize(("text", "spoken"), [
    ("well-known", "well known"),
    ("F-16", "f sixteen"),
    ("1990-2000", "nineteen ninety two thousand"),
    ("a - b", "a b"),
    ("a/b", "a b"),
    ("NASA", "nasa"),
    ("U.S.A.", "u s a"),
    ("Hello, world! How are you?", "hello world how are you"),
    ("  lots   of\tspace\n", "lots of space"),
    ("", ""),
    ("?!...", ""),
])
def test_punctuation_hyphens_and_case(text, spoken):
    assert normalize(text) == spoken


def test_output_uses_only_the_alphabet():
    messy = ("On 4/7/2015 at 10:30 a.m., Dr. O’Brien — the “expert” — paid £1,250.75 "
             "(≈ 30% more than in the ’90s!) for 3½ kg of crème brûlée at Café Zoë; "
             "e.g. #1 <b>BEST</b> [sic] ~ ¿qué? 日本 ★ x² {json: true} @home C:\\tmp\\file_2.txt")
    out = normalize(messy)
    assert set(out) <= set(CHARACTERS)
    assert "  " not in out
    assert out == out.strip()
    assert "doctor o'brien" in out
    assert "one thousand two hundred fifty pounds seventy five pence" in out
    assert "nineties" in out
    assert "creme brulee" in out


def test_split_sentences():
    paragraph = ('Mr. Smith paid $3.50. Then he left! Did he? "Yes," said J. Smith. '
                 "It cost 3.5 times more, e.g. Paris. No. 5 won.  ")
    assert split_sentences(paragraph) == [
        "Mr. Smith paid $3.50.",
        "Then he left!",
        "Did he?",
        '"Yes," said J. Smith.',
        "It cost 3.5 times more, e.g. Paris.",
        "No. 5 won.",
    ]


@pytest.mark.parametrize(("text", "sentences"), [
    ('He said "Stop." Then he ran.', ['He said "Stop."', "Then he ran."]),
    ("It was 1999. 2000 came next.", ["It was 1999.", "2000 came next."]),
    ("I said no. 5 of us went.", ["I said no. 5 of us went."]),
    ("I said no. Five of us went.", ["I said no.", "Five of us went."]),
    ("Dr. Jones vs. St. Louis Prof. Lee", ["Dr. Jones vs. St. Louis Prof. Lee"]),
    ("wait... What? yes. no", ["wait...", "What? yes. no"]),
    ("A dot.lowercase and a.b", ["A dot.lowercase and a.b"]),
    ("", []),
    ("   \n ", []),
])
def test_split_sentences_edge_cases(text, sentences):
    assert split_sentences(text) == sentences


@pytest.mark.parametrize(("text", "spoken"), [
    ("3-5", "three five"),
    ("$5-10", "five dollars ten"),
    ("1st-3rd", "first third"),
    ("wait--5 more", "wait five more"),
    ("(-5)", "minus five"),
    ("x = -2", "x minus two"),
])
def test_hyphen_is_a_minus_only_before_a_lone_number(text, spoken):
    assert normalize(text) == spoken
