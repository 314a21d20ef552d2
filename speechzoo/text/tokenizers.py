"""Text to label ids and back, for every model: characters (CTC) and phonemes (TTS, Deep
Voice). Tokenizers serialise to plain dicts (:meth:`to_dict`, :func:`tokenizer_from_dict`)
so that a bundle carries its own front end and loads with ``weights_only=True``.

Special symbols take the first ids, in a fixed order, so ids are stable: a character
tokenizer has only the CTC blank (id 0); a phoneme tokenizer has padding, the CTC blank and
an end-of-sequence mark.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from speechzoo.errors import DataError, TextError

PAD, BLANK, END = "<pad>", "<blank>", "<end>"


class _Tokenizer:
    """Maps symbols to ids ``len(specials)..`` and back; specials take ids ``0..``."""

    kind = ""
    specials: tuple[str, ...] = ()
    _outside = _hint = ""

    def __init__(self, symbols: Sequence[str]) -> None:
        symbols = list(symbols)
        repeated = sorted({s for s in symbols if symbols.count(s) > 1})
        if repeated:
            raise TextError(f"the {self.kind} inventory repeats {repeated}")
        clash = sorted(set(symbols) & set(self.specials))
        if clash:
            raise TextError(f"the {self.kind} inventory holds the special symbols {clash}")
        self.symbols = symbols
        self._ids = {s: i + len(self.specials) for i, s in enumerate(symbols)}

    def __len__(self) -> int:
        """Number of classes, the special symbols included."""
        return len(self.specials) + len(self.symbols)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Tokenizer) and self.to_dict() == other.to_dict()

    def _encode(self, symbols: Iterable[str], shown: str) -> list[int]:
        symbols = list(symbols)
        unknown = sorted(set(symbols) - self._ids.keys())
        if unknown:
            raise DataError(f"{shown[:60]!r} has {self._outside}: {unknown}; {self._hint}")
        return [self._ids[s] for s in symbols]

    def _decode(self, ids: Iterable[int]) -> list[str]:
        first = len(self.specials)
        return [self.symbols[i - first] for i in ids if first <= i < len(self)]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "symbols": list(self.symbols)}


class CharTokenizer(_Tokenizer):
    """Characters of ``alphabet`` -> ids 1..len(alphabet); 0 is the CTC blank.

    Args:
        alphabet: the output characters, e.g. ``speechzoo.text.english.CHARACTERS``, or a
            built-in alphabet's name (:data:`ALPHABETS`: ``"english"``, ``"mandarin"``).
        unknown: a symbol (e.g. ``"<unk>"``, id ``len(alphabet) + 1``) that every character
            outside the alphabet encodes to; None: such characters are an error.
    """

    kind = "chars"
    specials = (BLANK,)
    blank = 0
    _outside = "characters outside the model's alphabet"
    _hint = "normalise it first (speechzoo.text.english.normalize)"

    def __init__(self, alphabet: str, unknown: str | None = None) -> None:
        alphabet = named_alphabet(alphabet)
        super().__init__(list(alphabet) + ([unknown] if unknown else []))
        self.alphabet, self.unknown = alphabet, unknown

    def encode(self, text: str) -> list[int]:
        if self.unknown:
            return [self._ids.get(c, self._ids[self.unknown]) for c in text]
        return self._encode(text, text)

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self._decode(ids))

    def to_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind, "alphabet": self.alphabet}
        return {**out, "unknown": self.unknown} if self.unknown else out


class PhonemeTokenizer(_Tokenizer):
    """Phoneme symbols -> ids 3..; 0 pads, 1 is the CTC blank, 2 ends a sequence.

    Args:
        symbols: the inventory (``speechzoo.text.phonemes`` documents the English one).
    """

    kind = "phonemes"
    specials = (PAD, BLANK, END)
    pad, blank, end = 0, 1, 2
    _outside = "phonemes outside the model's inventory"
    _hint = "phonemise the text with speechzoo.text.phonemes"

    def encode(self, phonemes: Sequence[str], add_end: bool = False) -> list[int]:
        ids = self._encode(phonemes, " ".join(phonemes))
        return ids + [self.end] if add_end else ids

    def decode(self, ids: Iterable[int]) -> list[str]:
        return self._decode(ids)


def _english() -> str:
    from speechzoo.text.english import CHARACTERS

    return CHARACTERS


def _mandarin() -> str:
    from speechzoo.text.mandarin import alphabet

    return alphabet()


# Alphabets a recipe names rather than spells out (the Mandarin one holds 3,000 characters).
# A name is no alphabet itself: its letters repeat.
ALPHABETS = {"english": _english, "mandarin": _mandarin}


def named_alphabet(alphabet: str) -> str:
    """``alphabet``, or the characters of the built-in alphabet it names."""
    return ALPHABETS[alphabet]() if alphabet in ALPHABETS else alphabet


_KINDS: dict[str, type[_Tokenizer]] = {"chars": CharTokenizer, "phonemes": PhonemeTokenizer}


def tokenizer_from_dict(data: dict[str, Any]) -> CharTokenizer | PhonemeTokenizer:
    """Rebuild a tokenizer from :meth:`to_dict`'s output."""
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind == "chars" and isinstance(data.get("alphabet"), str):
        return CharTokenizer(data["alphabet"], data.get("unknown"))
    if kind == "phonemes" and isinstance(data.get("symbols"), list):
        return PhonemeTokenizer(data["symbols"])
    raise TextError(f"unknown tokenizer {data!r}; known kinds: {sorted(_KINDS)}")
