"""`speechzoo serve`: round trips, batched == single, 4xx for bad requests, SIGTERM, and the
bounded load test. One server (ds2-en + nat-en) runs for the whole module."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("litserve", reason="the server needs `pip install speechzoo[serve]`")

import speechzoo  # noqa: E402
from speechzoo.serve import Client, ServerError  # noqa: E402
from speechzoo.text.espeak import synthesize  # noqa: E402
from tests.recipe_runs import torch_threads  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SENTENCES = ["the quick brown fox jumps over the lazy dog", "she sells sea shells",
             "please call me back when you have a moment", "we need more time",
             "the weather will be warm and sunny", "he put the book on the table"]


def _wav(text: str, voice: str = "en-us", subtype: str = "FLOAT") -> bytes:
    speech = synthesize(text, voice)
    buffer = io.BytesIO()
    sf.write(buffer, speech.waveform, speech.sample_rate, format="WAV", subtype=subtype)
    return buffer.getvalue()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "speechzoo.cli", "serve", "--port", str(port), "--device", "cpu",
         "--max-batch-size", "8", "--batch-timeout", "0.2", "--log-level", "warning",
         "--max-audio-seconds", "20", "--max-characters", "200", "--max-body-mb", "2"],
        cwd=ROOT, stderr=subprocess.PIPE, text=True)
    client, deadline = Client(f"http://127.0.0.1:{port}"), time.monotonic() + 180
    while not client.health():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.send_signal(signal.SIGTERM)
            pytest.fail(f"the server did not start: {proc.communicate(timeout=60)[1][-2000:]}")
        time.sleep(0.2)
    yield proc, f"http://127.0.0.1:{port}"
    if proc.poll() is None:  # a failed test before the SIGTERM one: stop it all the same
        proc.send_signal(signal.SIGTERM)  # SIGKILL would leave its workers behind
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def asr():
    return speechzoo.load("ds2-en", device="cpu")


def _direct(asr, data: bytes) -> dict:
    wav, rate = sf.read(io.BytesIO(data), dtype="float32")
    t = asr.transcribe(wav, sample_rate=rate, timestamps=True)
    return {"text": t.text, "words": [{"text": w.text, "start": w.start, "end": w.end}
                                      for w in t.words]}


def test_transcribe_round_trip_equals_the_api(server, asr):
    _, url = server
    data = _wav(SENTENCES[0])
    got = Client(url).transcribe(data)
    assert {k: got[k] for k in ("text", "words")} == _direct(asr, data)
    assert got["text"] and got["duration"] == pytest.approx(sf.info(io.BytesIO(data)).duration,
                                                            abs=1e-3)
    assert Client(url).transcribe(data, decoder="beam")["text"] == asr.transcribe(
        *sf.read(io.BytesIO(data), dtype="float32"), decoder="beam")


def test_synthesize_round_trip_equals_the_api(server):
    _, url = server
    audio = Client(url).synthesize("Hello world.", pace=1.2, seed=3)
    # The server's workers run one torch thread each; Griffin-Lim's iterations turn the
    # summation order of another thread count into differences of about 0.01, so match it.
    with torch_threads(1):
        direct = speechzoo.load("nat-en", device="cpu").synthesize("Hello world.", 1.2, seed=3)
    assert audio.sample_rate == direct.sample_rate
    assert audio.waveform.shape == direct.waveform.shape
    # 16-bit PCM on the wire.
    np.testing.assert_allclose(audio.waveform, np.clip(direct.waveform, -1, 1), atol=2e-3)


def test_batched_responses_equal_single_ones(server):
    _, url = server
    files = [_wav(s, v) for s, v in zip(SENTENCES, ["en-us", "en-us+f3", "en-us+m3"] * 2,
                                        strict=True)]
    single = [Client(url).transcribe(f) for f in files]
    assert all(r["batch"] == 1 for r in single)
    batched: list = [None] * len(files)
    barrier = threading.Barrier(len(files))

    def send(i: int) -> None:
        barrier.wait()
        batched[i] = Client(url).transcribe(files[i])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(files))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(r["batch"] for r in batched) > 1  # they did run together
    for one, many in zip(single, batched, strict=True):
        assert {k: one[k] for k in ("text", "words")} == {k: many[k] for k in ("text", "words")}


def _boundary_form(fields: dict[str, bytes]) -> tuple[bytes, str]:
    body = b"".join(b'--b\r\nContent-Disposition: form-data; name="' + k.encode() +
                    b'"; filename="f"\r\n\r\n' + v + b"\r\n" for k, v in fields.items())
    return body + b"--b--\r\n", "multipart/form-data; boundary=b"


def test_bad_requests_get_4xx_json_and_the_server_keeps_serving(server):
    _, url = server
    client = Client(url)
    long = io.BytesIO()
    sf.write(long, np.zeros(16000 * 25, np.float32), 16000, format="WAV")
    empty = io.BytesIO()
    sf.write(empty, np.zeros(0, np.float32), 16000, format="WAV")
    cases = [  # (method, path, body, content type, expected status)
        ("POST", "/transcribe", *_boundary_form({"audio": b"\x89PNG not audio"}), 415),
        ("POST", "/transcribe", *_boundary_form({"audio": long.getvalue()}), 413),
        ("POST", "/transcribe", *_boundary_form({"audio": empty.getvalue()}), 400),
        ("POST", "/transcribe", *_boundary_form({"other": b"x"}), 400),
        ("POST", "/transcribe", b"x" * (3 * 1024 * 1024), "application/octet-stream", 413),
        ("POST", "/transcribe", b'{"audio": "x"}', "application/json", 415),
        ("POST", "/transcribe", b"--b\r\ngarbage", "multipart/form-data; boundary=b", 400),
        ("POST", "/synthesize", b'{"text": "   "}', "application/json", 400),
        ("POST", "/synthesize", json.dumps({"text": "a" * 201}).encode(), "application/json",
         413),
        ("POST", "/synthesize", b'{"text": "hi", "pace": 50}', "application/json", 400),
        ("POST", "/synthesize", b'{"text": "hi", "volume": 2}', "application/json", 400),
        ("POST", "/synthesize", b"{not json", "application/json", 400),
        ("POST", "/synthesize", b"Hello.", "text/plain", 415),
        ("POST", "/synthesize", '{"text": "你好"}'.encode(), "application/json", 400),
        ("GET", "/transcribe", None, None, 405),
        ("GET", "/nowhere", None, None, 404),
    ]
    for method, path, body, content_type, status in cases:
        got, headers, out = client.request(method, path, body, content_type)
        assert got == status, (path, body[:40] if body else None, out)
        assert headers["content-type"] == "application/json"
        assert json.loads(out)["error"], out
    with pytest.raises(ServerError) as e:
        client.synthesize("")
    assert e.value.status == 400 and "text" in e.value.message
    assert client.health()
    assert client.transcribe(_wav(SENTENCES[3]))["text"]
    assert client.synthesize("Still here.").duration > 0.2


def test_sigterm_shuts_down_cleanly(server):
    proc, url = server
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    assert not Client(url, timeout=2).health()
    assert "Traceback" not in proc.stderr.read()


def test_bounded_load_test(tmp_path):
    out = tmp_path / "serving.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "serving.py"), "--bounded",
                    "--out", str(out)], check=True, cwd=ROOT, timeout=300)
    res = json.loads(out.read_text())
    assert {(r["mode"], r["clients"]) for r in res["rows"]} == {
        ("batching", 1), ("batching", 4), ("single", 1), ("single", 4)}
    for row in res["rows"]:
        assert row["failures"] == 0 and row["answered_correctly"] == row["sent"] > 0
        assert row["server_exit_status"] == 0
