"""English text normalisation into the spoken-form alphabet of Deep Speech 2.

Transcripts for ASR training must hold only what a speaker says, so symbols, numbers and
abbreviations are written out as words and everything else is dropped. The rules are plain
regular expressions applied in a fixed order, because later ones rely on earlier ones
(times before bare numbers, decades before years, years before cardinals).

``normalize(text, tts=True)`` adds the readings a speech synthesiser needs on top: calendar
dates, regnal numerals ("Henry VIII") and the abbreviations of LJ Speech's README. They are
off by default so that ``normalize(text)`` stays exactly what it was: corpora already
normalised (synth-en's text, LibriSpeech-style transcripts) and the error rates measured on
them keep their text.
"""

from __future__ import annotations

import re
import unicodedata

from speechzoo.errors import DataError

CHARACTERS: str = " abcdefghijklmnopqrstuvwxyz'"

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
         "fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ("", "thousand", "million", "billion", "trillion")
_ORDINAL_IRREGULAR = {"one": "first", "two": "second", "three": "third", "five": "fifth",
                      "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}

# NFKD leaves these alone (they are letters or punctuation, not letters plus accents).
_FOLD = str.maketrans({
    "‘": "'", "’": "'", "‚": "'", "‛": "'", "ʼ": "'", "′": "'", "`": "'", "´": "'",
    "“": '"', "”": '"', "„": '"', "″": '"', "«": '"', "»": '"',
    "‐": " ", "‑": " ", "‒": " ", "–": " ", "—": " ", "―": " ", "−": "-", "\u00a0": " ",
    "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "ł": "l",
    "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th", "ı": "i",
    # NFKD would glue these to a preceding whole number ("3½" -> "31⁄2").
    "½": " 1/2 ", "¼": " 1/4 ", "¾": " 3/4 ",
})

# Read the same wherever they occur; _CONTEXT_ABBREVIATIONS holds those that depend on
# what follows them.
_ABBREVIATIONS = {
    "mr": "mister", "mrs": "missus", "ms": "miss", "dr": "doctor", "jr": "junior",
    "sr": "senior", "vs": "versus", "etc": "et cetera", "prof": "professor",
    "gen": "general", "lt": "lieutenant", "col": "colonel", "sgt": "sergeant",
    "capt": "captain", "mt": "mount",
}
# The only ones safe to expand without their full stop: the others are also words ("col").
_BARE_TITLES = ("mr", "mrs", "dr")
_ABBREVIATION_RE = re.compile(
    r"\b(?:(" + "|".join(_ABBREVIATIONS) + r")\.|(" + "|".join(_BARE_TITLES) + r")\b)",
    re.IGNORECASE)
_CONTEXT_ABBREVIATIONS = (
    (re.compile(r"\bst\.(?=\s*(?-i:[A-Z]))", re.IGNORECASE), " saint "),
    (re.compile(r"\bst\.", re.IGNORECASE), " street "),
    (re.compile(r"\bno\.(?=\s*\d)", re.IGNORECASE), " number "),
    (re.compile(r"#(?=\s*\d)"), " number "),
    (re.compile(r"\be\.g\.", re.IGNORECASE), " for example "),
    (re.compile(r"\bi\.e\.", re.IGNORECASE), " that is "),
    (re.compile(r"\b([ap])\.m\b\.?", re.IGNORECASE), r" \1 m "),
)
# Abbreviations after which split_sentences must not break ("no" only before a number).
_NO_SPLIT = frozenset(_ABBREVIATIONS) | {"st", "no", "eg", "ie", "am", "pm"}

_INTEGER = r"(\d{1,3}(?:,\d{3})+(?!\d)|\d+)"
# A clock time has minutes ("7:05"), a meridiem ("4pm", "4 p.m.") or both.
_TIME_RE = re.compile(r"\b(\d{1,2})(?::([0-5]\d)(?!\d)|(?=\s*[ap]\.?\s?m\b))"
                      r"(?:\s*([ap])\.?\s?m\b\.?)?", re.IGNORECASE)
_CURRENCY_RE = re.compile(r"([$£€])\s?" + _INTEGER + r"(?:\.(\d+))?"
                          r"(?:\s+(thousand|million|billion|trillion)\b)?", re.IGNORECASE)
_CURRENCY_UNITS = {"$": ("dollar", "dollars", "cent", "cents"),
                   "£": ("pound", "pounds", "penny", "pence"),
                   "€": ("euro", "euros", "cent", "cents")}
_ORDINAL_RE = re.compile(r"\b" + _INTEGER + r"(?:st|nd|rd|th)\b", re.IGNORECASE)
_DECADE_RE = re.compile(r"(?<![\w'])'?(1[1-9]\d0|20\d0|[2-9]0)'?s\b")
_DIGIT_LETTER_RE = re.compile(r"(?<=\d)(?=[A-Za-z])|(?<=[A-Za-z])(?=\d)")
_YEAR_RE = re.compile(r"(?<![\w.,])(1[1-9]\d\d|20[1-9]\d)(?![\w%]|[.,]\d)")
# The empty alternative lets a decimal start at its point (".5"), but not mid-version ("1.2.3").
_NUMBER_RE = re.compile(r"(?:(?<![\w.,-])(-))?(?:" + _INTEGER + r"|(?<![\w.])(?=\.\d))(?:\.(\d+))?")
# A hyphen after a word or number joins ("well-known", "1990-2000"), "--" is a dash; only
# what is left can be a minus sign.
_HYPHEN_RE = re.compile(r"-{2,}|(?<=[\w%)\]])-")
_SYMBOLS = {"&": " and ", "%": " percent "}
# An apostrophe survives inside a word, or after a plural "s" that a word follows.
_STRAY_APOSTROPHE_RE = re.compile(r"(?<![a-z])'|'(?![a-z]|(?<=s')\s+[a-z])")
_NOT_CHARACTER_RE = re.compile(r"[^a-z' ]+")

# The TTS readings (normalize(..., tts=True)).
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december")
_MONTH_NUMBERS = {**{m: i for i, m in enumerate(_MONTHS, 1)}, "jan": 1, "feb": 2, "mar": 3,
                  "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10,
                  "nov": 11, "dec": 12}
# Capitalised only: lower-case "may", "march" and "jan" are other words.
_MONTH = ("(" + "|".join(m[0].upper() + "(?i:" + m[1:] + ")"
                         for m in sorted(_MONTH_NUMBERS, key=len, reverse=True)) + r")\b\.?")
_DAY = r"([12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_DATE_YEAR = r"(?:,?\s+([1-9]\d{3})(?![\w%]|[.,]\d))?"
# A day that is not the start of a time, decimal, percentage or longer number.
_DAY_END = r"(?![\d:%]|[.,]\d)"
_MONTH_DAY_RE = re.compile(_MONTH + r"\s+" + _DAY + r"\b" + _DAY_END + _DATE_YEAR)
_DAY_MONTH_RE = re.compile(r"(?<![\w.,])" + _DAY + r"(\s+of)?\s+" + _MONTH + _DATE_YEAR)
_ISO_DATE_RE = re.compile(r"(?<![\w.-])([1-9]\d{3})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
                          r"(?![\w-])")
_THE_BEFORE_RE = re.compile(r"\bthe\s*$", re.IGNORECASE)
_SLASH_DATE_RE = re.compile(r"(?<![\w/.])(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})(?![\w/]|\.\d)")
# Names that kings, queens, popes and emperors carry with a numeral. "I" alone needs a title
# before the name ("King Charles I"): "Elizabeth I" could be "... Elizabeth, I said".
_REGNAL_NAMES = (
    "Alexander Alfonso Benedict Boniface Carlos Catherine Charles Clement Constantine David "
    "Edward Elizabeth Ferdinand Francis Frederick Friedrich George Gregory Gustav Gustavus "
    "Haakon Harald Henry Innocent Ivan James John Juan Leo Leopold Louis Ludwig Mary "
    "Napoleon Nicholas Olav Otto Paul Peter Philip Pius Ptolemy Ramesses Richard Robert "
    "Rudolf Sixtus Urban Victor Wilhelm William").split()
_TITLES = "King|Queen|Pope|Emperor|Empress|Tsar|Czar|Kaiser|Prince|Princess"
_REGNAL_RE = re.compile(r"\b(?:(" + _TITLES + r")\s+)?(" + "|".join(_REGNAL_NAMES) + r")\s+"
                        r"((?=[IVX])X{0,3}(?:IX|IV|V?I{0,3}))(?!\w)")
# A one-letter numeral before ". Capital" is more likely a middle initial ("John V. Lindsay").
_INITIAL_AFTER_RE = re.compile(r"\.\s*[A-Z]")
_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10}
_TTS_ABBREVIATIONS = {
    "co": "company", "maj": "major", "drs": "doctors", "rev": "reverend", "hon": "honorable",
    "esq": "esquire", "ltd": "limited", "inc": "incorporated", "messrs": "messieurs",
}
_TTS_ABBREVIATION_RE = re.compile(r"\b(" + "|".join(_TTS_ABBREVIATIONS) + r")\.(?!\w)",
                                  re.IGNORECASE)
# "Ft. Worth" is a fort; "6 ft." is feet, left as written ("ft").
_FORT_RE = re.compile(r"\bft\.(?=\s*(?-i:[A-Z]))", re.IGNORECASE)

_SENTENCE_END_RE = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s+[A-Z0-9\"'“‘(\[])")
_WORD_BEFORE_RE = re.compile(r"[A-Za-z.]*$")


def _under_thousand(n: int) -> list[str]:
    """Words of 0 < n < 1000, without "and" (American style, as in LibriSpeech)."""
    words = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        words += [_ONES[hundreds], "hundred"]
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(_TENS[tens])
        if ones:
            words.append(_ONES[ones])
    elif rest:
        words.append(_ONES[rest])
    return words


def number_to_words(n: int) -> str:
    """Spell out an integer as a cardinal number.

    Args:
        n: Any integer with fewer than sixteen digits; negatives read as "minus ...".

    Returns:
        Lower-case words separated by single spaces, e.g. "one thousand two hundred".

    Raises:
        DataError: if abs(n) is a quadrillion or more (no scale word is defined for it).
    """
    if n < 0:
        return "minus " + number_to_words(-n)
    if n == 0:
        return "zero"
    if n >= 1000 ** len(_SCALES):
        raise DataError(f"number {n} is too large to spell out; numbers below "
                        f"{1000 ** len(_SCALES):,} are supported")
    words: list[str] = []
    for power in reversed(range(len(_SCALES))):
        chunk = n // 1000 ** power % 1000
        if chunk:
            words += _under_thousand(chunk) + ([_SCALES[power]] if power else [])
    return " ".join(words)


def ordinal_to_words(n: int) -> str:
    """Spell out an integer as an ordinal, e.g. 22 -> "twenty second".

    Raises:
        DataError: as number_to_words.
    """
    *head, last = number_to_words(n).split()
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return " ".join([*head, last])


def _digits(digits: str) -> str:
    return " ".join(_ONES[int(d)] for d in digits)


def _read_integer(text: str) -> str:
    """Read digits (with optional thousands commas) the way a person would say them."""
    digits = text.replace(",", "")
    # Leading zeros (codes, zip codes) and very long strings (IDs) are read digit by digit.
    if (len(digits) > 1 and digits[0] == "0") or len(digits) > 3 * len(_SCALES):
        return _digits(digits)
    return number_to_words(int(digits))


def _read_number(integer: str | None, fraction: str | None, minus: str | None = None) -> str:
    words = ["minus"] if minus else []
    words += [_read_integer(integer)] if integer else []
    return " ".join(words + (["point", _digits(fraction)] if fraction else []))


def _year_to_words(n: int) -> str:
    """Read a year in pairs ("nineteen oh five"), except 2000-2009 which read as cardinals."""
    century, rest = divmod(n, 100)
    if 2000 <= n < 2010:
        return number_to_words(n)
    if rest == 0:
        return f"{number_to_words(century)} hundred"
    if rest < 10:
        return f"{number_to_words(century)} oh {_ONES[rest]}"
    return f"{number_to_words(century)} {number_to_words(rest)}"


def fold_unicode(text: str) -> str:
    """Accents and ligatures folded to ASCII letters where they have one ("café" -> "cafe")."""
    text = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return "".join(c for c in text if not unicodedata.combining(c))


def _expand_abbreviations(text: str) -> str:
    text = _ABBREVIATION_RE.sub(lambda m: f" {_ABBREVIATIONS[(m[1] or m[2]).lower()]} ", text)
    for pattern, replacement in _CONTEXT_ABBREVIATIONS:
        text = pattern.sub(replacement, text)
    return text


def _say_time(m: re.Match[str]) -> str:
    hour, minute, meridiem = int(m[1]), int(m[2] or 0), m[3]
    if hour > 24 or (meridiem and not 1 <= hour <= 12):
        return m[0]  # A duration or score such as "25:30"; the numbers are read later.
    words = number_to_words(hour)
    if minute:
        words += " " + (f"oh {_ONES[minute]}" if minute < 10 else number_to_words(minute))
    elif not meridiem:
        words += " o'clock" if hour <= 12 else " hundred"
    return f" {words} {meridiem.lower()} m " if meridiem else f" {words} "


def _say_currency(m: re.Match[str]) -> str:
    symbol, integer, fraction, scale = m.groups()
    unit, units, subunit, subunits = _CURRENCY_UNITS[symbol]
    if scale or (fraction and len(fraction) > 2):
        amount = _read_number(integer, fraction)
        return f" {amount} {scale.lower() if scale else ''} {units} "
    whole = int(integer.replace(",", ""))
    cents = int(fraction.ljust(2, "0")) if fraction else 0
    parts = []
    if whole or not cents:
        parts.append(f"{_read_integer(integer)} {unit if whole == 1 else units}")
    if cents:
        parts.append(f"{number_to_words(cents)} {subunit if cents == 1 else subunits}")
    return " " + " ".join(parts) + " "


def _say_decade(m: re.Match[str]) -> str:
    n = int(m[1])
    words = _year_to_words(n) if n >= 100 else number_to_words(n)
    return " " + (words[:-1] + "ies" if words.endswith("y") else words + "s") + " "


def _say_number(m: re.Match[str]) -> str:
    minus, integer, fraction = m.groups()
    return f" {_read_number(integer, fraction, minus)} "


def _roman_value(numeral: str) -> int:
    """Value of a numeral matched by _REGNAL_RE (I..XXXIX), where only IV and IX subtract."""
    values = [_ROMAN_VALUES[c] for c in numeral]
    return sum(-v if v < after else v for v, after in zip(values, [*values[1:], 0], strict=True))


def _say_regnal(m: re.Match[str]) -> str:
    title, name, numeral = m.groups()
    if (numeral == "I" and not title) or (
            len(numeral) == 1 and _INITIAL_AFTER_RE.match(m.string, m.end())):
        return m[0]
    # No space after: a possessive stays attached ("Henry VIII's" -> "henry the eighth's").
    return f" {title or ''} {name} the {ordinal_to_words(_roman_value(numeral))}"


def _date_year(year: str) -> str:
    """A date's year: four digits in pairs ("twenty twenty four"), two as said ("oh five")."""
    if len(year) == 4:
        return _year_to_words(int(year))
    return f"oh {_ONES[int(year)]}" if int(year) < 10 else number_to_words(int(year))


def _say_date(month: int, day: int, year: str | None, day_first: bool = False,
              the: bool = True) -> str:
    """ "january fifth twenty twenty four", or "the fifth of january ..." (day first)."""
    words = (f"{'the ' if the else ''}{ordinal_to_words(day)} of {_MONTHS[month - 1]}"
             if day_first else f"{_MONTHS[month - 1]} {ordinal_to_words(day)}")
    # No space after: a range's hyphen stays a joiner ("January 4-6"), not a minus sign.
    return f" {words}" + (f" {_date_year(year)}" if year else "")


def _say_numeric_date(m: re.Match[str]) -> str:
    """ISO (year-month-day) or slashed dates: month first as in the US, or day first when
    the first number cannot be a month ("25/12/2024")."""
    if len(m[1]) == 4:  # ISO, validated by its pattern
        return _say_date(int(m[2]), int(m[3]), m[1])
    first, second = int(m[1]), int(m[2])
    if 1 <= first <= 12 and 1 <= second <= 31:
        return _say_date(first, second, m[3])
    if 13 <= first <= 31 and 1 <= second <= 12:
        return _say_date(second, first, m[3], day_first=True)
    return m[0]


def _say_day_month(m: re.Match[str]) -> str:
    # "the 5th of May" already has its article.
    the = _THE_BEFORE_RE.search(m.string, 0, m.start()) is None
    return _say_date(_MONTH_NUMBERS[m[3].lower()], int(m[1]), m[4], day_first=True, the=the)


def _expand_tts(text: str) -> str:
    """The readings of normalize(tts=True); their output is words, so they run first."""
    text = _ISO_DATE_RE.sub(_say_numeric_date, text)
    text = _SLASH_DATE_RE.sub(_say_numeric_date, text)
    text = _MONTH_DAY_RE.sub(
        lambda m: _say_date(_MONTH_NUMBERS[m[1].lower()], int(m[2]), m[3]), text)
    text = _DAY_MONTH_RE.sub(_say_day_month, text)
    text = _REGNAL_RE.sub(_say_regnal, text)
    text = _TTS_ABBREVIATION_RE.sub(lambda m: f" {_TTS_ABBREVIATIONS[m[1].lower()]} ", text)
    return _FORT_RE.sub(" fort ", text)


def _expand_numbers(text: str) -> str:
    text = _CURRENCY_RE.sub(_say_currency, text)
    text = _ORDINAL_RE.sub(lambda m: f" {ordinal_to_words(int(m[1].replace(',', '')))} ", text)
    text = _DECADE_RE.sub(_say_decade, text)
    text = _DIGIT_LETTER_RE.sub(" ", text)
    text = _YEAR_RE.sub(lambda m: f" {_year_to_words(int(m[1]))} ", text)
    return _NUMBER_RE.sub(_say_number, text)


def normalize(text: str, *, tts: bool = False) -> str:
    """Turn English text into what a speaker says, spelled with CHARACTERS only.

    Accents are removed, abbreviations, symbols and numbers are written out as words
    (including currency, times, ordinals, years and decades), and all other punctuation is
    dropped. Apostrophes are kept only inside words ("don't") and after a plural "s"
    followed by another word ("james' car"); acronyms are lower-cased, not spelled out.

    Args:
        text: Arbitrary English text, e.g. a sentence from a book or a transcript.
        tts: also read what a speech synthesiser must say as a reader would: dates
            ("January 5, 2024", "Jan. 5th", "5 January 2024", "2024-01-05" and "1/5/2024",
            month first unless the first number cannot be a month) -> "january fifth
            twenty twenty four" / "the fifth of january ..."; regnal numerals after a
            monarch's or pope's name ("Henry VIII" -> "henry the eighth"; a lone "I" only
            after a title, "King Charles I"); and LJ Speech's abbreviations ("Co.", "Ltd.",
            "Rev.", "Hon.", "Esq.", "Maj.", "Drs.", "Messrs.", "Inc.", "Ft. Worth").
            Off by default, which keeps the output of every text exactly as before this
            option existed (e.g. "May 4, 1999" -> "may four nineteen ninety nine").

    Returns:
        Lower-case words separated by single spaces, with no leading or trailing space;
        the empty string if nothing speakable is left.

    Example:
        >>> normalize("Mr. Smith paid $3.50 on the 1st of May, 1999!")
        'mister smith paid three dollars fifty cents on the first of may nineteen ninety nine'
    """
    text = fold_unicode(text)
    if tts:  # Before hyphens become spaces: ISO dates hold them.
        text = _expand_tts(text)
    text = _HYPHEN_RE.sub(" ", text)
    # Times go first: their "a.m." must not be turned into words before the clock is read.
    text = _TIME_RE.sub(_say_time, text)
    text = _expand_abbreviations(text)
    text = _expand_numbers(text)
    for symbol, words in _SYMBOLS.items():
        text = text.replace(symbol, words)
    text = _STRAY_APOSTROPHE_RE.sub(" ", text.lower())
    return " ".join(_NOT_CHARACTER_RE.sub(" ", text).split())


def _ends_with_abbreviation(text: str, end: re.Match[str]) -> bool:
    """Whether the full stop matched by `end` belongs to an abbreviation or an initial."""
    # Abbreviations are short, so a small window avoids rescanning the whole paragraph.
    word = _WORD_BEFORE_RE.search(text[max(0, end.start() - 16):end.start()])[0]
    last = word.rsplit(".", 1)[-1]
    if len(last) == 1 and last.isupper():
        return True  # An initial ("J. Smith") or the end of a dotted acronym ("U.S.").
    key = word.replace(".", "").lower()
    if key == "no":
        return text[end.end():].lstrip()[:1].isdigit()
    return key in _NO_SPLIT


def split_sentences(text: str) -> list[str]:
    """Split a paragraph of raw (un-normalised) text into sentences.

    A sentence ends at ".", "!" or "?" (plus any closing quotes or brackets) that is
    followed by whitespace and an upper-case letter, a digit or an opening quote. A full
    stop after an abbreviation such as "Mr." or "e.g.", or after a single capital initial,
    does not end a sentence; neither does the point inside a decimal number.

    Args:
        text: The paragraph.

    Returns:
        The sentences, stripped of surrounding whitespace, without empty strings.
    """
    sentences, start = [], 0
    for end in _SENTENCE_END_RE.finditer(text):
        if end[0].rstrip("\"'”’)]") == "." and _ends_with_abbreviation(text, end):
            continue
        sentences.append(text[start:end.end()])
        start = end.end()
    sentences.append(text[start:])
    return [s.strip() for s in sentences if s.strip()]
