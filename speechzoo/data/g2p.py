"""Grapheme-to-phoneme data: lexicon manifests (``speechzoo.data.corpora.cmudict``) as
teacher-forcing pairs."""

from __future__ import annotations

from typing import Any

import torch

from speechzoo.data.datasets import _ManifestDataset
from speechzoo.errors import DataError
from speechzoo.text.tokenizers import CharTokenizer, PhonemeTokenizer


class PronunciationDataset(_ManifestDataset):
    """Every (word, pronunciation) pair of a lexicon manifest, as ids.

    A word with several pronunciations gives one pair per pronunciation, all trained on;
    ``first`` marks each word's first pair, so that a word is scored once, against all its
    pronunciations (``references``).

    Args:
        entries: ``read_manifest(path, PronunciationDataset.required)``.
        graphemes: letters -> ids; phonemes: phoneme symbols -> ids (``end`` starts and ends
            a decoded sequence).
        source: where the entries came from, for error messages.

    Items: ``{"graphemes": (S,), "decoder_input": (U + 1,) end first, "target": (U + 1,) end
    last, "first": bool, "word": str, "references": [[symbol, ...], ...]}``.
    """

    # Collate pads decoder inputs and targets with 0, the phoneme tokenizer's pad id, which
    # the loss ignores; letters pad with 0 too, unseen behind the packed encoder.
    required = ("text", "pronunciations")

    def __init__(self, entries: list[dict[str, Any]], graphemes: CharTokenizer,
                 phonemes: PhonemeTokenizer, source: str = "manifest") -> None:
        if not entries:
            raise DataError(f"{source}: no words")
        self.words: list[str] = []
        self.pairs: list[tuple[int, list[int]]] = []
        self.letters: list[torch.Tensor] = []
        self.references: list[list[list[str]]] = []
        for entry in entries:
            word, prons = entry["text"], entry["pronunciations"]
            if not isinstance(prons, list) or not prons or not all(prons):
                raise DataError(f"{source}: {word!r} has no pronunciation (`pronunciations` "
                                "must be a non-empty list of non-empty phoneme lists)")
            try:
                self.letters.append(torch.tensor(graphemes.encode(word), dtype=torch.long))
                ids = [phonemes.encode(p) for p in prons]
            except DataError as e:
                raise DataError(f"{source}: word {word!r}: {e}") from None
            i = len(self.words)
            self.words.append(word)
            self.references.append([list(p) for p in prons])
            self.pairs.extend((i, p) for p in ids)
        self.entries = entries
        self.end = phonemes.end

    @property
    def durations(self) -> list[float]:
        """Letters per pair: the batch sampler groups words of similar length."""
        return [float(len(self.letters[i])) for i, _ in self.pairs]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        i, ids = self.pairs[index]
        first = index == 0 or self.pairs[index - 1][0] != i
        return {"graphemes": self.letters[i],
                "decoder_input": torch.tensor([self.end, *ids], dtype=torch.long),
                "target": torch.tensor([*ids, self.end], dtype=torch.long),
                "first": first, "word": self.words[i], "references": self.references[i]}
