"""The text-to-speech corpus ``synth-tts-en``: real English sentences read by one natural voice.

The voice is Piper's neural ``joe`` (en_US, 22,050 Hz), run as a separate process
(:mod:`speechzoo.data.corpora.piper`). Text: every news and review sentence of 4-25 words that
gensim ships, as written (numbers, symbols and punctuation kept; the front end reads them),
plus sentences walked from essential-generators' Wikipedia Markov chain for variety. Dev and
test are real sentences never in training. Piper is given each sentence as
:func:`speechzoo.text.phonemes.speakable` writes it, so the phonemes it speaks are the ones the
front end gives a model at synthesis time (the agreement is measured: ``phonemes_agree``).

Each entry keeps Piper's own alignment as ground-truth durations: ``phonemes`` (symbols of
``speechzoo.text.phonemes.ENGLISH``) and ``durations`` in frames of :data:`HOP` samples, one
per phoneme plus one for the end token (its trailing silence); the sentence-start marker's
frames go to the first phoneme. The audio is cut or padded to exactly those frames.

This voice and everything made from it serve text to speech only: no recogniser trains or is
tuned on it (it is reserved to measure the recognisers independently).
"""

from __future__ import annotations

import contextlib
import os
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from speechzoo.data.corpora.piper import BOS, EOS, PiperServer, PiperUtterance
from speechzoo.data.corpora.text_sources import markov_sentences, written_sentences
from speechzoo.data.manifest import write_manifest
from speechzoo.errors import DataError, TextError
from speechzoo.files import atomic_dir
from speechzoo.text.phonemes import ENGLISH, phonemize, speakable

SAMPLE_RATE = 22050
HOP = 256  # Piper's (VITS) frame: its alignments count whole frames of 256 samples
SPLITS = ("train", "dev", "test")
_INVENTORY = frozenset(ENGLISH)


def split_sentences(real: list[str], generated: list[str], seed: int, dev_size: int,
                    test_size: int, train_size: int | None) -> dict[str, list[str]]:
    """Dev and test take real sentences only; training the other real and the generated ones
    (a generated one that reads like a real sentence is dropped: never a held-out one)."""
    real = sorted(set(real))
    random.Random(seed).shuffle(real)
    if len(real) < dev_size + test_size + 1:
        raise DataError(f"only {len(real)} real sentences for dev {dev_size} + test {test_size}")
    test, dev = real[:test_size], real[test_size:test_size + dev_size]
    seen = {speakable(t) for t in real}  # held out, or already in training
    train = real[test_size + dev_size:] + [g for g in sorted(set(generated))
                                           if speakable(g) not in seen]
    random.Random(seed + 1).shuffle(train)
    return {"train": train[:train_size], "dev": dev, "test": test}


def labels(said: PiperUtterance) -> tuple[list[str], list[int]]:
    """Piper's alignment -> (phonemes, frames per phoneme + one for the end token)."""
    phonemes, samples = list(said.phonemes), list(said.samples)
    if len(phonemes) < 3 or phonemes[0] != BOS or phonemes[-1] != EOS:
        raise DataError(f"unexpected Piper alignment {phonemes[:5]}...{phonemes[-3:]}")
    frames = [round(s / HOP) for s in samples]
    frames[1] += frames[0]  # the start marker's frames (leading silence) join the first phoneme
    return phonemes[1:-1], frames[1:]


def _write_utterance(said: PiperUtterance, text: str, path: Path) -> dict | None:
    if said.sample_rate != SAMPLE_RATE:
        raise DataError(f"the Piper voice speaks at {said.sample_rate} Hz, not {SAMPLE_RATE}")
    phonemes, frames = labels(said)
    if not set(phonemes) <= _INVENTORY:
        return None  # a symbol the front end never writes: the sentence is left out
    samples = sum(frames) * HOP
    audio = np.zeros(samples, dtype=np.int16)
    audio[:min(samples, len(said.audio))] = said.audio[:samples]
    sf.write(path, audio, SAMPLE_RATE, format="FLAC")
    try:
        agree = phonemize(text, glides=True) == phonemes
    except TextError:
        agree = False
    return {"audio_filepath": str(path), "duration": round(samples / SAMPLE_RATE, 4),
            "text": text, "phonemes": phonemes, "durations": frames, "phonemes_agree": agree,
            "speaker": "joe", "source": "piper"}


def _speak_all(jobs: list[tuple[str, Path]], workers: int) -> list[dict | None]:
    """Entries for (text, path) jobs, each Piper server speaking every ``workers``-th one; the
    voice is deterministic, so the corpus does not depend on the order they finish in."""
    rows: list[dict | None] = [None] * len(jobs)
    with contextlib.ExitStack() as stack, \
            tqdm(total=len(jobs), desc="synth-tts-en", unit="utt") as bar:
        servers = [stack.enter_context(PiperServer("joe")) for _ in range(workers)]

        def speak(k: int) -> None:
            for i in range(k, len(jobs), workers):
                text, path = jobs[i]
                rows[i] = _write_utterance(servers[k].synthesize(speakable(text)), text, path)
                bar.update()

        with ThreadPoolExecutor(workers) as pool:
            for done in [pool.submit(speak, k) for k in range(workers)]:
                done.result()
    return rows


def prepare_synth_tts_en(out: str | os.PathLike, seed: int = 0, markov: int = 1200,
                         dev_size: int = 100, test_size: int = 100,
                         train_size: int | None = None, workers: int = 2) -> Path:
    """Generate the corpus into ``out`` (built beside it, then renamed: never half-written).

    Args:
        out: the corpus folder; holds ``train|dev|test.jsonl`` and FLAC files.
        seed: the text split follows from it; Piper's voice is deterministic itself.
        markov: generated training sentences added to the real ones.
        dev_size, test_size: real sentences held out for dev and test.
        train_size: keep at most this many training sentences (None: all).
        workers: Piper servers speaking at once.
    """
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} already exists; remove it to generate the corpus again")
    generated = [g[0].upper() + g[1:] + "." for g in markov_sentences(markov, seed)] \
        if markov else []
    splits = split_sentences(written_sentences(), generated, seed, dev_size, test_size,
                             train_size)
    with atomic_dir(out) as tmp:
        jobs = []
        for split in SPLITS:
            (tmp / split).mkdir()
            jobs += [(text, tmp / split / f"{split}-{i:05d}.flac")
                     for i, text in enumerate(splits[split])]
        rows = _speak_all(jobs, workers)
        for split in SPLITS:
            kept = [dict(r, audio_filepath=str(out / split / Path(r["audio_filepath"]).name))
                    for r in rows if r is not None and Path(r["audio_filepath"]).parent.name
                    == split]
            write_manifest(tmp / f"{split}.jsonl", kept, relative_to=out)
    return out


def prepare(source: None, out: str | os.PathLike, markov: int = 1200) -> Path:
    """The corpus registry's entry point (``speechzoo prepare synth-tts-en [--markov N]``)."""
    return prepare_synth_tts_en(out, markov=markov)
