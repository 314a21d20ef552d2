"""WaveNet generation kernels side by side (``speechzoo.kernels``): samples per second and
real-time factor of every path, for the sizes of Deep Voice's and nv-wavenet's tables, against
the naive loop in the same run.

Paths: ``naive`` (the whole network recomputed over everything generated so far at each
sample: timed over the first ``--naive-samples`` samples only, where it is at its fastest),
``reference`` (``StackState.step``: one NumPy call per layer per sample), ``cpu`` (the
compiled loop of ``kernels.wavenet_cpu``) and, on a CUDA GPU, ``triton`` (the persistent
kernel of ``kernels.wavenet_triton``). Every size is a 256-way mu-law WaveNet (Deep Voice's
output) of random weights with ``kernel_size`` 2 conditioned on random mels: speed does not
depend on the weights. A batch of one utterance (what one listener waits for) and a batch of
``--batch`` (throughput per utterance). The real-time factor is at 16 kHz, Deep Voice's rate:
compute seconds per second of audio; below 1 is faster than real time.

Deep Speech 2's recurrences (``kernels.recurrent``): milliseconds per frame of one GRU or
simple-RNN layer at batch 1 (what streaming runs), over ``--frames`` frames, through the
reference (``_RecurrentLayer._step`` frame by frame), the fused recurrence of training
(``layers.recurrence``) and the kernels, at the sizes of ``ds2-en-streaming`` (GRU 256,
forward only), ``ds2-en`` (GRU 256, both ways) and the paper (GRU 1280).

On the CPU: one thread (``--threads 1``) and every thread (``--threads 0``).

  python benchmarks/kernels.py --write                      # CPU, 1 thread and all threads
  python benchmarks/kernels.py --sizes dv-small --seconds 0.5
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import time
from pathlib import Path

import torch
from asr import machine, save_results  # benchmarks/asr.py, beside this script
from threadpoolctl import threadpool_limits

from speechzoo.errors import ConfigError
from speechzoo.kernels import kernel_path
from speechzoo.models.wavenet import WaveNet

RESULTS = Path(__file__).resolve().parent / "results" / "kernels.json"
RATE = 16000  # Deep Voice's sample rate
# name: (layers, stacks, residual channels, skip channels)
SIZES = {"dv-small": (20, 2, 32, 128),   # Deep Voice's smallest real-time configuration
         "dv-64": (20, 2, 64, 128),
         "dv-paper": (40, 4, 64, 256),   # its highest-quality model: 40 layers, r 64, s 256
         "nv-wavenet-64": (20, 2, 64, 256),
         "nv-wavenet-128": (20, 2, 128, 256)}


def _model(size: str) -> WaveNet:
    layers, stacks, r, s = SIZES[size]
    torch.manual_seed(0)
    return WaveNet(layers=layers, stacks=stacks, residual_channels=r, gate_channels=2 * r,
                   skip_channels=s, output="mulaw").eval()


def _time(model: WaveNet, batch: int, samples: int, path: str) -> float:
    """Samples per second per utterance (the Triton path on the GPU, the others on the CPU)."""
    device = "cuda" if path == "triton" else "cpu"
    model = model.to(device)
    frames = -(-samples // model.hop_length)
    mel = torch.randn(batch, model.n_mels, frames, device=device)
    naive = path == "naive"
    kernel = "reference" if naive else path
    if path in ("cpu", "triton"):  # compile (or load the compiled cache) outside the timing
        model.generate(mel[:, :, :1], kernel=kernel)
    start = time.perf_counter()
    model.generate(mel, torch.Generator().manual_seed(0), naive=naive, kernel=kernel)
    if device == "cuda":
        torch.cuda.synchronize()
    return frames * model.hop_length / (time.perf_counter() - start)


def _paths() -> list[str]:
    paths = ["naive", "reference", "cpu"]
    try:
        paths.append(kernel_path("triton", "cuda"))
    except ConfigError as e:  # reported, not fatal: the CPU paths still run
        print(f"triton: skipped ({e})")
    return paths


def measure(sizes: list[str], threads: int, seconds: float, naive_samples: int,
            batch: int) -> dict:
    torch.set_num_threads(threads or os.cpu_count())
    with threadpool_limits(threads or os.cpu_count()):  # NumPy's BLAS (the reference path)
        return {size: _measure_size(size, threads, seconds, naive_samples, batch)
                for size in sizes}


def _measure_size(size: str, threads: int, seconds: float, naive_samples: int,
                  batch: int) -> dict:
    """Every path at one size; ``samples_per_s`` is per utterance (a batch of 8 at 1,000 is
    8,000 samples a second in all)."""
    model = _model(size)
    row: dict = {"layers": SIZES[size][0], "residual": SIZES[size][2],
                 "skip": SIZES[size][3]}
    for path in _paths():
        samples = naive_samples if path == "naive" else int(seconds * RATE)
        rates = {1: _time(model, 1, samples, path)}
        if path != "naive":
            rates[batch] = _time(model, batch, samples, path)
        row[path] = {f"batch{b}": {"samples_per_s": round(r, 1),
                                   "rtf_16khz": round(RATE / r, 3)}
                     for b, r in rates.items()}
        print(f"{size} {path} threads={threads or os.cpu_count()}: "
              + ", ".join(f"batch {b} {r:,.0f} samples/s" for b, r in rates.items()),
              flush=True)
    row["cpu_over_naive"] = round(row["cpu"]["batch1"]["samples_per_s"]
                                  / row["naive"]["batch1"]["samples_per_s"], 1)
    row["cpu_over_reference"] = round(row["cpu"]["batch1"]["samples_per_s"]
                                      / row["reference"]["batch1"]["samples_per_s"], 1)
    return row


RECURRENT = {"streaming-gru256": ("gru", 256, 1), "gru256-bi": ("gru", 256, 2),
             "rnn1280-bi": ("rnn", 1280, 2), "paper-gru1280-bi": ("gru", 1280, 2)}


def _recur_once(layer, pre: torch.Tensor, path: str) -> float:
    """Seconds of one pass over every frame, after a warm-up pass (and compilation)."""
    from speechzoo.kernels import recurrent
    from speechzoo.layers.recurrence import fused_recurrence

    def once() -> None:
        if path == "fused":
            fused_recurrence(pre, layer.recurrent, layer.bias, layer.cell)
        else:
            recurrent.run(layer, pre, kernel=path)

    once()
    start = time.perf_counter()
    once()
    return time.perf_counter() - start


def recurrence(threads: int, frames: int) -> dict:
    from speechzoo.models.deepspeech2 import _RecurrentLayer

    torch.set_num_threads(threads or os.cpu_count())
    out = {}
    for name, (cell, size, dirs) in RECURRENT.items():
        torch.manual_seed(0)
        layer = _RecurrentLayer(size, size, cell, dirs == 2).eval()
        pre = torch.randn(dirs, frames, 1, layer.recurrent.shape[-1])
        with torch.no_grad(), threadpool_limits(threads or os.cpu_count()):
            row = {path: round(_recur_once(layer, pre, path) / frames * 1000, 4)
                   for path in ("reference", "fused", "cpu")}
        row["cpu_over_reference"] = round(row["reference"] / row["cpu"], 1)
        print(f"recurrence {name} threads={threads or os.cpu_count()}: ms/frame {row}",
              flush=True)
        out[name] = {"cell": cell, "hidden": size, "directions": dirs, "ms_per_frame": row}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    p.add_argument("--threads", type=int, nargs="+", default=[1, 0],
                   help="torch/NumPy threads; 0 is every core (default: 1 and all)")
    p.add_argument("--seconds", type=float, default=1.0, help="audio per timing (16 kHz)")
    p.add_argument("--naive-samples", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--frames", type=int, default=200, help="frames per recurrence timing")
    p.add_argument("--write", action="store_true", help=f"write {RESULTS}")
    args = p.parse_args()
    res = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    res.update({"benchmark": "kernels", "date": datetime.date.today().isoformat(),
                "torch": torch.__version__, "machine": machine(),
                "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
                "naive_samples": args.naive_samples, "seconds": args.seconds})
    for threads in args.threads:
        res[f"cpu_threads{threads or os.cpu_count()}"] = measure(
            args.sizes, threads, args.seconds, args.naive_samples, args.batch)
        res[f"recurrence_threads{threads or os.cpu_count()}"] = recurrence(threads,
                                                                           args.frames)
    if args.write:
        save_results(res, RESULTS)


if __name__ == "__main__":
    main()
