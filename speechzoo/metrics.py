"""Error rates over a corpus: total edits over total reference tokens.

Both follow the usual definitions (jiwer's, NeMo's): word errors over whitespace-separated
words; character errors over the characters of the texts with runs of whitespace made one
space, spaces counted.
"""

from __future__ import annotations

from collections.abc import Sequence

from torchaudio.functional import edit_distance

from speechzoo.errors import DataError


def _rate(refs: Sequence[Sequence], hyps: Sequence[Sequence]) -> float:
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    total = sum(len(r) for r in refs)
    if total == 0:
        raise DataError("the references hold no words: an error rate needs some")
    return sum(edit_distance(r, h) for r, h in zip(refs, hyps, strict=True)) / total


def wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Word error rate."""
    return _rate([r.split() for r in references], [h.split() for h in hypotheses])


def cer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Character error rate (spaces count as characters)."""
    return _rate([" ".join(r.split()) for r in references],
                 [" ".join(h.split()) for h in hypotheses])
