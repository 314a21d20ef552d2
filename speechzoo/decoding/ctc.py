"""Decoding of per-frame CTC outputs: best path, and the alignment of decoded tokens to frames."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from itertools import pairwise

import torch
from torchaudio.functional import TokenSpan, forced_align, merge_tokens

from speechzoo.text.tokenizers import CharTokenizer


def ctc_greedy(log_probs: torch.Tensor, lengths: torch.Tensor, blank: int = 0) -> list[list[int]]:
    """Best path: argmax per frame, merge repeats, drop blanks.

    Args:
        log_probs: (B, T, C); lengths: (B,).

    Returns:
        One list of label ids per utterance.
    """
    best = log_probs.argmax(-1).cpu()
    out = []
    for path, n in zip(best, lengths.tolist(), strict=True):
        ids = torch.unique_consecutive(path[:n]).tolist()
        out.append([i for i in ids if i != blank])
    return out


def greedy_transcripts(log_probs: torch.Tensor, lengths: torch.Tensor,
                       tokenizer: CharTokenizer) -> list[str]:
    """Best-path transcripts, with runs of spaces collapsed."""
    return [" ".join(tokenizer.decode(ids).split())
            for ids in ctc_greedy(log_probs, lengths, tokenizer.blank)]


# Alignment: which frames each decoded token occupies (for word timestamps).
#
# torchaudio's forced_align keeps a (frames x (2 * tokens + 1)) table of back-pointers, which
# grows with the square of the duration (about 460 MB for 10 minutes of speech), so a long
# recording is aligned in segments cut inside its pauses (``_cuts``).
SEGMENT_FRAMES = 1500  # 30 s of DS2's 20 ms frames: a few MB of back-pointers per segment


def frames_needed(ids: Sequence[int]) -> int:
    """Frames a CTC path for ``ids`` needs: one per token plus a blank between repeats."""
    return len(ids) + sum(a == b for a, b in pairwise(ids))


def align(log_probs: torch.Tensor, ids: Sequence[int], blank: int = 0,
          segment_frames: int = SEGMENT_FRAMES) -> list[TokenSpan]:
    """The most likely CTC path that spells ``ids``, as one span of frames per token.

    ``ids`` are the decoder's output (greedy, or a beam search's): the path is the Viterbi
    forced alignment (``torchaudio.functional.forced_align``) merged into token spans
    (``merge_tokens``). Recordings longer than ``segment_frames`` are aligned segment by
    segment, cut where the best path is between tokens, preferably deep inside a pause, and
    only where the decoded tokens around the cut agree with the best path's (``_cuts``): for
    greedy ids the result equals the alignment in one piece, as the best path itself is the
    optimal alignment of its own tokens.

    Args:
        log_probs: (T, C) one utterance's per-frame log-probabilities, padding removed.
        ids: the decoded token ids (no blanks).

    Returns:
        ``TokenSpan(token, start, end, score)`` per token, frames ``[start, end)``, in order.

    Raises:
        ValueError: ``ids`` cannot be spelled in T frames.
    """
    ids = list(ids)
    if frames_needed(ids) > log_probs.shape[0]:
        raise ValueError(f"{len(ids)} tokens need {frames_needed(ids)} frames; there are only "
                         f"{log_probs.shape[0]}")
    log_probs = log_probs.detach().float().cpu()
    spans: list[TokenSpan] = []
    cuts = _cuts(log_probs, ids, blank, segment_frames)
    for (f0, k0), (f1, k1) in pairwise(cuts):
        if k1 > k0:
            targets = torch.tensor([ids[k0:k1]], dtype=torch.int32)
            path, scores = forced_align(log_probs[None, f0:f1], targets, blank=blank)
            spans += [replace(s, start=s.start + f0, end=s.end + f0)
                      for s in merge_tokens(path[0], scores[0].exp(), blank)]
    return spans


def _cuts(log_probs: torch.Tensor, ids: list[int], blank: int,
          segment: int) -> list[tuple[int, int]]:
    """``(frame, tokens before it)`` from ``(0, 0)`` to ``(T, len(ids))``, about ``segment``
    frames apart, at which the alignment of ``ids`` splits into independent pieces.

    A cut lies where the best (argmax) path is not inside a token; among the frames of the
    second half of each segment, the one deepest inside a run of blanks (a pause) whose
    neighbouring tokens ``ids`` shares (``_locate``) and that leaves a feasible segment.
    """
    n = log_probs.shape[0]
    cuts = [(0, 0)]
    if n <= segment or not ids:
        return [*cuts, (n, len(ids))]
    best = log_probs.argmax(-1)
    starts = best != blank  # frames at which a token of the best path starts
    starts[1:] &= best[1:] != best[:-1]
    greedy = best[starts].tolist()
    before = (starts.cumsum(0) - starts.long()).tolist()  # tokens starting before each frame
    depth = _pause_depth(best == blank)
    cuttable = (best == blank) | starts
    offset = 0  # len(ids) - len(greedy) up to the last cut
    while n - cuts[-1][0] > segment:
        f0, k0 = cuts[-1]
        window = torch.arange(f0 + segment // 2, f0 + segment)
        window = window[cuttable[window]]
        for frame in window[depth[window].argsort(descending=True, stable=True)][:16].tolist():
            k = _locate(greedy, ids, before[frame], before[frame] + offset)
            if k is not None and frames_needed(ids[k0:k]) <= frame - f0:
                cuts.append((frame, k))
                offset = k - before[frame]
                break
        else:
            break  # no safe cut: align the rest in one piece
    while len(cuts) > 1 and frames_needed(ids[cuts[-1][1]:]) > n - cuts[-1][0]:
        cuts.pop()
    return [*cuts, (n, len(ids))]


def _pause_depth(blank: torch.Tensor) -> torch.Tensor:
    """(T,) for each frame, how far it lies inside its run of blank frames (0: not blank)."""
    def run_lengths(mask: torch.Tensor) -> torch.Tensor:  # blanks ending at each frame
        count = mask.long().cumsum(0)
        reset = torch.where(mask, 0, count).cummax(0).values
        return count - reset
    return torch.minimum(run_lengths(blank), run_lengths(blank.flip(0)).flip(0))


def _locate(greedy: list[int], ids: list[int], k: int, guess: int, context: int = 8,
            radius: int = 32) -> int | None:
    """The position in ``ids`` of the best path's token boundary ``k``: where the ``context``
    tokens on each side equal the best path's, nearest to ``guess``; None if nowhere within
    ``radius``."""
    left, right = greedy[max(0, k - context):k], greedy[k:k + context]
    for d in sorted(range(-radius, radius + 1), key=abs):
        p = guess + d
        if len(left) <= p <= len(ids) and ids[p - len(left):p] == left \
                and ids[p:p + len(right)] == right:
            return p
    return None


def word_spans(spans: Sequence[TokenSpan], separator: int | None) -> list[list[TokenSpan]]:
    """Token spans grouped into words: split at ``separator`` (the space token), or each token
    a word of its own when there is none (an alphabet of CJK characters)."""
    if separator is None:
        return [[s] for s in spans]
    words: list[list[TokenSpan]] = [[]]
    for s in spans:
        if s.token == separator:
            words.append([])
        else:
            words[-1].append(s)
    return [w for w in words if w]


def peak_frames(log_probs: torch.Tensor, ids: Sequence[int], blank: int = 0) -> list[int]:
    """The frame at which each of ``ids`` peaks on its forced-alignment path (:func:`align`):
    within the token's span, the frame where its log-probability is highest. Deep Voice's
    segmentation reads phoneme boundaries from these peaks (arXiv 1702.07825, section 3.1).

    Shape: log_probs (T, C) -> one frame index per id.
    """
    log_probs = log_probs.detach().float().cpu()
    return [s.start + int(log_probs[s.start:s.end, s.token].argmax())
            for s in align(log_probs, ids, blank)]
