"""``synth-voices-en``: English sentences spoken by every installed engine other than eSpeak.

The sentences and their split are synth-en's (same text sources, same seed), so dev and test
sentences are held out from both corpora and a model trained on the two never hears them.
Every voice of every engine used (:mod:`speechzoo.data.engines`) speaks its own training
sentences plus an equal share of the dev and test sentences, each at a drawn rate and pitch,
with drawn leading/trailing silence and level; audio is stored as 16 kHz FLAC. Manifest
entries carry ``speaker`` ``"<engine>:<voice>"`` and ``source`` ``"<engine>"``, and
``corpus.json`` records which engines were used and why any were not.

Deterministic given the seed and the set of engines: each utterance draws from a generator
seeded by (seed, split, voice, index).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from speechzoo.audio import SAMPLE_RATE, load_audio
from speechzoo.data.corpora.synth_en import SPLITS, _split_sentences
from speechzoo.data.corpora.text_sources import markov_sentences, real_sentences
from speechzoo.data.engines import ENGINES, Utterance, get_engine
from speechzoo.data.manifest import write_manifest
from speechzoo.errors import DataError
from speechzoo.files import atomic_dir

_BATCH = 40  # utterances per engine call (festival starts once per batch)


def choose_engines(names: str) -> tuple[list[str], dict[str, str]]:
    """``"default"``, ``"all"`` or comma-separated names -> (engines that run here, engine ->
    why it was left out)."""
    if names in ("default", "all"):
        wanted = [n for n, e in ENGINES.items() if e.default or names == "all"]
    else:
        wanted = [get_engine(n.strip()).name for n in names.split(",") if n.strip()]
    skipped = {n: why for n in wanted if (why := ENGINES[n].missing()) is not None}
    used = [n for n in wanted if n not in skipped]
    if not used:
        reasons = "; ".join(f"{n}: {why}" for n, why in skipped.items()) or "none asked for"
        raise DataError(f"no speech engine for synth-voices-en can run here ({reasons})")
    return used, skipped


def _jobs(splits: dict[str, list[str]], engines: list[str], per_voice: int, seed: int,
          tmp: Path) -> dict[tuple[str, str], list[Utterance]]:
    """(split, engine) -> its utterances: ``per_voice`` training sentences for every voice,
    and the dev and test sentences dealt out among all voices in turn."""
    voices = [(e, v) for e in engines for v in ENGINES[e].voices]
    jobs: dict[tuple[str, str], list[Utterance]] = {}
    for split in SPLITS:
        texts = splits[split]
        for k, (engine, voice) in enumerate(voices):
            if split == "train":
                mine = [texts[(k * per_voice + i) % len(texts)] for i in range(per_voice)]
            else:
                mine = texts[k::len(voices)]
            for i, text in enumerate(mine):
                rng = random.Random(f"{seed}:{split}:{engine}:{voice}:{i}")
                path = tmp / split / f"{engine}-{voice}-{i:05d}.wav"
                jobs.setdefault((split, engine), []).append(
                    Utterance(text, voice, rng.uniform(0.85, 1.2), rng.uniform(0.85, 1.15), path))
    return jobs


def _finish(utt: Utterance, engine: str, seed: int) -> dict[str, Any]:
    """The engine's wav -> 16 kHz FLAC with drawn silence and level; its manifest entry."""
    wav, _ = load_audio(utt.path, SAMPLE_RATE)
    rng = random.Random(f"{seed}:{utt.path.name}")
    lead, trail = (int(rng.uniform(0.0, 0.25) * SAMPLE_RATE) for _ in range(2))
    wav = np.concatenate([np.zeros(lead, np.float32), wav, np.zeros(trail, np.float32)])
    wav *= rng.uniform(0.3, 0.9) / max(float(np.abs(wav).max()), 1e-4)
    flac = utt.path.with_suffix(".flac")
    sf.write(flac, wav, SAMPLE_RATE, subtype="PCM_16")
    utt.path.unlink()
    return {"audio_filepath": str(flac), "duration": round(len(wav) / SAMPLE_RATE, 3),
            "text": utt.text, "speaker": f"{engine}:{utt.voice}", "source": engine}


def _speak_batch(engine: str, batch: list[Utterance], seed: int) -> list[dict[str, Any]]:
    ENGINES[engine].speak(batch)
    return [_finish(u, engine, seed) for u in batch]


def _speak_batches(batches: list[tuple[str, str, list[Utterance]]], seed: int,
                   workers: int | None) -> Iterator[list[dict[str, Any]]]:
    """Each ``(split, engine, utterances)`` batch's manifest entries, in order."""
    workers = workers or os.cpu_count() or 1
    if workers == 1:  # in this process: no start-up, and a test's stand-in engine is seen
        for _, engine, batch in batches:
            yield _speak_batch(engine, batch, seed)
        return
    # Spawned, not forked: a fork of a process whose torch thread pool has run hangs at its
    # first parallel op (the resampler in ``_finish``).
    with ProcessPoolExecutor(workers, multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_speak_batch, engine, batch, seed) for _, engine, batch in batches]
        for future in futures:
            yield future.result()


def prepare_synth_voices_en(out: str | os.PathLike, seed: int = 0, per_voice: int = 600,
                            engines: str = "default", markov: int = 30000,
                            heldout: int = 300, workers: int | None = None) -> Path:
    """Generate the corpus into ``out`` (built beside it, then renamed).

    Args:
        out: the corpus folder (``train|dev|test.jsonl``, ``corpus.json``, FLAC files).
        seed: the sentence split (synth-en's with the same seed and ``markov``) and draws.
        per_voice: training utterances per voice.
        engines: ``"default"`` (every engine but MBROLA, whose licence restricts commercial
            use), ``"all"``, or names such as ``"rhvoice,pico"``; those not installed are
            skipped and recorded.
        markov: as synth-en's (the pool of training sentences).
        heldout: dev and test sentences (synth-en's first ``heldout`` of each; at most 300).
        workers: processes (default: all cores).
    """
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} already exists; remove it to generate the corpus again")
    used, skipped = choose_engines(engines)
    generated = markov_sentences(markov, seed) if markov else []
    splits = _split_sentences(real_sentences(), generated, seed, 300, 300, None)
    splits = {split: texts if split == "train" else texts[:heldout]
              for split, texts in splits.items()}
    with atomic_dir(out) as tmp:
        for split in SPLITS:
            (tmp / split).mkdir()
        jobs = _jobs(splits, used, per_voice, seed, tmp)
        batches = [(split, engine, utts[i:i + _BATCH]) for (split, engine), utts in jobs.items()
                   for i in range(0, len(utts), _BATCH)]
        entries: dict[str, list[dict[str, Any]]] = {split: [] for split in SPLITS}
        with tqdm(total=sum(map(len, jobs.values())), desc="synth-voices-en", unit="utt") as bar:
            for (split, _, _), rows in zip(batches, _speak_batches(batches, seed, workers),
                                          strict=True):
                entries[split] += rows
                bar.update(len(rows))
        for split in SPLITS:
            rows = [dict(e, audio_filepath=str(out / Path(e["audio_filepath"]).relative_to(tmp)))
                    for e in entries[split]]
            write_manifest(tmp / f"{split}.jsonl", rows, relative_to=out)
        info = {"seed": seed, "per_voice": per_voice, "markov": markov,
                "engines": {n: {"voices": list(ENGINES[n].voices), "licence": ENGINES[n].licence}
                            for n in used}, "skipped": skipped}
        (tmp / "corpus.json").write_text(json.dumps(info, indent=2) + "\n")
    return out


def prepare(source: None, out: str | os.PathLike, per_voice: int = 600,
            engines: str = "default") -> Path:
    """The corpus registry's entry point (``speechzoo prepare synth-voices-en``)."""
    return prepare_synth_voices_en(out, per_voice=per_voice, engines=engines)
