"""N-gram language models for CTC beam search: build Kneser-Ney ARPA files, read their
headers, write the lexicons that spell their words in a model's characters.

Building (:func:`build_lm`) uses ``kaldingram`` by default: a pure-Python port of Kaldi's
SRILM-compatible interpolated (unmodified) Kneser-Ney estimator, so an LM builds anywhere
speechzoo installs, with no compiler. When KenLM's ``lmplz`` is on ``PATH`` (``tool="auto"``
or ``"lmplz"``) it is used instead: modified Kneser-Ney (Chen & Goodman 1998), and orders of
magnitude faster on large text. Both write ARPA, which flashlight's KenLM reads, plain or
gzipped (an output name ending ``.gz``).

Pruning keeps a bundled LM small: ``prune`` gives per-order count thresholds, lmplz style
(n-grams of order k seen at most ``prune[k-1]`` times are dropped, the last value repeating
for higher orders; ``(0, 1)`` drops every singleton bigram, trigram, ...). With kaldingram
the probabilities are estimated on the full counts first and only then are n-grams dropped
and the back-off weights renormalised, so the dropped n-grams' mass goes to their back-off
distributions (SRILM's behaviour; kaldingram's own ``gtNmin`` cutoffs re-estimate the
discounts on the pruned counts, which leaves almost no back-off mass).

kaldingram's LMs get an explicit ``<unk>`` as likely as the rarest seen word, so that a
lexicon word the LM never saw (e.g. from a pronouncing dictionary) can still be recognised
when the audio is clear.
"""

from __future__ import annotations

import contextlib
import gc
import gzip
import io
import itertools
import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

from kaldingram.train import NgramCounts

from speechzoo.data.manifest import read_manifest
from speechzoo.errors import CheckpointError, ConfigError, DataError, TextError
from speechzoo.files import atomic_path
from speechzoo.text.tokenizers import BLANK, CharTokenizer

UNITS = ("words", "chars")
TOOLS = ("auto", "kaldingram", "lmplz")
MAX_ORDER = 6  # KenLM's compiled-in limit (KENLM_MAX_ORDER) in flashlight-text's build
BOUNDARY = "|"  # the word-boundary token of flashlight's lexicons: our space character
SPECIAL_WORDS = ("<s>", "</s>", "<unk>")


def token_names(tokenizer: CharTokenizer) -> list[str]:
    """The decoder's name of every class id: the blank, then the tokenizer's symbols with the
    space written as the word boundary ``|`` (``<space>`` if the alphabet holds ``|``)."""
    space = "<space>" if BOUNDARY in tokenizer.symbols else BOUNDARY
    return [BLANK] + [space if c == " " else c for c in tokenizer.symbols]


def read_sentences(text: str | os.PathLike | Iterable[str]) -> Iterator[str]:
    """Sentences from a text file (one a line), a JSONL manifest (its ``text`` fields; any
    name ending ``.jsonl``) or an iterable of strings; blank lines are skipped."""
    if isinstance(text, (str, os.PathLike)):
        path = Path(text)
        if path.name.endswith(".jsonl"):
            lines: Iterable[str] = (str(e["text"]) for e in read_manifest(path, ("text",)))
        elif path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines()
        else:
            raise DataError(f"LM text {path} does not exist: give a text file (one sentence a "
                            "line) or a JSONL manifest with text fields")
    else:
        lines = text
    for line in lines:
        if line.strip():
            yield line


NORMALIZERS = ("none", "english", "mandarin")


def mix_sentences(texts: Sequence[str | os.PathLike], weights: Sequence[int] | None = None,
                  exclude: Sequence[str | os.PathLike] = (), normalize: str = "none",
                  ) -> list[str]:
    """One LM text from several: each text's sentences ``weights[i]`` times over (counts
    scale, so a small in-domain text is not drowned by a large one), normalised, and with
    every sentence of the ``exclude`` texts (dev and test splits) removed.

    Args:
        texts: text files or JSONL manifests (:func:`read_sentences`).
        weights: a repeat count per text (default 1 each).
        exclude: texts whose sentences must not be in the LM (compared after normalising).
        normalize: ``"english"`` or ``"mandarin"`` (``speechzoo.text``'s normalisers, as
            training applies them to transcripts), or ``"none"``: the text is already so.
    """
    weights = list(weights) if weights is not None else [1] * len(texts)
    if len(weights) != len(texts) or any(w < 1 for w in weights):
        raise ConfigError(f"{len(texts)} LM texts take as many weights, each a whole number "
                          f"of at least 1; got {weights}")
    if normalize not in NORMALIZERS:
        raise ConfigError(f"normalize {normalize!r}: choose from {NORMALIZERS}")
    if normalize == "none":
        norm = str.strip
    else:
        import importlib

        norm = importlib.import_module(f"speechzoo.text.{normalize}").normalize
    held = {norm(s) for t in exclude for s in read_sentences(t)}
    mixed = []
    for text, weight in zip(texts, weights, strict=True):
        kept = [s for s in map(norm, read_sentences(text)) if s and s not in held]
        mixed.extend(kept * weight)
    return mixed


def _units(sentences: Iterable[str], units: str) -> Iterator[str]:
    # A character LM's words are the characters: spaces are dropped, so a Mandarin sentence
    # with or without word spaces gives the same n-grams.
    for s in sentences:
        yield " ".join(c for c in s if not c.isspace()) if units == "chars" else " ".join(s.split())


def _thresholds(prune: Sequence[int], order: int) -> list[int]:
    prune = [int(p) for p in prune]
    if prune and (prune[0] != 0 or prune != sorted(prune)):
        raise ConfigError(f"prune {prune}: the first threshold (unigrams) must be 0 and the "
                          "others non-decreasing, e.g. 0 1 1 (drop singleton bigrams and "
                          "trigrams)")
    return (prune + [prune[-1] if prune else 0] * order)[:order]


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    # Counting makes millions of small dicts and sets but no reference cycles: the cyclic
    # collector's scans would dominate the run time.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _drop_rare(counts: NgramCounts, thresholds: list[int]) -> None:
    """Remove n-grams (order >= 2) seen at most ``thresholds[order - 1]`` times. With
    non-decreasing thresholds every kept n-gram's prefix and suffix are kept too (their raw
    counts are at least as high), so the ARPA stays well formed."""
    for k in range(1, counts.ngram_order):
        if thresholds[k] <= 0:
            continue
        table = counts.counts[k]
        for history in list(table):
            cfh = table[history]
            for w in [w for w, c in cfh.word_to_count.items() if c <= thresholds[k]]:
                del cfh.word_to_count[w], cfh.word_to_f[w]
                cfh.word_to_context.pop(w, None)
            if not cfh.word_to_count:
                del table[history]


def _kaldingram_arpa(sentences: Iterable[str], order: int, thresholds: list[int],
                     fout: IO[str]) -> None:
    counts = NgramCounts(order)
    with _gc_paused():
        for s in sentences:
            counts.add_raw_counts_from_line(s)
        counts.cal_discounting_constants()
        # D = n1 / (n1 + 2 n2) is 1 when no n-gram of an order occurs twice (small text): every
        # n-gram of that order would get probability 0. Fall back as lmplz's
        # --discount_fallback does.
        counts.d = [0.5 if d >= 1 else d for d in counts.d]
        counts.cal_f()
        _drop_rare(counts, thresholds)
        unigrams = counts.counts[0][()]
        if "<unk>" not in unigrams.word_to_count:
            # KenLM would substitute log10 p = -100 (and say so on every load); an unseen word
            # is taken as likely as the rarest seen one instead.
            unigrams.word_to_count["<unk>"] = 0
            unigrams.word_to_f["<unk>"] = min(f for f in unigrams.word_to_f.values() if f > 0)
        counts.cal_bow()
        counts.print_as_arpa(fout=fout)


def _lmplz_arpa(sentences: Iterable[str], order: int, thresholds: list[int],
                fout: IO[str]) -> None:
    command = ["lmplz", "-o", str(order), "--discount_fallback"]
    if any(thresholds):
        command += ["--prune", *map(str, thresholds)]
    text = "".join(f"{s}\n" for s in sentences).encode("utf-8")
    done = subprocess.run(command, input=text, capture_output=True)
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise DataError(f"lmplz failed (exit {done.returncode}): {' / '.join(tail)}")
    fout.write(done.stdout.decode("utf-8"))


def build_lm(text: str | os.PathLike | Iterable[str], out: str | os.PathLike, order: int = 3,
             prune: Sequence[int] = (), units: str = "words", tool: str = "auto",
             progress: bool = False) -> Path:
    """Write a Kneser-Ney ARPA language model of ``text``.

    Args:
        text: a text file (one sentence a line), a JSONL manifest (``text`` fields) or
            sentences. Give it normalised, in the recogniser's alphabet.
        out: the ARPA file; gzipped if the name ends ``.gz``. Written whole or not at all.
        order: the n-gram order (1..6).
        prune: per-order count thresholds (module docstring); ``()`` keeps every n-gram.
        units: ``"words"``, or ``"chars"`` for a character LM (each sentence written as its
            characters, spaces dropped) for lexicon-free decoding, e.g. of Mandarin.
        tool: ``"kaldingram"``, ``"lmplz"`` or ``"auto"`` (lmplz when on PATH).
        progress: show kaldingram's progress bars (on stderr).

    Returns:
        ``out``.
    """
    if not 1 <= order <= MAX_ORDER:
        raise ConfigError(f"LM order {order}: use 1..{MAX_ORDER}")
    if units not in UNITS or tool not in TOOLS:
        raise ConfigError(f"units {units!r} / tool {tool!r}: choose units from {UNITS} and "
                          f"tool from {TOOLS}")
    if tool == "lmplz" and shutil.which("lmplz") is None:
        raise ConfigError("tool='lmplz' but lmplz is not on PATH: install KenLM or use "
                          "tool='kaldingram'")
    thresholds = _thresholds(prune, order)
    sentences = _units(read_sentences(text), units)
    first = next(sentences, None)
    if first is None:
        raise DataError(f"no sentences in {text if isinstance(text, (str, Path)) else 'text'}:"
                        " an LM needs some")
    lmplz = tool == "lmplz" or (tool == "auto" and shutil.which("lmplz") is not None)
    write = _lmplz_arpa if lmplz else _kaldingram_arpa
    out = Path(out)
    with atomic_path(out) as tmp:
        opener = gzip.open if out.name.endswith(".gz") else open
        quiet = contextlib.nullcontext() if progress else contextlib.redirect_stderr(io.StringIO())
        with opener(tmp, "wt", encoding="utf-8") as fout, quiet:
            write(itertools.chain([first], sentences), order, thresholds, fout)
    return out


def open_text(path: Path) -> IO[str]:
    """Read a text file, gunzipped if its name ends ``.gz``."""
    return gzip.open(path, "rt", encoding="utf-8") if path.name.endswith(".gz") \
        else path.open(encoding="utf-8")


def read_arpa_header(path: str | os.PathLike) -> tuple[dict[int, int], list[str]]:
    """The n-gram counts of an ARPA file's header and its unigram words, checked.

    KenLM stops at the first malformed line deep in a large file; this catches a missing or
    foreign file, a bad header and a short unigram section up front, with a clear message.

    Raises:
        CheckpointError: the file is missing, unreadable or not ARPA.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"language model {path} does not exist; build one with "
                              "`speechzoo lm build TEXT OUT.arpa`")
    bad = f"language model {path} is truncated, corrupt or not ARPA"
    counts: dict[int, int] = {}
    words: list[str] = []
    try:
        with open_text(path) as f:
            lines = (line.strip() for line in f)
            if next((x for x in lines if x), None) != "\\data\\":
                raise CheckpointError(f"{bad}: it does not start with \\data\\")
            for line in lines:
                if line.startswith("ngram "):
                    n, _, c = line[6:].partition("=")
                    counts[int(n)] = int(c)
                elif line:
                    break
            if line != "\\1-grams:" or sorted(counts) != list(range(1, len(counts) + 1)):
                raise CheckpointError(f"{bad}: its header has no ngram counts 1..N")
            for line in lines:
                if not line or line.startswith("\\"):
                    break
                words.append(line.split()[1])
    except CheckpointError:
        raise
    except (OSError, UnicodeDecodeError, ValueError, IndexError, EOFError) as e:
        raise CheckpointError(f"{bad} ({type(e).__name__}: {e}); rebuild it") from None
    if len(words) != counts[1]:
        raise CheckpointError(f"{bad}: its header promises {counts[1]} unigrams, it holds "
                              f"{len(words)}; rebuild it")
    return counts, words


def write_lexicon(words: Iterable[str], tokenizer: CharTokenizer, out: str | os.PathLike,
                  ) -> Path:
    """Write a flashlight lexicon (gzipped if ``out`` ends ``.gz``): ``word w o r d |`` per
    word, spelt in the tokenizer's characters and ended by the word boundary. flashlight's
    lexicon decoder emits a word when its spelling, boundary included, is complete (without
    the boundary, a last letter held over several frames cannot be absorbed);
    :class:`~speechzoo.decoding.beam.BeamDecoder` ends every utterance with a boundary frame
    so that the last word completes too.

    Raises:
        TextError: a word holds a character outside the alphabet, or the alphabet has no space.
    """
    if " " not in tokenizer.symbols:
        raise TextError("a lexicon needs a word boundary: the alphabet has no space; decode "
                        "without one, with a character LM (build_lm(..., units='chars'))")
    spell = dict(zip(tokenizer.symbols, token_names(tokenizer)[1:], strict=True))
    unique = list(dict.fromkeys(w for w in words if w not in SPECIAL_WORDS))
    bad = [w for w in unique if not w or " " in w or any(c not in spell for c in w)]
    if bad:
        raise TextError(f"{len(bad)} words cannot be spelt in the alphabet "
                        f"{tokenizer.alphabet[:40]!r}, e.g. {bad[:5]}; normalise or drop them")
    out = Path(out)
    opener = gzip.open if out.name.endswith(".gz") else open
    with atomic_path(out) as tmp, opener(tmp, "wt", encoding="utf-8") as f:
        for w in unique:
            f.write(f"{w} {' '.join(spell[c] for c in w)} {spell[' ']}\n")
    return out


def is_char_lm(words: Iterable[str], tokenizer: CharTokenizer) -> bool:
    """True when every word of an LM is one non-space character of the alphabet: a character
    LM, for lexicon-free decoding."""
    chars = set(tokenizer.symbols) - {" "}
    return all(w in chars for w in words if w not in SPECIAL_WORDS)


def lexicon_for(lm: str | os.PathLike, tokenizer: CharTokenizer, out: str | os.PathLike,
                ) -> tuple[Path | None, int]:
    """The lexicon an LM calls for: ``None`` for a character LM (:func:`is_char_lm`), else
    ``out`` written with the LM's words that the alphabet spells.

    Returns:
        (the lexicon or None, how many LM words were left out as unspellable).
    """
    _, words = read_arpa_header(lm)
    if is_char_lm(words, tokenizer):
        return None, 0
    chars = set(tokenizer.alphabet) - {" "}  # not the unknown symbol: it spells nothing
    words = [w for w in words if w not in SPECIAL_WORDS]
    good = [w for w in words if set(w) <= chars]
    if not good:
        raise TextError(f"no word of {lm} is spelt in the alphabet {tokenizer.alphabet[:40]!r}: "
                        "was the LM built from normalised text?")
    return write_lexicon(good, tokenizer, out), len(words) - len(good)

