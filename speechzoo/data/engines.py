"""Offline speech engines other than eSpeak NG, each run as a program of its own.

Each adapter speaks a batch of :class:`Utterance` s into wav files through the engine's
command-line program: RHVoice (``RHVoice-test``), SVOX Pico (``pico2wave``), festival's
diphone voices (one ``festival -b`` script per batch: its start-up costs more than a
sentence) and MBROLA voices driven by eSpeak NG (``espeak-ng -v mb-...``). Running programs
keeps the engines' licences apart from speechzoo's and lets a missing engine be skipped.

Reserved to measure recognisers independently, and so never offered here: flite and its
voices, festival's HTS voices (kal, ked, slt) and Piper.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from speechzoo.errors import DataError

APT_SOURCE = ("sed -i 's/^Components: main$/Components: main contrib non-free/' "
              "/etc/apt/sources.list.d/debian.sources && apt-get update")


@dataclass(frozen=True)
class Utterance:
    """One sentence to speak: ``rate`` and ``pitch`` are relative (1.0: the voice's own);
    an engine without a pitch control ignores ``pitch``."""

    text: str
    voice: str
    rate: float
    pitch: float
    path: Path


def _run(command: Sequence[str], text: str | None, what: str) -> None:
    result = subprocess.run(command, input=text, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise DataError(f"{what} failed (exit {result.returncode}): "
                        f"{result.stderr.strip()[-300:] or result.stdout.strip()[-300:]}")


def _rhvoice(batch: Sequence[Utterance]) -> None:
    for u in batch:
        _run(["RHVoice-test", "-p", u.voice, "-r", str(round(100 * u.rate)),
              "-t", str(round(100 * u.pitch)), "-o", str(u.path)], u.text, "RHVoice-test")


def _pico(batch: Sequence[Utterance]) -> None:
    for u in batch:
        # pico2wave reads SSML-like <speed>/<pitch> levels (percent); its own markup only
        text = u.text.replace("<", " ").replace(">", " ")
        markup = (f'<speed level="{round(100 * u.rate)}"><pitch level="{round(100 * u.pitch)}">'
                  f"{text}</pitch></speed>")
        _run(["pico2wave", "-l", u.voice, "-w", str(u.path), markup], None, "pico2wave")


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", " ").replace('"', " ") + '"'


def _festival(batch: Sequence[Utterance]) -> None:
    lines = []
    for u in batch:
        # Duration_Stretch lengthens every segment: a slower voice is a larger stretch
        lines += [f"(voice_{u.voice})", f"(Parameter.set 'Duration_Stretch {1 / u.rate:.3f})",
                  f"(utt.save.wave (utt.synth (Utterance Text {_scheme_string(u.text)})) "
                  f"{_scheme_string(str(u.path))} 'riff)"]
    with tempfile.NamedTemporaryFile("w", suffix=".scm") as script:
        script.write("\n".join(lines) + "\n")
        script.flush()
        _run(["festival", "-b", script.name], None, "festival")


def _mbrola(batch: Sequence[Utterance]) -> None:
    for u in batch:
        _run(["espeak-ng", "-v", u.voice, "-s", str(round(170 * u.rate)),
              "-p", str(round(min(99, 50 * u.pitch))), "-w", str(u.path), "--stdin"],
             u.text, "espeak-ng (MBROLA)")


@dataclass(frozen=True)
class Engine:
    """An engine and its voices.

    Attributes:
        name: as in a corpus' ``engines`` option and in manifests (``speaker``
            ``"<engine>:<voice>"``).
        voices: its English voices.
        packages: the Debian packages that provide it.
        licence: of the voices (what a user must know before using the audio).
        default: used unless a corpus is asked otherwise (MBROLA's licence restricts
            commercial use, so it is opt-in).
        program: the executable that must be on PATH.
        voice_file: voice -> a file or folder that must exist for it.
        speak: speaks a batch of utterances into their paths.
    """

    name: str
    voices: tuple[str, ...]
    packages: tuple[str, ...]
    licence: str
    default: bool
    program: str
    voice_file: Callable[[str], str]
    speak: Callable[[Sequence[Utterance]], None]

    def missing(self) -> str | None:
        """Why the engine cannot run here (with what to install), or None if it can."""
        install = f"apt-get install {' '.join(self.packages)}"
        if shutil.which(self.program) is None:
            return f"{self.program} is not installed ({install}; non-free/contrib: {APT_SOURCE})"
        absent = [v for v in self.voices if not Path(self.voice_file(v)).exists()]
        if absent:
            return f"voice(s) {', '.join(absent)} not installed ({install})"
        return None


ENGINES: dict[str, Engine] = {e.name: e for e in (
    Engine("rhvoice", ("alan", "bdl", "clb", "slt", "evgeniy-eng", "lyubov"),
           ("rhvoice", "rhvoice-english"), "LGPL-2.1 (Debian non-free: voice data terms vary)",
           True, "RHVoice-test",
           lambda v: f"/usr/share/RHVoice/voices/{v}", _rhvoice),
    Engine("pico", ("en-US", "en-GB"), ("libttspico-utils",), "Apache-2.0 (Debian non-free)",
           True, "pico2wave",
           lambda v: f"/usr/share/pico/lang/{v}_ta.bin", _pico),
    Engine("festival", ("rab_diphone", "don_diphone"),
           ("festival", "festvox-rablpc16k", "festvox-don"), "festival/festvox licence "
           "(free, Debian contrib)", True, "festival",
           lambda v: f"/usr/share/festival/voices/english/{v}", _festival),
    Engine("mbrola", ("mb-us1", "mb-us2", "mb-us3", "mb-en1"),
           ("espeak-ng", "mbrola", "mbrola-us1", "mbrola-us2", "mbrola-us3", "mbrola-en1"),
           "MBROLA voices: non-commercial, non-military use only (Debian non-free)", False,
           "espeak-ng",
           lambda v: f"/usr/share/mbrola/{v.removeprefix('mb-')}", _mbrola),
)}


def get_engine(name: str) -> Engine:
    if name not in ENGINES:
        raise DataError(f"unknown speech engine {name!r}; known: {sorted(ENGINES)}")
    return ENGINES[name]
