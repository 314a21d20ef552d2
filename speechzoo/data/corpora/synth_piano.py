"""The embedded piano corpus, ``synth-piano``: real music and generated exercises, rendered
through SoundFont and sample-set pianos, with MAESTRO-style note labels.

Music: polyphonic scores of the music21 corpus (Bach chorales, Beethoven, Mozart and Haydn
string quartets, Schumann, Palestrina, Monteverdi, trecento, ...), every part merged into one
piano and played expressively: the score's tempo scaled at random and drifting slowly,
velocities from its dynamics with phrase-level swells and jitter, sustain pedal re-taken at
bass changes in a random share of pieces, small timing humanisation, an occasional
transposition. The works reserved for the project's independent measures
(:data:`RESERVED_WORKS`) are never read. Generated exercises (dense chords, fast runs and
arpeggios, repeated notes and trills over the whole keyboard and velocity range) cover what
the scores rarely play; they are training material only.

Rendering (16 kHz mono FLAC): FluidSynth with pretty_midi's TimGM6mb.sf2 and Debian
csound-soundfont's sf_GMbank.sf2, several piano programs, reverb on or off, a small detuning
(pitch bend) and a random level. ``test-unseen.jsonl`` is the test pieces again, through
TiMidity++ and the freepats piano samples, which no other split hears: how far a model
carries to a piano it has not heard. FluidR3 and MuseScore fonts are never used.

Splits are by piece (seeded): ``train`` and ``dev`` entries are consecutive 10-20 s windows
(``offset``/``duration``) of each piece's audio file, ``test`` and ``test-unseen`` entries
whole pieces. Each piece's MIDI file holds its key releases and sustain-pedal events; labels
apply the pedal (:func:`speechzoo.music.notes_from_midi`).

The default corpus (``speechzoo prepare synth-piano``: 300 works, 50 generated pieces) took
7 min 45 s to generate with 2 workers on 2 cores that a training run shared: 6.9 hours of
training audio (1,707 windows), dev 0.32 h (16 works), test and test-unseen 0.40 h each (20
works), 424 MB.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from speechzoo.audio import resample
from speechzoo.data.manifest import write_manifest
from speechzoo.errors import DataError
from speechzoo.files import atomic_dir
from speechzoo.music import MAX_MIDI, MIN_MIDI, SAMPLE_RATE, SUSTAIN_CC, Notes

# Reserved for the project's independent measures: never read (music21 corpus paths, without
# extension; a folder reserves every movement in it).
RESERVED_WORKS = ("bach/bwv846", "mozart/k545", "joplin/maple_leaf_rag", "chopin/mazurka06-2",
                  "schumann_clara/polonaise_op1n1", "cpebach/h186", "schoenberg/opus19",
                  "schubert/Lindenbaum", "bach/bwv269", "haydn/opus74no1",
                  "beethoven/opus18no1", "leadSheet/fosterBrownHair")
# Composers (music21 corpus folders) of polyphonic art music; those with many works also give
# the dev and test pieces.
COMPOSERS = ("bach", "beethoven", "mozart", "haydn", "schumann_robert", "schumann_clara",
             "palestrina", "monteverdi", "trecento", "corelli", "handel", "beach", "verdi",
             "weber", "webern", "liliuokalani", "johnson_j_r", "luca", "lusitano", "ciconia",
             "chopin", "joplin", "schubert", "cpebach", "schoenberg")
HELD_OUT_MIN_WORKS = 4
SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn")
RENDER_RATE = 32000  # synthesised at twice the corpus rate, then band-limited down to 16 kHz
PIANO_PROGRAMS = (0, 0, 1, 2)  # General MIDI acoustic grand (twice as likely), bright, electric
UNSEEN_PROGRAMS = (0, 1)  # the freepats pianos
SPLITS = ("train", "dev", "test", "test-unseen")
APT = "fluidsynth timidity freepats csound-soundfont"
# Intervals (semitones) of the runs: major and harmonic minor scales, two arpeggios, chromatic.
RUN_PATTERNS = ((2, 2, 1, 2, 2, 2, 1), (2, 1, 2, 2, 1, 3, 1), (4, 3, 5), (3, 4, 5), (1,))
PIECES, GENERATED, DEV_PIECES, TEST_PIECES, MAX_SECONDS = 300, 50, 16, 20, 75.0


def _composer(work: str) -> str:
    return work.split("/", 1)[0]


def is_reserved(work: str) -> bool:
    """True for a music21 corpus path (``bach/bwv269.mxl``) of a reserved work."""
    stem = work.rsplit(".", 1)[0] if Path(work).suffix in SCORE_SUFFIXES else work
    return any(stem == r or stem.startswith(r + "/") for r in RESERVED_WORKS)


def music21_works() -> list[str]:
    """The music21 corpus scores this corpus draws from (corpus-relative paths, sorted), one
    per work: a work stored twice (``bwv69.6.xml`` and ``bwv69.6-a.mxl``) counts once."""
    from music21 import corpus

    root = Path(corpus.__file__).parent
    works: dict[str, str] = {}
    for path in sorted(map(Path, corpus.getPaths())):
        rel = path.relative_to(root).as_posix()
        if path.suffix not in SCORE_SUFFIXES or _composer(rel) not in COMPOSERS:
            continue
        if is_reserved(rel):
            continue
        key = rel.rsplit(".", 1)[0]
        if _composer(rel) == "bach":  # versions of one chorale: bwv248.23-2, bwv248.23-s
            key = key.split("-", 1)[0]
        works.setdefault(key, rel)
    return sorted(works.values())


def choose_works(works: list[str], seed: int, pieces: int, dev: int,
                 test: int) -> dict[str, list[str]]:
    """Test, dev and training works, each drawn in turn from one composer after another
    (shuffled by ``seed``) so that no composer dominates; dev and test come from composers
    with at least ``HELD_OUT_MIN_WORKS`` works, so every style is also trained on."""
    rng = random.Random(seed)
    by_composer: dict[str, list[str]] = {}
    for work in works:
        by_composer.setdefault(_composer(work), []).append(work)
    for group in by_composer.values():
        rng.shuffle(group)
    big = [c for c in sorted(by_composer) if len(by_composer[c]) >= HELD_OUT_MIN_WORKS]
    held = _round_robin([by_composer[c] for c in big], dev + test)
    if len(held) < dev + test:
        raise DataError(f"only {len(held)} works for {dev} dev and {test} test pieces")
    rest = [[w for w in by_composer[c] if w not in set(held)] for c in sorted(by_composer)]
    return {"test": held[:test], "dev": held[test:], "train": _round_robin(rest, pieces)}


def _round_robin(groups: list[list[str]], n: int) -> list[str]:
    out, i = [], 0
    while len(out) < n and any(i < len(g) for g in groups):
        out += [g[i] for g in groups if i < len(g)][:n - len(out)]
        i += 1
    return out


@dataclass
class Performance:
    """Notes with their key releases and the sustain pedal's (down, up) spans, seconds."""

    notes: Notes
    pedal: list[tuple[float, float]]


def score_events(work: str) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """The notes of a music21 corpus score, every part merged, in score time (quarters).

    Returns:
        events (N, 4): onset and offset (quarters), MIDI pitch, dynamic (0..1, NaN where the
        part has no dynamics yet); and (quarters, quarter notes per minute) of every
        metronome mark.
    """
    from music21 import corpus, dynamics, harmony, tempo

    score = corpus.parse(work, forceSource=True)
    events = []
    for part in getattr(score, "parts", None) or [score]:
        if not part.atSoundingPitch:
            part = part.toSoundingPitch()
        flat = part.flatten()
        marks = [(float(d.offset), d.volumeScalar) for d in flat.getElementsByClass(
            dynamics.Dynamic)]
        tied: dict[int, int] = {}  # pitch -> its event a tie continues (music21's stripTies
        for el in flat.notes:      # is far slower on long scores)
            ql = float(el.duration.quarterLength)
            if isinstance(el, harmony.Harmony) or ql <= 0 or not hasattr(el, "pitches"):
                continue
            on = float(el.offset)
            level = [v for o, v in marks if o <= on]
            for n in getattr(el, "notes", None) or [el]:
                tie = (n.tie or el.tie).type if (n.tie or el.tie) else None
                midi = n.pitch.midi
                if tie in ("stop", "continue") and midi in tied:
                    events[tied[midi]][1] = on + ql
                    if tie == "stop":
                        del tied[midi]
                    continue
                events.append([on, on + ql, midi, level[-1] if level else math.nan])
                if tie in ("start", "continue"):
                    tied[midi] = len(events) - 1
    tempi = [(float(m.getOffsetBySite(score.flatten())), float(m.getQuarterBPM()))
             for m in score.flatten().getElementsByClass(tempo.MetronomeMark)
             if m.number is not None and m.getQuarterBPM()]
    return np.array(events, dtype=np.float64).reshape(-1, 4), tempi


def _smooth_curve(rng: np.random.Generator, periods: tuple[float, float], n: int = 3):
    """A slowly varying random function of time (sum of sinusoids), in [-1, 1]."""
    freq = 1.0 / rng.uniform(*periods, size=n)
    phase = rng.uniform(0, 2 * np.pi, size=n)
    weight = rng.dirichlet(np.ones(n))
    return lambda t: np.sin(2 * np.pi * np.multiply.outer(t, freq) + phase) @ weight


def perform(events: np.ndarray, tempi: list[tuple[float, float]], rng: np.random.Generator,
            max_seconds: float) -> Performance:
    """Play score ``events`` (see :func:`score_events`) like a pianist: tempo from the marks
    (a random one where the score has none) scaled by a random factor and drifting +-10 %,
    velocities from the dynamics with phrase swells and jitter, the melody a little louder,
    onsets humanised by ~8 ms, pedal in 60 % of pieces; the first ``max_seconds`` only."""
    events = events[events[:, 2].argsort(kind="stable")]
    events = events[events[:, 0].argsort(kind="stable")]
    grid = np.arange(0.0, events[:, 1].max() + 1.0, 1 / 48)
    qpm = np.full(len(grid), rng.uniform(60, 110))
    for start, bpm in sorted(tempi):
        qpm[grid >= start] = np.clip(bpm, 40, 200)
    drift = _smooth_curve(rng, (16, 64))
    qpm = qpm * rng.uniform(0.8, 1.2) * (1 + 0.1 * drift(grid))
    seconds = np.concatenate([[0.0], np.cumsum(60.0 / qpm[:-1] / 48)])
    to_time = lambda q: np.interp(q, grid, seconds)  # noqa: E731
    on, off = to_time(events[:, 0]), to_time(events[:, 1])
    on = np.maximum(0.0, on + rng.normal(0, 0.008, len(on))) + 0.25
    legato = rng.uniform(0.75, 0.98)
    off = on + np.maximum(0.04, (off - to_time(events[:, 0])) * legato
                          * rng.uniform(0.9, 1.05, len(on)))
    dynamic = np.where(np.isnan(events[:, 3]), rng.uniform(0.35, 0.75), events[:, 3])
    swell = _smooth_curve(rng, (3, 12))
    velocity = 15 + 100 * dynamic + 15 * swell(on) + rng.normal(0, 6, len(on))
    top = np.r_[events[1:, 0] != events[:-1, 0], True]  # the highest note of each onset
    velocity = np.clip(np.round(velocity + top * rng.uniform(0, 10)), 1, 127)
    pitch = events[:, 2] + _transposition(events[:, 2], rng)
    keep = (on < max_seconds) & (pitch >= MIN_MIDI) & (pitch <= MAX_MIDI)
    notes = playable(Notes(pitch[keep], on[keep], np.minimum(off[keep], max_seconds + 0.5),
                           velocity[keep]))
    pedal = _pedal(notes, rng) if rng.random() < 0.6 else []
    return Performance(notes, pedal)


def _transposition(pitch: np.ndarray, rng: np.random.Generator) -> int:
    shift = int(rng.integers(-5, 7)) if rng.random() < 0.3 else 0
    return shift if MIN_MIDI <= pitch.min() + shift and pitch.max() + shift <= MAX_MIDI else 0


def _pedal(notes: Notes, rng: np.random.Generator) -> list[tuple[float, float]]:
    """Legato pedalling: the pedal is re-taken just after each new bass note (a harmony
    change) at least ``beat`` apart, lifted just before the next."""
    changes, bass, beat = [], None, rng.uniform(0.4, 1.2)
    for t in np.unique(np.round(notes.onset, 2)):
        low = int(notes.pitch[np.abs(notes.onset - t) < 0.03].min())
        if low != bass and (not changes or t - changes[-1] >= beat):
            changes.append(float(t))
            bass = low
    ends = changes[1:] + [float(notes.offset.max())]
    return [(a + rng.uniform(0.03, 0.12), b - rng.uniform(0.0, 0.04))
            for a, b in zip(changes, ends, strict=True) if b - a > 0.2]


def playable(notes: Notes) -> Notes:
    """Notes one piano keyboard can play: a key struck twice within 30 ms is struck once
    (the louder, the longer), and a key struck again while it sounds is released first."""
    keep = np.ones(len(notes), bool)
    offset, velocity = notes.offset.copy(), notes.velocity.copy()
    for p in np.unique(notes.pitch):
        idx = np.flatnonzero(notes.pitch == p)
        last = idx[0]
        for i in idx[1:]:
            if notes.onset[i] - notes.onset[last] < 0.03:
                keep[i] = False
                offset[last] = max(offset[last], offset[i])
                velocity[last] = max(velocity[last], velocity[i])
                continue
            offset[last] = min(offset[last], notes.onset[i])
            last = i
    return Notes(notes.pitch, notes.onset, offset, velocity).select(keep)


def generated_piece(rng: np.random.Generator, seconds: float) -> Performance:
    """Exercises for coverage: segments of dense chords, fast runs and arpeggios, repeated
    notes and trills, anywhere on the keyboard at any velocity (1..127)."""
    rows, t = [], 0.25
    while t < seconds:
        kind = rng.integers(4)
        length = rng.uniform(3, 8)
        span = int(rng.integers(12, 49))
        low = int(rng.integers(MIN_MIDI, MAX_MIDI - span + 2))  # keys low .. low + span - 1
        vel = _velocity_profile(rng)
        if kind == 0:  # dense chords, block or rolled
            step = rng.uniform(0.15, 0.8)
            for k, on in enumerate(np.arange(t, t + length, step)):
                keys = rng.choice(np.arange(low, low + span), int(rng.integers(3, 11)), False)
                roll = rng.uniform(0, 0.03) * (rng.random() < 0.3)
                rows += [(p, on + j * roll, on + step * rng.uniform(0.3, 1.0), vel(k))
                         for j, p in enumerate(sorted(keys))]
        elif kind == 1:  # runs (scales) and arpeggios, up and down
            step = rng.uniform(0.04, 0.14)
            pattern = RUN_PATTERNS[rng.integers(len(RUN_PATTERNS))]
            pitches = low + np.cumsum(np.r_[0, np.resize(pattern, 64)])
            pitches = pitches[pitches < low + span]
            seq = np.r_[pitches, pitches[-2:0:-1]]
            for k, on in enumerate(np.arange(t, t + length, step)):
                rows.append((seq[k % len(seq)], on, on + step * 1.1, vel(k)))
        else:  # repeated notes (kind 2) or trills between neighbours (kind 3)
            step = rng.uniform(0.06, 0.15)
            key = int(rng.integers(MIN_MIDI, MAX_MIDI - 1))
            keys = [key] + ([key + int(rng.integers(1, 3))] if kind == 3 else [])
            for k, on in enumerate(np.arange(t, t + length, step)):
                rows.append((keys[k % len(keys)], on, on + step * rng.uniform(0.4, 0.9), vel(k)))
        t += length + rng.uniform(0.1, 1.0)
    pitch, on, off, velocity = np.array(rows, dtype=np.float64).T
    notes = playable(Notes(pitch, on, off, velocity))
    pedal = _pedal(notes, rng) if rng.random() < 0.4 else []
    return Performance(notes, pedal)


def _velocity_profile(rng: np.random.Generator):
    """Velocities of a segment's k-th note: constant, a ramp (crescendo or diminuendo) or
    random, spanning the whole range 1..127 over many segments."""
    a, b = rng.integers(1, 128, size=2)
    kind = rng.integers(3)
    if kind == 0:
        return lambda k: int(a)
    if kind == 1:
        return lambda k: int(np.clip(a + (b - a) * min(k / 24, 1), 1, 127))
    return lambda k: int(rng.integers(min(a, b), max(a, b) + 1))


def soundfonts() -> dict[str, Path]:
    """The training SoundFonts by name: pretty_midi's TimGM6mb and csound-soundfont's
    sf_GMbank."""
    import pretty_midi

    return {"TimGM6mb": Path(pretty_midi.__file__).parent / "TimGM6mb.sf2",
            "sf_GMbank": Path("/usr/share/sounds/sf2/sf_GMbank.sf2")}


FREEPATS_CFG = Path("/etc/timidity/freepats.cfg")


def check_tools() -> None:
    """Raise DataError, saying what to install, unless FluidSynth, TiMidity++, freepats and
    both training SoundFonts are there."""
    missing = [p for p in ("fluidsynth", "timidity") if shutil.which(p) is None]
    missing += [str(f) for f in (*soundfonts().values(), FREEPATS_CFG) if not f.is_file()]
    if missing:
        raise DataError(f"synth-piano needs {', '.join(missing)}, which this machine lacks: "
                        f"install them (Debian/Ubuntu: `sudo apt-get install {APT}`)")


def draw_renderer(rng: np.random.Generator, unseen: bool = False) -> dict:
    """A rendering's settings: synthesiser, SoundFont, piano program, reverb, detuning in
    cents, peak level. ``unseen``: TiMidity++ with freepats (the held-out renderer)."""
    reverb = None
    if rng.random() < 0.5:
        reverb = {"room": round(float(rng.uniform(0.2, 0.9)), 2),
                  "level": round(float(rng.uniform(0.2, 0.8)), 2),
                  "damp": round(float(rng.uniform(0.0, 0.6)), 2)}
    spec = {"detune_cents": round(float(rng.uniform(-8, 8)), 1),
            "peak": round(float(rng.uniform(0.15, 0.95)), 2), "reverb": reverb}
    if unseen:
        return {"synth": "timidity", "font": "freepats",
                "program": int(rng.choice(UNSEEN_PROGRAMS)), **spec}
    font = str(rng.choice(sorted(soundfonts())))
    return {"synth": "fluidsynth", "font": font, "program": int(rng.choice(PIANO_PROGRAMS)),
            **spec}


def performance_midi(perf: Performance, program: int = 0, detune_cents: float = 0.0):
    """A ``pretty_midi.PrettyMIDI`` of a performance: key releases, sustain pedal (CC 64),
    and the detuning as a pitch bend (range +-2 semitones) before the first note."""
    import pretty_midi

    from speechzoo.music import notes_to_midi

    midi = notes_to_midi(perf.notes, program)
    piano = midi.instruments[0]
    for down, up in perf.pedal:
        piano.control_changes += [pretty_midi.ControlChange(SUSTAIN_CC, 127, float(down)),
                                  pretty_midi.ControlChange(SUSTAIN_CC, 0, float(up))]
    if detune_cents:
        piano.pitch_bends.append(pretty_midi.PitchBend(int(detune_cents / 200 * 8191), 0.0))
    return midi


def _synth_command(spec: dict, midi: Path, wav: Path) -> list[str]:
    reverb = spec["reverb"]
    if spec["synth"] == "timidity":
        # -c adds freepats' piano over the system's defaults; only its programs are used.
        return ["timidity", "-c", str(FREEPATS_CFG), "--preserve-silence", "-Ow", "-o",
                str(wav), "-s", str(RENDER_RATE), "-A", "50",
                "-EFreverb=" + (f"f,{int(reverb['level'] * 127)}" if reverb else "d"),
                "-EFchorus=d", str(midi)]
    options = ["-o", "audio.file.format=float", "-o", "synth.polyphony=1024"]
    if reverb:
        options += ["-o", f"synth.reverb.room-size={reverb['room']}", "-o",
                    f"synth.reverb.level={reverb['level']}", "-o",
                    f"synth.reverb.damp={reverb['damp']}"]
    return ["fluidsynth", "-ni", "-q", "-F", str(wav), "-r", str(RENDER_RATE), "-C", "0",
            "-R", "1" if reverb else "0", "-g", "0.5", *options,
            str(soundfonts()[spec["font"]]), str(midi)]


def render(perf: Performance, spec: dict, out: Path) -> float:
    """Synthesise ``perf`` with renderer ``spec`` (:func:`draw_renderer`) into the 16 kHz
    mono 16-bit FLAC ``out``; returns its duration in seconds."""
    with tempfile.TemporaryDirectory(prefix="synth-piano-") as tmp:
        midi, wav = Path(tmp) / "in.mid", Path(tmp) / "out.wav"
        performance_midi(perf, spec["program"], spec["detune_cents"]).write(str(midi))
        run = subprocess.run(_synth_command(spec, midi, wav), capture_output=True, text=True,
                             timeout=900, stdin=subprocess.DEVNULL)
        if run.returncode != 0 or not wav.is_file():
            raise DataError(f"{spec['synth']} failed ({run.returncode}) rendering {out.name}: "
                            f"{(run.stderr or run.stdout).strip()[-500:]}")
        data, rate = sf.read(wav, dtype="float32", always_2d=True)
    audio = resample(data.mean(axis=1), rate, SAMPLE_RATE)
    audio *= spec["peak"] / max(float(np.abs(audio).max()), 1e-6)
    sf.write(out, audio, SAMPLE_RATE, subtype="PCM_16")
    return math.floor(len(audio) / SAMPLE_RATE * 1000) / 1000


def windows(duration: float, rng: np.random.Generator,
            clip_seconds: tuple[float, float]) -> list[tuple[float, float]]:
    """Consecutive (offset, duration) windows covering ``duration`` seconds, each drawn from
    ``clip_seconds``; a remainder shorter than half the shortest joins the last window."""
    out, start = [], 0.0
    while start < duration:
        length = min(round(float(rng.uniform(*clip_seconds)), 3), duration - start)
        if out and length < clip_seconds[0] / 2:
            out[-1] = (out[-1][0], round(duration - out[-1][0], 3))
            break
        out.append((round(start, 3), round(length, 3)))
        start += length
    return out


@dataclass(frozen=True)
class Job:
    """One piece to make: a music21 ``work`` (None: a generated one) for ``split``."""

    split: str
    index: int
    work: str | None
    seed: int
    folder: str
    max_seconds: float
    clip_seconds: tuple[float, float]

    @property
    def piece(self) -> str:
        return self.work.rsplit(".", 1)[0] if self.work else f"generated/{self.index:04d}"


def make_piece(job: Job) -> dict:
    """Perform, label and render one piece into ``job.folder``; returns ``{"entries":
    [(split, manifest entry), ...]}``, or ``{"skipped": why}`` for a score music21 cannot
    read or that holds no piano notes."""
    rng = np.random.default_rng(random.Random(f"{job.seed}:{job.piece}").getrandbits(64))
    try:
        perf = (perform(*score_events(job.work), rng, job.max_seconds) if job.work
                else generated_piece(rng, job.max_seconds))
    except Exception as e:  # music21 raises many kinds on odd scores; the piece is skipped
        return {"skipped": f"{job.piece}: {type(e).__name__}: {e}"[:300]}
    if not len(perf.notes):
        return {"skipped": f"{job.piece}: no notes in the piano's range"}
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", job.piece.replace("/", "--"))
    folder = Path(job.folder)
    midi = f"{job.split}/{slug}.mid"
    performance_midi(perf).write(str(folder / midi))
    entries = []
    renders = [(job.split, False)] + ([("test-unseen", True)] if job.split == "test" else [])
    for split, unseen in renders:
        spec = draw_renderer(rng, unseen)
        audio = f"{split}/{slug}.flac"
        duration = render(perf, spec, folder / audio)
        source = f"{spec['synth']}:{spec['font']}:program{spec['program']}" + (
            ":reverb" if spec["reverb"] else "")
        spans = ([(0.0, duration)] if split.startswith("test")
                 else windows(duration, rng, job.clip_seconds))
        entries += [(split, {"audio_filepath": audio, "duration": length, "offset": start,
                             "midi_filepath": midi, "piece": job.piece, "source": source})
                    for start, length in spans]
    return {"entries": entries}


def prepare_synth_piano(out: str | os.PathLike, seed: int = 0, pieces: int = PIECES,
                        generated: int = GENERATED, dev_pieces: int = DEV_PIECES,
                        test_pieces: int = TEST_PIECES, max_seconds: float = MAX_SECONDS,
                        clip_seconds: tuple[float, float] = (10.0, 20.0),
                        workers: int = 2) -> Path:
    """Generate the corpus into ``out`` (built beside it, then renamed); returns ``out``.

    Args:
        out: the corpus folder: ``train|dev|test|test-unseen.jsonl``, a folder of FLAC and
            MIDI files for each, and ``corpus.json`` (settings, renderers, hours, pieces).
        seed: everything (works, performance, renderers, windows) follows from it.
        pieces: music21 works in training (at most the ~1,700 there are).
        generated: generated exercise pieces (training only), ``max_seconds`` each.
        dev_pieces, test_pieces: held-out works for dev (windows) and test (whole pieces).
        max_seconds: the length of every piece (the start of longer works).
        clip_seconds: the range of train and dev window lengths.
        workers: processes that parse and render.

    Raises:
        DataError: FluidSynth, TiMidity++, freepats or a SoundFont is missing (saying what to
            install), or the music21 corpus holds too few works.
    """
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} already exists; remove it to generate the corpus again")
    check_tools()
    started = time.monotonic()
    works = choose_works(music21_works(), seed, pieces, dev_pieces, test_pieces)
    with atomic_dir(out) as tmp:
        for split in SPLITS:
            (tmp / split).mkdir()
        jobs = [Job(split, i, work, seed, str(tmp), max_seconds, tuple(clip_seconds))
                for split in ("test", "dev", "train") for i, work in enumerate(works[split])]
        jobs += [Job("train", i, None, seed, str(tmp), max_seconds, tuple(clip_seconds))
                 for i in range(generated)]
        rows: dict[str, list[dict]] = {split: [] for split in SPLITS}
        skipped = []
        # Spawned, not forked: a fork of a process whose torch threads have run (a training
        # run, a test session) can deadlock in the resampler.
        with ProcessPoolExecutor(max(1, workers), multiprocessing.get_context("spawn")) as pool, \
                tqdm(total=len(jobs), desc="synth-piano", unit="piece") as bar:
            for result in pool.map(make_piece, jobs):
                for split, entry in result.get("entries", []):
                    rows[split].append(entry)
                if "skipped" in result:
                    skipped.append(result["skipped"])
                bar.update()
        for split in SPLITS:
            if not rows[split]:
                raise DataError(f"synth-piano: no {split} pieces could be made ({skipped[:3]})")
            write_manifest(tmp / f"{split}.jsonl", rows[split])
        _write_summary(tmp / "corpus.json", rows, skipped, time.monotonic() - started,
                       dict(seed=seed, pieces=pieces, generated=generated,
                            dev_pieces=dev_pieces, test_pieces=test_pieces,
                            max_seconds=max_seconds, clip_seconds=list(clip_seconds)))
    return out


def _write_summary(path: Path, rows: dict[str, list[dict]], skipped: list[str],
                   seconds: float, settings: dict) -> None:
    fluid = subprocess.run(["fluidsynth", "--version"], capture_output=True, text=True,
                           stdin=subprocess.DEVNULL).stdout.splitlines()
    splits = {split: {"hours": round(sum(e["duration"] for e in entries) / 3600, 3),
                      "pieces": len({e["piece"] for e in entries}),
                      "generated_pieces": len({e["piece"] for e in entries
                                               if e["piece"].startswith("generated/")}),
                      "entries": len(entries),
                      "sources": sorted({e["source"] for e in entries})}
              for split, entries in rows.items()}
    summary = {"corpus": "synth-piano", "settings": settings, "splits": splits,
               "renderers": {"train, dev, test": {
                   "synth": (fluid or ["fluidsynth"])[0], "render_rate": RENDER_RATE,
                   "soundfonts": {k: str(v) for k, v in soundfonts().items()},
                   "programs": sorted(set(PIANO_PROGRAMS))},
                   "test-unseen": {"synth": "timidity", "config": str(FREEPATS_CFG),
                                   "programs": list(UNSEEN_PROGRAMS)}},
               "reserved_works": list(RESERVED_WORKS), "skipped": skipped,
               "generation_seconds": round(seconds, 1)}
    path.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")


def prepare(source: None, out: str | os.PathLike, pieces: int = PIECES,
            workers: int = 2) -> Path:
    """The corpus registry's entry point (``speechzoo prepare synth-piano [--pieces N]``)."""
    return prepare_synth_piano(out, pieces=pieces, workers=workers)
