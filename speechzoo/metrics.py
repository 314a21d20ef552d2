"""Error rates over a corpus: total edits over total reference tokens."""

from __future__ import annotations

from collections.abc import Sequence

from torchaudio.functional import edit_distance


def _rate(refs: Sequence[Sequence], hyps: Sequence[Sequence]) -> float:
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    edits = sum(edit_distance(r, h) for r, h in zip(refs, hyps, strict=True))
    return edits / max(1, sum(len(r) for r in refs))


def wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Word error rate."""
    return _rate([r.split() for r in references], [h.split() for h in hypotheses])


def cer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Character error rate (spaces count as characters)."""
    return _rate([" ".join(r.split()) for r in references],
                 [" ".join(h.split()) for h in hypotheses])
