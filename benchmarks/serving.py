"""Serving benchmark: concurrent users against ``speechzoo serve``, batching on and off.

Deep Speech 2's Batch Dispatch (arXiv 1512.02595, section 7.1) batches the requests of many
users on the fly. This starts the server (``/transcribe`` only, ``ds2-en``, one model worker
on ONE torch thread, as the project measures speed) in a subprocess on a free port of
127.0.0.1, twice: with dynamic batching (``--max-batch-size 16 --batch-timeout 0.05``) and
without (``--max-batch-size 1``). For each number of concurrent clients (threads, each with
its own kept-alive connection) it sends a fixed number of requests (eSpeak NG utterances of
2-2.6 s, made here), stopping early at a time cap, and reports throughput (seconds of audio
transcribed per second of wall time) and p50/p95/p99 latency. Every response is checked
against a direct API call (``asr.transcribe(..., timestamps=True)`` in this process): text
and word times must be equal, none may be missing or mixed up. For the ceiling batching
can reach on this machine, it also times the recogniser alone in this process (one thread) on
batches of 1 and of ``--max-batch-size`` utterances (``model_only``).

Writes ``benchmarks/results/serving.json`` and prints a table.
  python benchmarks/serving.py            # 1, 4, 16, 64 clients (a few minutes)
  python benchmarks/serving.py --bounded  # 1 and 4 clients, 8 requests each (CI, < 1 min)
"""

from __future__ import annotations

import argparse
import datetime
import io
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from asr import machine, save_results  # benchmarks/asr.py, beside this script

import speechzoo
import speechzoo.pipelines.asr
from speechzoo.audio import resample
from speechzoo.serve import Client
from speechzoo.text.espeak import synthesize

SENTENCES = [
    "the quick brown fox jumps over the lazy dog",
    "she sells sea shells by the sea shore",
    "a large number of people came to see the new bridge",
    "please call me back when you have a moment",
    "the weather will be warm and sunny this afternoon",
    "he put the book on the table and left the room",
    "we need more time to finish the work",
    "the children were playing in the garden after school",
]
VOICES = ["en-us", "en-us+f3", "en-us+m3", "en-us+f2"]


def utterances(asr: speechzoo.pipelines.asr.SpeechRecognizer,
               count: int) -> list[tuple[bytes, float, dict]]:
    """(a 16-bit WAV file's bytes, seconds, the direct API's answer) per utterance."""
    out = []
    for i in range(count):
        speech = synthesize(SENTENCES[i % len(SENTENCES)], VOICES[i % len(VOICES)])
        buffer = io.BytesIO()
        sf.write(buffer, speech.waveform, speech.sample_rate, format="WAV", subtype="PCM_16")
        wav, rate = sf.read(io.BytesIO(buffer.getvalue()), dtype="float32")
        t = asr.transcribe(wav, sample_rate=rate, timestamps=True)
        expected = {"text": t.text, "words": [[w.text, w.start, w.end] for w in t.words]}
        out.append((buffer.getvalue(), len(wav) / rate, expected))
    return out


def model_only(asr: speechzoo.pipelines.asr.SpeechRecognizer,
               items: list[tuple[bytes, float, dict]], batch: int, repeats: int = 3) -> dict:
    """The ceiling batching can reach here: audio s/s of the recogniser alone, in this
    process, on ``batch``-sized batches of the utterances (median of ``repeats``)."""
    wavs = [sf.read(io.BytesIO(data), dtype="float32") for data, _, _ in items] * 2
    wavs16 = [resample(w, r, asr.sample_rate) for w, r in wavs]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        asr.transcribe(wavs16, sample_rate=asr.sample_rate, batch_size=batch, timestamps=True)
        times.append(time.perf_counter() - t0)
    seconds = sum(len(w) for w in wavs16) / asr.sample_rate
    return {"batch_size": batch, "throughput_audio_s_per_s": round(seconds / np.median(times),
                                                                     2)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, max_batch_size: int, batch_timeout: float,
                 wait: float = 180.0) -> subprocess.Popen:
    """``speechzoo serve`` (ASR only) in a subprocess, returned once ``/health`` answers."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "speechzoo.cli", "serve", "--port", str(port), "--tts", "none",
         "--device", "cpu", "--threads", "1", "--max-batch-size", str(max_batch_size),
         "--batch-timeout", str(batch_timeout), "--log-level", "warning"])
    client, deadline = Client(f"http://127.0.0.1:{port}"), time.monotonic() + wait
    while not client.health():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the server did not start (exit status {proc.poll()})")
        time.sleep(0.2)
    client.close()
    return proc


def stop_server(proc: subprocess.Popen) -> int:
    """SIGTERM, as a service manager sends; the exit status (0: a clean shutdown)."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def run_clients(url: str, clients: int, requests: int, cap: float,
                items: list[tuple[bytes, float, dict]]) -> dict:
    """``clients`` threads share ``requests`` requests (utterances in turn); none starts after
    ``cap`` seconds. Each answer is checked against the direct API call."""
    lock, next_index = threading.Lock(), [0]
    records: list[tuple[float, float, int]] = []  # (latency, audio seconds, batch)
    failures: list[str] = []
    start = time.perf_counter()

    def client() -> None:
        c = Client(url, timeout=120)
        while True:
            with lock:
                i = next_index[0]
                if i >= requests or time.perf_counter() - start > cap:
                    break
                next_index[0] += 1
            data, seconds, expected = items[i % len(items)]
            t0 = time.perf_counter()
            try:
                got = c.transcribe(data)
            except Exception as e:  # every failure is counted, none dropped
                failures.append(f"request {i}: {e}")
                continue
            latency = time.perf_counter() - t0
            words = [[w["text"], w["start"], w["end"]] for w in got["words"]]
            if got["text"] != expected["text"] or words != expected["words"]:
                failures.append(f"request {i}: {got['text']!r} != {expected['text']!r}")
                continue
            with lock:
                records.append((latency, seconds, got["batch"]))
        c.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    lat = np.array([r[0] for r in records]) if records else np.zeros(1)
    return {"clients": clients, "requests": requests, "sent": next_index[0],
            "answered_correctly": len(records), "failures": len(failures),
            "failure_examples": failures[:3], "wall_s": round(wall, 3),
            "audio_s": round(sum(r[1] for r in records), 3),
            "throughput_audio_s_per_s": round(sum(r[1] for r in records) / wall, 2),
            "requests_per_s": round(len(records) / wall, 2),
            "latency_p50_s": round(float(np.percentile(lat, 50)), 4),
            "latency_p95_s": round(float(np.percentile(lat, 95)), 4),
            "latency_p99_s": round(float(np.percentile(lat, 99)), 4),
            "mean_batch": round(float(np.mean([r[2] for r in records])), 2) if records else 0}


def measure(mode: str, max_batch_size: int, args: argparse.Namespace,
            items: list[tuple[bytes, float, dict]]) -> list[dict]:
    port = free_port()
    proc = start_server(port, max_batch_size, args.batch_timeout)
    url = f"http://127.0.0.1:{port}"
    try:
        run_clients(url, 2, 4, args.cap, items)  # warm-up: first calls are slower
        rows = []
        for clients in args.clients:
            requests = max(args.min_requests, args.requests_per_client * clients)
            row = {"mode": mode, "max_batch_size": max_batch_size,
                   **run_clients(url, clients, requests, args.cap, items)}
            print(f"{mode:9s} {clients:3d} clients: {row['throughput_audio_s_per_s']:7.2f} "
                  f"audio s/s, p50 {row['latency_p50_s']:.3f} s, p95 {row['latency_p95_s']:.3f} "
                  f"s, p99 {row['latency_p99_s']:.3f} s, mean batch {row['mean_batch']:.1f}, "
                  f"{row['answered_correctly']}/{row['sent']} correct", flush=True)
            rows.append(row)
    finally:
        status = stop_server(proc)
    for row in rows:
        row["server_exit_status"] = status
    return rows


def summary(rows: list[dict], clients: int) -> dict:
    by = {(r["mode"], r["clients"]): r for r in rows}
    on, off = by.get(("batching", clients)), by.get(("single", clients))
    if not on or not off:
        return {}
    speedup = on["throughput_audio_s_per_s"] / max(off["throughput_audio_s_per_s"], 1e-9)
    return {"clients": clients, "throughput_ratio": round(speedup, 2),
            "p95_batching_s": on["latency_p95_s"], "target": "ratio >= 3 at p95 < 2 s",
            "met": bool(speedup >= 3 and on["latency_p95_s"] < 2.0)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bounded", action="store_true", help="quick: 1 and 4 clients, 8 requests")
    p.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16, 64])
    p.add_argument("--requests-per-client", type=int, default=8)
    p.add_argument("--min-requests", type=int, default=64)
    p.add_argument("--cap", type=float, default=60.0, help="seconds per measurement")
    p.add_argument("--max-batch-size", type=int, default=16)
    p.add_argument("--batch-timeout", type=float, default=0.05)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "serving.json")
    args = p.parse_args()
    if args.bounded:
        args.clients, args.requests_per_client, args.min_requests, args.cap = [1, 4], 2, 8, 15.0
    torch.set_num_threads(1)
    asr = speechzoo.load("ds2-en", device="cpu")
    items = utterances(asr, 4 if args.bounded else 8)
    ceiling = [model_only(asr, items, b, 1 if args.bounded else 3)
               for b in (1, args.max_batch_size)]
    print("model alone, 1 thread: " + ", ".join(
        f"batch {c['batch_size']}: {c['throughput_audio_s_per_s']} audio s/s" for c in ceiling))
    rows = measure("batching", args.max_batch_size, args, items) + \
        measure("single", 1, args, items)
    res = {"benchmark": "serving", "date": datetime.date.today().isoformat(),
           "torch": torch.__version__, "machine": machine(), "model": "ds2-en",
           "server": {"framework": "litserve", "endpoint": "/transcribe", "workers": 1,
                      "torch_threads_per_worker": 1, "batching": {
                          "max_batch_size": args.max_batch_size,
                          "batch_timeout_s": args.batch_timeout}},
           "bounded": args.bounded, "time_cap_s": args.cap,
           "utterances": len(items), "utterance_seconds": [round(s, 2) for _, s, _ in items],
           "note": "server, HTTP process and client threads share this machine's CPU cores "
                   "(with any other job running on it)",
           "model_only": ceiling, "rows": rows, "summary": summary(rows, 16)}
    save_results(res, args.out)
    bad = sum(r["failures"] + (r["sent"] - r["answered_correctly"] - r["failures"])
              for r in rows)
    if bad or any(r["server_exit_status"] != 0 for r in rows):
        sys.exit(f"{bad} requests failed or were wrong, or a server did not stop cleanly")


if __name__ == "__main__":
    main()
