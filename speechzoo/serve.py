"""``speechzoo serve``: speech recognition and synthesis over HTTP for many users at once.

Deep Speech 2's Batch Dispatch (arXiv 1512.02595, section 7.1): a server answers many users
at low latency by batching the requests that arrive together and running them as one batch.
That is LitServe's dynamic batching (``max_batch_size``, ``batch_timeout``): a worker takes up
to ``max_batch_size`` queued requests, waiting at most ``batch_timeout`` seconds for more. The
recogniser is padding-invariant, so a request's answer does not depend on what it was
batched with (``tests/test_serve.py`` checks this against direct API calls).

Endpoints (``127.0.0.1:8000`` by default)::

    POST /transcribe   multipart form: audio=<a WAV/FLAC/OGG/MP3 file>, decoder=greedy|beam
                       -> {"text": "...", "duration": s, "words": [{"text", "start", "end"}]}
    POST /synthesize   JSON {"text": "...", "pace": 1.0, "seed": 0} -> audio/wav (16-bit PCM)
    GET  /health       "ok" once the models are loaded

A transcription's response header ``X-Speechzoo-Batch`` says how many requests it ran with.

    curl -F audio=@a.wav http://127.0.0.1:8000/transcribe
    curl -d '{"text": "Hello world."}' http://127.0.0.1:8000/synthesize -o hello.wav

A bad request (no audio, not audio, too long, empty or too much text, a body over the size
limit, the wrong content type) is answered 4xx with ``{"error": "..."}``. Requests are checked
in the HTTP process, before they reach a model worker, so a bad one never fails a batch of
good ones. SIGTERM shuts down cleanly: in-flight requests finish, then the workers stop.
"""

# No ``from __future__ import annotations``: LitServe and FastAPI read the request types
# from ``decode_request``'s annotation at run time.

import http.client
import io
import json
import logging
import os
import signal
import urllib.parse
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import litserve as ls
import numpy as np
import soundfile as sf
from fastapi import Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator
from pydantic_core import PydanticCustomError
from starlette.exceptions import HTTPException as StarletteHTTPException

from speechzoo.errors import ConfigError, SpeechZooError
from speechzoo.results import Audio


@dataclass
class Limits:
    """What one request may ask for. Set by :func:`serve` before the HTTP processes fork."""

    max_body_mb: float = 50.0
    max_audio_seconds: float = 60.0
    max_characters: int = 1000


LIMITS = Limits()
BATCH_HEADER = "X-Speechzoo-Batch"  # how many requests a transcription was batched with

# Validation error type -> HTTP status (everything else is a malformed request: 400).
_STATUS = {"too_large": 413, "unsupported_media_type": 415}
_CONTENT_TYPES = {"/transcribe": ("multipart/form-data", "a multipart form with the audio "
                                  "file in the field 'audio' (curl -F audio=@a.wav URL)"),
                  "/synthesize": ("application/json", 'JSON such as {"text": "Hello."}')}


class TranscribeForm(BaseModel):
    """A ``/transcribe`` request, decoded and checked in the HTTP process: the audio file's
    samples (``(samples,)`` float32, channels mixed) replace the upload."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    audio: UploadFile | None = None
    decoder: Literal["greedy", "beam"] = "greedy"
    _waveform: np.ndarray = PrivateAttr(default_factory=lambda: np.zeros(0, np.float32))
    _sample_rate: int = PrivateAttr(default=0)

    @model_validator(mode="after")
    def _read(self) -> "TranscribeForm":
        if self.audio is None:
            raise PydanticCustomError("missing_audio", "no audio: send the file in the form "
                                      "field 'audio' (curl -F audio=@a.wav URL)")
        data = self.audio.file.read()
        self._waveform, self._sample_rate = decode_audio(data, LIMITS.max_audio_seconds)
        self.audio = None  # the upload's temporary file cannot travel to the worker
        return self


class SynthesizeRequest(BaseModel):
    """A ``/synthesize`` request: the text, its speaking rate and the dropout's seed."""

    model_config = ConfigDict(extra="forbid")
    text: str
    pace: float = Field(1.0, ge=0.1, le=10.0)
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> "SynthesizeRequest":
        if not self.text.strip():
            raise PydanticCustomError("empty_text", 'no text to speak: send {"text": "Hello."}')
        if len(self.text) > LIMITS.max_characters:
            raise PydanticCustomError("too_large", f"{len(self.text)} characters; this server "
                                      f"speaks at most {LIMITS.max_characters} per request "
                                      "(split the text)")
        return self


def decode_audio(data: bytes, max_seconds: float) -> tuple[np.ndarray, int]:
    """An audio file's bytes -> ((samples,) float32 mono, sample rate), or a validation error
    saying what is wrong with it (typed ``too_large`` or ``unsupported_media_type``)."""
    try:
        info = sf.info(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError, TypeError):
        raise PydanticCustomError("unsupported_media_type", "the upload is not audio that "
                                  "soundfile reads (WAV, FLAC, OGG or MP3)") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise PydanticCustomError("empty_audio", "the audio file holds no samples")
    if info.frames / info.samplerate > max_seconds:
        raise PydanticCustomError("too_large", f"{info.frames / info.samplerate:.0f} s of "
                                  f"audio; this server takes at most {max_seconds:g} s per "
                                  "request (cut it up, or transcribe it with the Python API, "
                                  "which runs long audio in windows)")
    try:
        wav, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError):
        raise PydanticCustomError("unsupported_media_type", "the audio file is damaged: "
                                  "soundfile cannot decode it") from None
    return np.ascontiguousarray(wav.mean(axis=1), dtype=np.float32), int(rate)


def _setup_torch(device: str, threads: int) -> str:
    import torch

    torch.set_num_threads(threads)
    return "cpu" if device.startswith("cpu") else device


class TranscribeAPI(ls.LitAPI):
    """``POST /transcribe``: a speech recogniser over batches of concurrent requests.

    Args:
        model: an asr bundle name or folder.
        threads: torch threads per worker.
        max_batch_size: most requests run together (1: no batching).
        batch_timeout: seconds a worker waits for a batch to fill.
    """

    def __init__(self, model: str = "ds2-en", threads: int = 1, max_batch_size: int = 16,
                 batch_timeout: float = 0.05) -> None:
        super().__init__(max_batch_size=max_batch_size, batch_timeout=batch_timeout,
                         api_path="/transcribe")
        self.model, self.threads = model, threads

    def setup(self, device: str) -> None:
        import speechzoo

        self.asr = speechzoo.load(self.model, device=_setup_torch(device, self.threads))

    def decode_request(self, request: Annotated[TranscribeForm, Form()]) -> tuple:
        from speechzoo.audio import resample

        return (resample(request._waveform, request._sample_rate, self.asr.sample_rate),
                request.decoder)

    def predict(self, x: Any) -> Any:
        """One (waveform, decoder), or a list of them when batching -> Transcript(s)."""
        items = x if self.max_batch_size > 1 else [x]
        results: list[Any] = [None] * len(items)
        for decoder in ("greedy", "beam"):
            idx = [i for i, (_, d) in enumerate(items) if d == decoder]
            if not idx:
                continue
            wavs = [items[i][0] for i in idx]
            try:
                out = self.asr.transcribe(wavs, sample_rate=self.asr.sample_rate,
                                          batch_size=len(wavs), timestamps=True,
                                          decoder=decoder, progress=False)
            except SpeechZooError as e:  # e.g. beam search on a bundle without an LM
                raise HTTPException(400, str(e)) from None
            for i, transcript in zip(idx, out, strict=True):
                results[i] = (transcript, len(items[i][0]) / self.asr.sample_rate, len(items))
        return results if self.max_batch_size > 1 else results[0]

    def encode_response(self, output: tuple) -> JSONResponse:
        transcript, seconds, batch = output
        return JSONResponse({"text": transcript.text, "duration": round(seconds, 3),
                             "words": [{"text": w.text, "start": w.start, "end": w.end}
                                       for w in transcript.words]},
                            headers={BATCH_HEADER: str(batch)})


class SynthesizeAPI(ls.LitAPI):
    """``POST /synthesize``: text to a WAV, one request at a time (a synthesis is long
    enough on its own that batching gains little).

    Args:
        model: a tts bundle name or folder.
        vocoder: its vocoder (None: the bundle's choice).
        threads: torch threads per worker.
    """

    def __init__(self, model: str = "nat-en", vocoder: str | None = None,
                 threads: int = 1) -> None:
        super().__init__(max_batch_size=1, api_path="/synthesize")
        self.model, self.vocoder, self.threads = model, vocoder, threads

    def setup(self, device: str) -> None:
        import speechzoo

        self.tts = speechzoo.load(self.model, device=_setup_torch(device, self.threads),
                                  vocoder=self.vocoder)

    def decode_request(self, request: SynthesizeRequest) -> SynthesizeRequest:
        return request

    def predict(self, request: SynthesizeRequest) -> Any:
        try:
            return self.tts.synthesize(request.text, request.pace, seed=request.seed)
        except SpeechZooError as e:  # nothing speakable, a foreign script, ...
            raise HTTPException(400, str(e)) from None

    def encode_response(self, audio: Any) -> Response:
        buffer = io.BytesIO()
        sf.write(buffer, np.clip(audio.waveform, -1.0, 1.0), audio.sample_rate, format="WAV",
                 subtype="PCM_16")
        return Response(buffer.getvalue(), media_type="audio/wav")


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """A request that failed its checks -> 4xx ``{"error": ...}`` (FastAPI's default is a
    422 with a list of pydantic errors)."""
    expected = _CONTENT_TYPES.get(request.url.path)
    content_type = request.headers.get("content-type", "")
    if expected and not content_type.startswith(expected[0]):
        return JSONResponse({"error": f"Content-Type {content_type or 'missing'}: send "
                             f"{expected[1]}"}, status_code=415)
    errors = exc.errors()
    first = errors[0] if errors else {"type": "", "msg": "malformed request", "loc": ()}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    if first["type"] == "json_invalid":
        error = first.get("ctx", {}).get("error", "")
        where, first["msg"] = "", f"the body is not valid JSON ({error})"
    message = f"{where}: {first['msg']}" if where and first["type"] not in _STATUS \
        else first["msg"]
    return JSONResponse({"error": message}, status_code=_STATUS.get(first["type"], 400))


class _ContentLength:
    """ASGI middleware: a body announced larger than the limit is refused (413) before it is
    read, whatever its type. (LitServe's ``max_payload_size`` also stops an unannounced,
    chunked one once it has read past the limit.)"""

    def __init__(self, app: Any, max_size: int) -> None:
        self.app, self.max_size = app, max_size

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length", b"0")
            if length.isdigit() and int(length) > self.max_size:
                response = JSONResponse({"error": f"the body is {int(length) / 2**20:.1f} MB; "
                                         f"this server takes at most "
                                         f"{self.max_size / 2**20:g} MB"}, status_code=413)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))


def make_server(asr: str | None = "ds2-en", tts: str | None = "nat-en",
                vocoder: str | None = None, max_batch_size: int = 16,
                batch_timeout: float = 0.05, threads: int = 1, device: str = "cpu",
                limits: Limits | None = None, timeout: float = 60.0) -> ls.LitServer:
    """A LitServer with ``/transcribe`` (if ``asr``) and ``/synthesize`` (if ``tts``).

    Args:
        asr, tts, vocoder: the bundles served (None: no such endpoint).
        max_batch_size, batch_timeout: the recogniser's dynamic batching.
        threads: torch threads per model worker.
        device: ``cpu``, ``cuda`` or ``auto``.
        limits: what one request may ask for.
        timeout: seconds a request may wait before a 504.
    """
    from speechzoo.checkpoints import bundle_tasks, find_bundle, read_checkpoint

    apis: list[ls.LitAPI] = []
    for name, task, make in ((asr, "asr", lambda: TranscribeAPI(asr, threads, max_batch_size,
                                                                  batch_timeout)),
                             (tts, "tts", lambda: SynthesizeAPI(tts, vocoder, threads))):
        if name is None:
            continue
        found = bundle_tasks().get(name) or read_checkpoint(find_bundle(name))["speechzoo"]["task"]
        if found != task:
            raise ConfigError(f"{name!r} is a {found!r} bundle; the server needs an {task!r} one")
        apis.append(make())
    if not apis:
        raise ConfigError("nothing to serve: give an asr bundle, a tts bundle or both")
    global LIMITS
    LIMITS = limits or Limits()
    max_size = int(LIMITS.max_body_mb * 2**20)
    server = ls.LitServer(apis, accelerator=device, timeout=timeout, max_payload_size=max_size,
                          middlewares=[(_ContentLength, {"max_size": max_size})],
                          disable_openapi_url=True, model_metadata={"asr": asr, "tts": tts})
    server.app.add_exception_handler(RequestValidationError, _validation_error)
    server.app.add_exception_handler(StarletteHTTPException, _http_error)
    return server


_MAIN_PID = 0


def _stop(signum: int, frame: Any) -> None:
    # LitServe shuts down cleanly on KeyboardInterrupt (its workers terminated and joined,
    # uvicorn letting in-flight requests finish); SIGTERM (docker stop, systemd,
    # Kubernetes) otherwise kills only the main process and orphans them. The forked HTTP
    # process inherits this handler, and uvicorn calls it once it has shut down: exit quietly.
    if os.getpid() != _MAIN_PID:
        raise SystemExit(0)
    raise KeyboardInterrupt


def serve(host: str = "127.0.0.1", port: int = 8000, log_level: str = "info",
          **options: Any) -> None:
    """Run the server until SIGINT or SIGTERM. ``options``: :func:`make_server`'s."""
    server = make_server(**options)
    logging.getLogger("litserve").setLevel(log_level.upper())
    global _MAIN_PID
    _MAIN_PID = os.getpid()
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        server.run(host=host, port=port, log_level=log_level, generate_client_file=False,
                   num_api_servers=1)
    finally:
        signal.signal(signal.SIGTERM, previous)


class ServerError(SpeechZooError):
    """A request the server refused: ``status`` (4xx, 5xx) and its ``{"error"}`` message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status, self.message = status, message


class Client:
    """A small client of the server (standard library only). It keeps one connection open,
    so give each thread its own.

    Args:
        url: the server, e.g. ``http://127.0.0.1:8000``.
        timeout: seconds to wait for an answer.
    """

    def __init__(self, url: str = "http://127.0.0.1:8000", timeout: float = 60.0) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str | None = None) -> tuple[int, dict[str, str], bytes]:
        """(status, headers (lower-case names), body) of one request; reconnects once if the
        server closed the kept-alive connection."""
        headers = {"Content-Type": content_type} if content_type else {}
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port,
                                                        timeout=self.timeout)
            try:
                self._conn.request(method, path, body, headers)
                response = self._conn.getresponse()
                return (response.status, {k.lower(): v for k, v in response.getheaders()},
                        response.read())
            except (ConnectionError, http.client.RemoteDisconnected):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _ok(self, status: int, body: bytes) -> None:
        if status >= 400:
            try:
                message = json.loads(body)["error"]
            except (ValueError, KeyError, TypeError):
                message = body.decode(errors="replace")
            raise ServerError(status, message)

    def transcribe(self, audio: bytes | str | os.PathLike, decoder: str = "greedy") -> dict:
        """An audio file (its bytes or path) -> ``{"text", "duration", "words"}``."""
        data = audio if isinstance(audio, bytes) else Path(audio).read_bytes()
        boundary = uuid.uuid4().hex
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="decoder"\r\n\r\n'
                f'{decoder}\r\n--{boundary}\r\nContent-Disposition: form-data; name="audio"; '
                f'filename="audio"\r\nContent-Type: application/octet-stream\r\n\r\n'
                ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
        status, headers, out = self.request("POST", "/transcribe", body,
                                            f"multipart/form-data; boundary={boundary}")
        self._ok(status, out)
        return {**json.loads(out), "batch": int(headers.get(BATCH_HEADER.lower(), 1))}

    def synthesize(self, text: str, pace: float = 1.0, seed: int = 0) -> Audio:
        """Text -> the server's :class:`~speechzoo.results.Audio`."""
        body = json.dumps({"text": text, "pace": pace, "seed": seed}).encode()
        status, _, out = self.request("POST", "/synthesize", body, "application/json")
        self._ok(status, out)
        wav, rate = sf.read(io.BytesIO(out), dtype="float32")
        return Audio(wav, int(rate))

    def health(self) -> bool:
        """Whether the server is up with its models loaded."""
        try:
            return self.request("GET", "/health")[0] == 200
        except OSError:
            self.close()
            return False

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
