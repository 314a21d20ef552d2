"""Characters to CTC label ids and back. Id 0 is the CTC blank."""

from __future__ import annotations

from speechzoo.errors import DataError


class CharTokenizer:
    """Maps each character of ``alphabet`` to ids 1..len(alphabet); 0 is the blank.

    Args:
        alphabet: the output characters, e.g. ``speechzoo.text.english.CHARACTERS``.
    """

    blank = 0

    def __init__(self, alphabet: str) -> None:
        if len(set(alphabet)) != len(alphabet):
            raise ValueError(f"alphabet has repeated characters: {alphabet!r}")
        self.alphabet = alphabet
        self._ids = {c: i + 1 for i, c in enumerate(alphabet)}

    def __len__(self) -> int:
        """Number of classes, the blank included."""
        return len(self.alphabet) + 1

    def encode(self, text: str) -> list[int]:
        unknown = sorted(set(text) - self._ids.keys())
        if unknown:
            raise DataError(f"text {text[:60]!r} has characters outside the model's alphabet: "
                            f"{unknown}; normalise it first (speechzoo.text.english.normalize)")
        return [self._ids[c] for c in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.alphabet[i - 1] for i in ids if 0 < i <= len(self.alphabet))
