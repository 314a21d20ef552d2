"""The embedded English corpus, ``synth-en``: real English text spoken by eSpeak NG.

Every utterance draws its own voice (accent x variant), speaking rate, pitch, pitch range,
level, leading/trailing silence and light background noise from a generator seeded by
(seed, index), so the corpus is the same on every machine. Dev and test are real sentences
(news and reviews) that never occur in training, and the voice variants in
``HELD_OUT_VARIANTS`` speak only in dev and test (half of their utterances), to measure how
far a model carries to a voice it has not heard. Training sentences are each spoken once.

The manifest keeps eSpeak's phonemes and their start times (seconds) for the TTS models.
"""

from __future__ import annotations

import os
import random
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from speechzoo.data.corpora.text_sources import markov_sentences, real_sentences
from speechzoo.data.manifest import write_manifest
from speechzoo.errors import DataError
from speechzoo.files import atomic_dir
from speechzoo.text import espeak

ACCENTS = ("en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-us-nyc",
           "en-gb-x-gbclan", "en-gb-x-gbcwmd")
# The voice variants that speak in every split; dev and test draw their seen voices from these
# alone, so their numbers stay comparable as training adds voices.
CORE_VARIANTS = ("", "m1", "m2", "m3", "m4", "m5", "m6", "f1", "f2", "f3", "f4", "klatt",
                 "klatt2", "klatt3", "Andy", "Annie", "belinda", "david", "linda", "robert",
                 "steph")
# Training hears every variant eSpeak NG 1.52 ships but the held-out ones (and "Mr serious",
# whose name has a space): a model that has heard many vocal tracts carries further to one it
# has not.
TRAIN_VARIANTS = (
    "", "m1", "m2", "m3", "m4", "m5", "m6", "m8", "f1", "f2", "f3", "f4", "klatt", "klatt2",
    "klatt3", "klatt5", "klatt6", "adam", "Alex", "Andrea", "Andy", "anika", "anikaRobot",
    "Annie", "announcer", "antonio", "AnxiousAndy", "aunty", "belinda", "boris", "caleb",
    "croak", "david", "Demonic", "Denis", "Diogo", "ed", "edward", "edward2", "fast", "Gene",
    "Gene2", "grandma", "grandpa", "gustave", "Henrique", "Hugo", "ian", "iven", "iven2",
    "iven3", "iven4", "Jacky", "john", "kaukovalta", "Lee", "linda", "marcelo", "Marco",
    "Mario", "max", "Michael", "michel", "miguel", "Mike", "mike2", "Nguyen", "norbert",
    "pablo", "paul", "pedro", "quincy", "Reed", "RicishayMax", "RicishayMax2", "RicishayMax3",
    "rob", "robert", "robosoft", "robosoft2", "robosoft3", "robosoft4", "robosoft5",
    "robosoft6", "robosoft7", "robosoft8", "sandro", "shelby", "steph", "steph2", "steph3",
    "Storm", "travis", "Tweaky", "UniRobot", "victor", "whisper", "whisperf", "zac")
HELD_OUT_VARIANTS = ("m7", "f5", "klatt4", "Alicia", "benjamin")
SPLITS = ("train", "dev", "test")


def _voice(rng: random.Random, split: str, accents: tuple[str, ...]) -> str:
    variants = TRAIN_VARIANTS
    if split != "train":
        variants = HELD_OUT_VARIANTS if rng.random() < 0.5 else CORE_VARIANTS
    variant = rng.choice(variants)
    accent = rng.choice(accents)
    return f"{accent}+{variant}" if variant else accent


def render(index: int, split: str, text: str, seed: int, folder: Path,
           accents: tuple[str, ...] = ACCENTS, plain: bool = False) -> dict:
    """Synthesise one utterance into ``folder`` and return its manifest entry.

    ``accents``: the eSpeak NG languages/accents drawn from (each with a drawn variant).
    ``plain``: speak with the accent's own voice, without the drawn variant (see
    ``_render_all``); everything else is drawn as usual."""
    rng = random.Random(f"{seed}:{split}:{index}")
    voice = _voice(rng, split, accents)
    if plain:
        voice = voice.split("+")[0]
    syn = espeak.synthesize(text, voice, rate=rng.randint(130, 220), pitch=rng.randint(20, 80),
                            pitch_range=rng.randint(20, 90))
    sr = syn.sample_rate
    lead, trail = (int(rng.uniform(0.0, 0.25) * sr) for _ in range(2))
    wav = np.concatenate([np.zeros(lead, np.float32), syn.waveform, np.zeros(trail, np.float32)])
    wav *= rng.uniform(0.3, 0.9) / max(float(np.abs(wav).max()), 1e-4)
    noise = np.random.default_rng(rng.getrandbits(32)).standard_normal(len(wav))
    if rng.random() < 0.5:  # brown-ish rumble rather than hiss, half of the time
        noise = np.cumsum(noise)
        noise -= np.convolve(noise, np.ones(64) / 64, mode="same")
    snr_db = rng.uniform(20.0, 50.0)
    speech_power = float(np.mean(wav[lead:lead + len(syn.waveform)] ** 2))
    noise *= np.sqrt(speech_power / 10 ** (snr_db / 10) / max(float(np.mean(noise**2)), 1e-12))
    wav = np.clip(wav + noise.astype(np.float32), -1.0, 1.0)
    path = folder / split / f"{split}-{index:06d}.flac"
    sf.write(path, wav, sr, subtype="PCM_16")
    return {"audio_filepath": str(path), "duration": round(len(wav) / sr, 3), "text": text,
            "speaker": voice, "phonemes": syn.phonemes,
            "phoneme_starts": [round((s + lead) / sr, 4) for s in syn.starts]}


def _render_job(job: tuple, plain: bool = False) -> dict:
    return render(*job, plain=plain)  # looked up in the worker, so a test can replace render


def _render_alone(job: tuple, plain: bool) -> dict | None:
    """``render`` in a process of its own; None if eSpeak takes that process down."""
    with ProcessPoolExecutor(1) as pool:
        try:
            return pool.submit(_render_job, job, plain).result()
        except BrokenProcessPool:
            return None


def _render_all(jobs: list[tuple], workers: int, desc: str = "synth-en") -> list[dict]:
    """``render`` every job in ``workers`` processes; the entries in job order.

    eSpeak NG 1.52 segfaults on a few (voice, text) pairs (en-gb-scotland+Demonic saying
    "electrons" was one), which takes its process and the pool down. The jobs that were in
    flight then run again one per process, and one that crashes alone is spoken by its
    accent's plain voice. The crashes are deterministic, so the corpus still is too.
    """
    entries: dict[int, dict] = {}
    with tqdm(total=len(jobs), desc=desc, unit="utt") as bar:
        while len(entries) < len(jobs):
            todo = [i for i in range(len(jobs)) if i not in entries]
            with ProcessPoolExecutor(workers) as pool:
                futures = [(i, pool.submit(_render_job, jobs[i])) for i in todo]
                for i, future in futures:
                    try:
                        entries[i] = future.result()
                    except BrokenProcessPool:
                        break
                    bar.update()
            # In flight were at most the first workers + 1 unfinished jobs (the pool queues
            # one call ahead); a margin costs only a few processes.
            for i in [i for i in todo if i not in entries][:2 * workers + 2]:
                entry = _render_alone(jobs[i], False) or _render_alone(jobs[i], True)
                if entry is None:
                    raise DataError(f"eSpeak NG crashed on {jobs[i][1]} utterance {jobs[i][0]} "
                                    f"({jobs[i][2]!r}), also with a plain voice")
                entries[i] = entry
                bar.update()
    return [entries[i] for i in range(len(jobs))]


def _split_sentences(real: list[str], generated: list[str], seed: int, dev_size: int,
                     test_size: int, train_size: int | None) -> dict[str, list[str]]:
    """Dev and test take real sentences only; training takes the other real ones and every
    generated one that is not held out."""
    real = sorted(set(real))
    random.Random(seed).shuffle(real)
    if len(real) < dev_size + test_size + 1:
        raise ValueError(f"only {len(real)} real sentences for dev {dev_size} + test {test_size}")
    test, dev = real[:test_size], real[test_size:test_size + dev_size]
    held_out = set(test) | set(dev)
    train = real[test_size + dev_size:] + sorted(set(generated) - held_out - set(real))
    random.Random(seed + 1).shuffle(train)
    if train_size is not None:  # fewer, or the text again spoken by other voices
        train = [train[i % len(train)] for i in range(train_size)]
    return {"train": train, "dev": dev, "test": test}


def prepare_synth_en(out: str | os.PathLike, seed: int = 0, train_size: int | None = None,
                     dev_size: int = 300, test_size: int = 300, markov: int = 30000,
                     workers: int | None = None) -> Path:
    """Generate the corpus into ``out`` (atomically: built beside it, then renamed).

    Args:
        out: the corpus folder; holds ``train|dev|test.jsonl`` and the FLAC files.
        seed: everything (text split, voices, noise) follows from it.
        train_size: training utterances; None: one per training sentence (each sentence is
            spoken once: a small model memorises sentences it hears several times).
        dev_size, test_size: utterances (and distinct real sentences) in dev and test.
        markov: how many Wikipedia-Markov sentences join the real ones (0 for real only).
        workers: processes that synthesise (default: all cores).

    Returns:
        ``out``.
    """
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} already exists; remove it to generate the corpus again")
    generated = markov_sentences(markov, seed) if markov else []
    splits = _split_sentences(real_sentences(), generated, seed, dev_size, test_size, train_size)
    return write_corpus(out, splits, seed, ACCENTS, workers, "synth-en")


def write_corpus(out: Path, splits: dict[str, list[str]], seed: int, accents: tuple[str, ...],
                 workers: int | None, desc: str) -> Path:
    """Speak every split's sentences into ``out`` (built beside it, then renamed) with voices
    drawn from ``accents``; ``train|dev|test.jsonl`` manifests relative to ``out``."""
    with atomic_dir(out) as tmp:
        for split in SPLITS:
            (tmp / split).mkdir()
        jobs = [(i, split, text, seed, tmp, accents) for split in SPLITS
                for i, text in enumerate(splits[split])]
        entries = _render_all(jobs, workers or os.cpu_count() or 1, desc)
        for split in SPLITS:
            rows = [dict(e, audio_filepath=str(out / Path(e["audio_filepath"]).relative_to(tmp)))
                    for e in entries if Path(e["audio_filepath"]).parent.name == split]
            # Paths are written relative to the corpus folder, so it can be moved whole.
            write_manifest(tmp / f"{split}.jsonl", rows, relative_to=out)
    return out


def prepare(source: None, out: str | os.PathLike, markov: int = 30000) -> Path:
    """The corpus registry's entry point (``speechzoo prepare synth-en [--markov N]``)."""
    return prepare_synth_en(out, markov=markov)
