"""Sparsity benchmark for pruned Deep Speech 2 models (Narang et al., arXiv 1704.05119).

speed: inference time of DS2's recurrent layers, dense against sparse
(``speechzoo.layers.sparse.sparsify``), on ONE thread, batch 1, eval mode, random weights
magnitude-pruned to 50, 80, 90 and 95% zeros:

* every matrix (input-to-hidden W and recurrent U) pruned weight by weight
  (``magnitude_mask(w, s)``), run in CSR (what ``layout="auto"`` runs);
* pruned in whole ``--block`` x ``--block`` blocks (``magnitude_mask(w, s, block)``, U
  direction by direction), run in CSR and in BSR.

Timed: a whole ``_RecurrentLayer`` forward (W x, sequence-wise BN, the recurrence) on
``--seconds`` of frames (20 ms each, DS2's output stride), and the per-frame recurrent product
U h + b alone; medians of ``--repeats`` runs, dense and sparse alternating so both see the
same machine load. Dense is the default fused recurrence; sparse layers run the loop
(``_step``) with the sparse product. The dense loop is timed too, for reference. Sizes:

  small       GRU, 256 units, bidirectional: recipes/ds2.yaml (ds2-en)
  paper       GRU, 1280 units, bidirectional: deepspeech2_paper() (DS2, Table 2)
  narang-rnn  simple RNN, 1760 units, bidirectional: Narang et al.'s RNN baseline
  narang-gru  GRU, 2560 units, forward only: Narang et al.'s GRU baseline

Each layer's input has ``hidden`` features (a second or later layer). Also reported: the
largest output difference between each sparse layer and its masked dense original.

quality: WER/CER (greedy) of trained models on a manifest (default: synth-en's test split),
their sparsity (zeros of the pruned matrices), bundle size, and the real-time factor of the
whole model on one thread, dense and (when it has a matrix at least half zeros) sparse. The
models compared in the README (``recipes/ds2.yaml`` fine-tuned from ds2-en for the same 600
steps: dense, DSD, gradual pruning to 80 and 90%) are named NAME=BUNDLE.

Each writes its section of ``benchmarks/results/sparsity.json`` (other sections are kept)
and prints a table.
  python benchmarks/sparsity.py speed            # full run
  python benchmarks/sparsity.py speed --quick    # smoke test (do not keep its JSON)
  python benchmarks/sparsity.py quality dense=DIR dsd=DIR gp80=DIR gp90=DIR
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from asr import machine, save_results  # benchmarks/asr.py, beside this script
from torch import nn

import speechzoo
from speechzoo.audio import load_audio
from speechzoo.data.manifest import read_manifest
from speechzoo.layers.sparse import sparsify
from speechzoo.models.deepspeech2 import _RecurrentLayer
from speechzoo.training.sparsity import magnitude_mask, prunable, sparsity_of

RESULTS = Path(__file__).resolve().parent / "results" / "sparsity.json"
FRAME_S = 0.02  # DS2's output stride: 10 ms hop, time strides 2 and 1
SIZES = {
    "small": ("gru", 256, True),
    "paper": ("gru", 1280, True),
    "narang-rnn": ("rnn", 1760, True),
    "narang-gru": ("gru", 2560, False),
}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="section", required=True)
    speed = sub.add_parser("speed", help="dense vs sparse recurrent layers, 1 thread, batch 1",
                           description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    speed.add_argument("--sizes", nargs="+", choices=list(SIZES),
                       help="layer sizes to time (default: all; --quick: small and paper)")
    speed.add_argument("--sparsities", nargs="+", type=float, default=[0.5, 0.8, 0.9, 0.95],
                       help="fractions of zeros")
    speed.add_argument("--block", type=int, default=16,
                       help="BSR block side (16 or 32; torch's 8x8 kernels are slow)")
    speed.add_argument("--seconds", type=float, default=3.0, help="audio per layer forward")
    speed.add_argument("--repeats", type=int, default=5, help="timed runs; the median is kept")
    speed.add_argument("--quick", action="store_true", help="smoke test: 0.4 s, 1 repeat")
    speed.add_argument("--out", type=Path, default=RESULTS,
                       help="JSON results file; its other sections are kept")
    quality = sub.add_parser("quality", help="WER, sparsity, size and speed of trained models")
    quality.add_argument("models", nargs="+", help="NAME=BUNDLE (a bundle folder or name)")
    quality.add_argument("--manifest", type=Path,
                         default=Path.home() / ".cache/speechzoo/synth-en/test.jsonl")
    quality.add_argument("--speed-utterances", type=int, default=50,
                         help="utterances timed for the real-time factor")
    quality.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    if args.section == "quality":
        return args
    if args.quick:
        args.seconds, args.repeats = 0.4, 1
    args.sizes = args.sizes or (["small", "paper"] if args.quick else list(SIZES))
    return args


def timer(fn: Callable[[], object], calls: int = 1) -> Callable[[], float]:
    """A function timing ``calls`` calls of ``fn``: seconds per call."""
    def run() -> float:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        return (time.perf_counter() - start) / calls
    return run


def alternate(timers: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """Median seconds of each timer, run in turns after one warm-up each."""
    for t in timers.values():
        t()
    times: dict[str, list[float]] = {k: [] for k in timers}
    for _ in range(repeats):
        for k, t in timers.items():
            times[k].append(t())
    return {k: statistics.median(v) for k, v in times.items()}


@torch.no_grad()
def prune(layer: nn.Module, sparsity: float, block: tuple[int, int] | None) -> None:
    """Magnitude-prune W and U in place (U direction by direction: a (H, G) block of U_d is
    a (G, H) block of the U_d^T that the sparse product stores)."""
    layer.input.weight.mul_(magnitude_mask(layer.input.weight, sparsity, block))
    mask = torch.stack([magnitude_mask(u, sparsity, block) for u in layer.recurrent])
    layer.recurrent.mul_(mask)


def timed(layers: dict[str, nn.Module], x: torch.Tensor, h: torch.Tensor, calls: int,
          repeats: int) -> dict[str, dict[str, float]]:
    """Median seconds of each layer's forward on x (1, T, H) ("layer") and of ``calls`` of
    its recurrent product on h (D, 1, H) ("product"), the layers alternating."""
    lengths = torch.tensor([x.shape[1]])
    return {"layer": alternate({n: timer(lambda m=m: m(x, lengths))
                                for n, m in layers.items()}, repeats),
            "product": alternate({n: timer(lambda m=m: m._recurrent_product(h), calls)
                                  for n, m in layers.items()}, repeats)}


def time_size(name: str, args: argparse.Namespace) -> list[dict]:
    """Rows for one size: the dense loop once, then each sparsity (``time_sparsity``)."""
    cell, hidden, bidirectional = SIZES[name]
    torch.manual_seed(0)
    base = _RecurrentLayer(hidden, hidden, cell, bidirectional).eval()
    frames = max(1, round(args.seconds / FRAME_S))
    x = torch.randn(1, frames, hidden)
    h = torch.randn(base.dirs, 1, hidden)
    calls = max(3, 100_000_000 // base.recurrent.numel())  # 10-30 ms per timed run
    common = {"size": name, "cell": cell, "hidden": hidden, "directions": base.dirs,
              "frames": frames, "params": sum(p.numel() for p in base.parameters())}
    loop = copy.deepcopy(base)
    loop.fused = False
    pair = timed({"fused": base, "loop": loop}, x, h, 1, args.repeats)["layer"]
    del loop
    rows = [{**common, "sparsity": 0.0, "layout": "dense-loop", "layer_ms": 1e3 * pair["loop"],
             "dense_layer_ms": 1e3 * pair["fused"]}]
    print(f"  {name}: dense fused {rows[0]['dense_layer_ms']:.1f} ms, loop "
          f"{rows[0]['layer_ms']:.1f} ms per layer forward", flush=True)
    for sparsity in args.sparsities:
        rows += time_sparsity(base, x, h, sparsity, args, calls, common)
    return rows


def time_sparsity(base: nn.Module, x: torch.Tensor, h: torch.Tensor, sparsity: float,
                  args: argparse.Namespace, calls: int, common: dict) -> list[dict]:
    """Dense vs each (pruning, layout) at one sparsity, alternating; speed-ups against
    dense."""
    block = (args.block, args.block)
    variants = {"weights/csr": (None, "csr"), "blocks/csr": (block, "csr"),
                "blocks/bsr": (block, "bsr")}
    layers, diffs = {"dense": base}, {}
    lengths = torch.tensor([x.shape[1]])
    for name, (pruned_in, layout) in variants.items():
        layer = copy.deepcopy(base)
        prune(layer, sparsity, pruned_in)
        reference = layer(x, lengths)
        sparsify(layer, min_sparsity=0.0, layout=layout)
        diffs[name] = float((layer(x, lengths) - reference).abs().max())
        layers[name] = layer
    result = timed(layers, x, h, calls, args.repeats)
    layer, product = result["layer"], result["product"]
    rows = []
    for name, (pruned_in, layout) in variants.items():
        rows.append({**common, "sparsity": sparsity, "pruning": name.split("/")[0],
                     "block": list(pruned_in) if pruned_in else None, "layout": layout,
                     "layer_ms": 1e3 * layer[name], "dense_layer_ms": 1e3 * layer["dense"],
                     "layer_speedup": layer["dense"] / layer[name],
                     "product_us": 1e6 * product[name],
                     "dense_product_us": 1e6 * product["dense"],
                     "product_speedup": product["dense"] / product[name],
                     "max_abs_diff": diffs[name]})
        r = rows[-1]
        print(f"    {sparsity:.0%} {name}: layer {r['layer_speedup']:.2f}x, product "
              f"{r['product_speedup']:.2f}x (max |diff| {r['max_abs_diff']:.1e})", flush=True)
    return rows


def print_table(section: dict) -> None:
    print(f"\nSparse vs dense DS2 recurrent layers: 1 thread, batch 1, {section['seconds']} s "
          f"({section['rows'][0]['frames']} frames), median of {section['repeats']}; "
          f"torch {section['torch']}, {section['machine']['processor']}")
    print(f"  {'size':<11}{'sparsity':>9}{'pruned/layout':>15}{'layer ms':>10}{'dense ms':>10}"
          f"{'layer x':>9}{'prod us':>10}{'dense us':>10}{'prod x':>8}{'max|d|':>9}")
    for r in section["rows"]:
        if r["layout"] == "dense-loop":
            print(f"  {r['size']:<11}{'0%':>9}{'dense loop':>15}{r['layer_ms']:>10.2f}"
                  f"{r['dense_layer_ms']:>10.2f}{r['dense_layer_ms'] / r['layer_ms']:>8.2f}x")
            continue
        kind = f"{r['pruning']}/{r['layout']}"
        print(f"  {r['size']:<11}{r['sparsity']:>9.0%}{kind:>15}{r['layer_ms']:>10.2f}"
              f"{r['dense_layer_ms']:>10.2f}{r['layer_speedup']:>8.2f}x{r['product_us']:>10.1f}"
              f"{r['dense_product_us']:>10.1f}{r['product_speedup']:>7.2f}x"
              f"{r['max_abs_diff']:>9.1e}")
    print("  x: dense time / this time (> 1: faster than dense); dense: the default fused "
          "recurrence; dense loop: the reference loop that sparse layers run;\n  pruned: "
          f"weights (unstructured) or blocks ({section['block'][0]}x{section['block'][1]})")


def speed(args: argparse.Namespace) -> dict:
    torch.set_num_threads(1)
    section = {"machine": machine(), "torch": torch.__version__, "threads": 1,
               "load_average": os.getloadavg(), "quick": args.quick, "seconds": args.seconds,
               "repeats": args.repeats, "block": [args.block] * 2,
               "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
               "rows": []}
    with torch.inference_mode():
        for name in args.sizes:
            section["rows"] += time_size(name, args)
    section["load_average_after"] = os.getloadavg()
    return section


def real_time_factor(asr, entries: list[dict]) -> float:
    """Compute seconds per second of audio, one utterance at a time (batch 1)."""
    waves = [load_audio(e["audio_filepath"], asr.sample_rate)[0] for e in entries]
    asr.transcribe(waves[0], asr.sample_rate, progress=False)  # warm-up
    start = time.perf_counter()
    for wav in waves:
        asr.transcribe(wav, asr.sample_rate, progress=False)
    return (time.perf_counter() - start) / sum(len(w) / asr.sample_rate for w in waves)


def model_quality(name: str, source: str, args: argparse.Namespace) -> dict:
    asr = speechzoo.load(source, device="cpu")
    scores = asr.evaluate(args.manifest, progress=False)
    matrices = prunable(asr.model)
    zeros = sum(int((p == 0).sum()) for p in matrices.values())
    size = sum(p.numel() for p in matrices.values())
    entries = read_manifest(args.manifest)[:args.speed_utterances]
    row = {"model": name, "bundle": str(source), "wer": scores["wer"], "cer": scores["cer"],
           "utterances": scores["utterances"],
           "sparsity": {n: sparsity_of(p) for n, p in matrices.items()},
           "sparsity_of_pruned_matrices": zeros / size,
           "nonzero_parameters": sum(int(p.count_nonzero()) for p in asr.model.parameters()),
           "parameters": sum(p.numel() for p in asr.model.parameters()),
           "bundle_bytes": (asr.folder / "model.ckpt").stat().st_size if asr.folder else None,
           "rtf_dense": real_time_factor(asr, entries)}
    if max(row["sparsity"].values()) >= 0.5:
        row["rtf_sparse"] = real_time_factor(speechzoo.load(source, device="cpu", sparse=True),
                                             entries)
    print(f"{name:>8}  WER {row['wer']:.3f}  CER {row['cer']:.3f}  sparsity "
          f"{row['sparsity_of_pruned_matrices']:.2f}  RTF {row['rtf_dense']:.4f}"
          + (f" (sparse {row['rtf_sparse']:.4f})" if "rtf_sparse" in row else ""))
    return row


def quality(args: argparse.Namespace) -> dict:
    torch.set_num_threads(1)
    pairs = [m.split("=", 1) for m in args.models]
    if any(len(p) != 2 for p in pairs):
        raise SystemExit("models are NAME=BUNDLE, e.g. dense=runs/dense-bundle")
    return {"machine": machine(), "torch": torch.__version__, "threads": 1,
            "manifest": str(args.manifest), "decoder": "greedy",
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "rows": [model_quality(name, source, args) for name, source in pairs]}


def main() -> None:
    args = parse_args()
    res = json.loads(args.out.read_text()) if args.out.is_file() else {}
    res[args.section] = speed(args) if args.section == "speed" else quality(args)
    if args.section == "speed":
        print_table(res["speed"])
    save_results(res, args.out)


if __name__ == "__main__":
    main()
