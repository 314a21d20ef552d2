"""normalize(text, tts=True): dates, regnal numerals and LJ Speech's abbreviations, plus the
TTS front end's other needs (already read by default), and that the default is unchanged."""

from __future__ import annotations

import pytest

from speechzoo.text.english import CHARACTERS, normalize


@pytest.mark.parametrize(("text", "spoken"), [
    ("January 5, 2024", "january fifth twenty twenty four"),
    ("January 5 2024", "january fifth twenty twenty four"),
    ("Jan. 5th, 2024", "january fifth twenty twenty four"),
    ("Sept 11", "september eleventh"),
    ("on December 31st, 1999.", "on december thirty first nineteen ninety nine"),
    ("May 4, 1999, was", "may fourth nineteen ninety nine was"),
    ("the October 14, 1066 battle", "the october fourteenth ten sixty six battle"),
    ("January 4-6", "january fourth six"),
    ("5 January 2024", "the fifth of january twenty twenty four"),
    ("on 1 May", "on the first of may"),
    ("the 5th of May, 1999", "the fifth of may nineteen ninety nine"),
    ("2024-01-05", "january fifth twenty twenty four"),
    ("1/5/2024", "january fifth twenty twenty four"),
    ("12/25/99", "december twenty fifth ninety nine"),
    ("1/5/05", "january fifth oh five"),
    ("25/12/2024", "the twenty fifth of december twenty twenty four"),
])
def test_dates(text, spoken):
    assert normalize(text, tts=True) == spoken


@pytest.mark.parametrize(("text", "spoken"), [
    ("13/13/2024", "thirteen thirteen twenty twenty four"),  # no month: numbers
    ("2024-13-05", "twenty twenty four thirteen zero five"),
    ("1/2 cup", "one two cup"),  # two numbers are a fraction, not a date
    ("May 2024", "may twenty twenty four"),
    ("you may 5", "you may five"),  # lower-case months are other words
    ("January 5:30", "january five thirty"),
    ("March 3.5", "march three point five"),
    ("March 40", "march forty"),
])
def test_what_is_not_a_date(text, spoken):
    assert normalize(text, tts=True) == spoken


@pytest.mark.parametrize(("text", "spoken"), [
    ("Henry VIII", "henry the eighth"),
    ("Henry VIII's wives", "henry the eighth's wives"),
    ("Louis XIV, then", "louis the fourteenth then"),
    ("Pope John Paul II", "pope john paul the second"),
    ("Pius XII", "pius the twelfth"),
    ("John XXIII", "john the twenty third"),
    ("Richard III.", "richard the third"),
    ("King Charles I was", "king charles the first was"),
    ("Elizabeth I said", "elizabeth i said"),  # "I" alone needs a title
    ("John V. Lindsay", "john v lindsay"),  # a middle initial
    ("World War II", "world war ii"),  # not a monarch
    ("Henry IIII", "henry iiii"),  # not a well-formed numeral
    ("Charles IIIrd", "charles iiird"),
])
def test_regnal_numerals(text, spoken):
    assert normalize(text, tts=True) == spoken


@pytest.mark.parametrize(("text", "spoken"), [
    ("Smith & Co.", "smith and company"),
    ("Acme Ltd. and Acme Inc.", "acme limited and acme incorporated"),
    ("Rev. Hon. Maj. Drs.", "reverend honorable major doctors"),
    ("John Smith, Esq.", "john smith esquire"),
    ("Messrs. Jones", "messieurs jones"),
    ("Ft. Worth", "fort worth"),
    ("6 ft. tall", "six ft tall"),
    ("co.uk", "co uk"),
])
def test_lj_speech_abbreviations(text, spoken):
    assert normalize(text, tts=True) == spoken


@pytest.mark.parametrize(("text", "spoken"), [
    ("the 21st", "the twenty first"),
    ("$3.50", "three dollars fifty cents"),
    ("£20", "twenty pounds"),
    ("€5", "five euros"),
    ("$1.2 million", "one point two million dollars"),
    ("50%", "fifty percent"),
    ("Dr. Mr. Mrs. St. Paul, etc.", "doctor mister missus saint paul et cetera"),
    ("No. 5 vs. e.g. this", "number five versus for example this"),
    ("salt & pepper", "salt and pepper"),
    ("call 0800 123", "call zero eight zero zero one hundred twenty three"),
])
def test_what_both_modes_read_alike(text, spoken):
    assert normalize(text) == spoken
    assert normalize(text, tts=True) == spoken


@pytest.mark.parametrize(("text", "default"), [
    ("May 4, 1999, was", "may four nineteen ninety nine was"),
    ("2024-01-05", "twenty twenty four zero one zero five"),
    ("1/5/2024", "one five twenty twenty four"),
    ("Henry VIII", "henry viii"),
    ("Smith & Co. Ltd.", "smith and co ltd"),
])
def test_the_default_keeps_the_asr_reading(text, default):
    assert normalize(text) == default
    assert normalize(text, tts=True) != default


def test_tts_output_uses_only_the_alphabet():
    messy = ("On 2024-01-05, King Henry VIII's Co. (est. 1/5/1999) paid £1,250.75 — 30% "
             "more than on 5 January 2023 — to Ft. Knox & Messrs. O’Brien, e.g. 3½ kg!")
    out = normalize(messy, tts=True)
    assert set(out) <= set(CHARACTERS)
    assert "  " not in out and out == out.strip()
    assert out.startswith("on january fifth twenty twenty four king henry the eighth's company")
    assert "january fifth nineteen ninety nine" in out
    assert "the fifth of january twenty twenty three" in out
    assert "fort knox and messieurs o'brien" in out
