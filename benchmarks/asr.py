"""ASR benchmark: recognition quality, training throughput and CPU inference speed.

1. Quality: greedy WER/CER of a trained model on the synth-en test split, overall and split
   into voices never heard in training (``HELD_OUT_VARIANTS``) vs seen voices.
2. Training: utterances/s and audio-seconds/s of ``deepspeech2_small()`` (AdamW, CTC) over
   real batches of training utterances from random duration buckets, in fp32 and under bf16
   autocast (what ``precision: bf16-mixed`` runs on a CPU), each under glibc's allocator and
   under tcmalloc (what ``speechzoo train`` uses when installed:
   ``speechzoo/training/allocator.py``).
3. Inference: real-time factor (processing seconds / audio seconds, lower is faster) on ONE
   thread, batch size 1, of DS2 small and paper-sized vs the peer ``torchaudio.models.DeepSpeech``
   (DS1-style) sized to a similar parameter count and fed a 161-bin log spectrogram whose cost
   is timed with it. Weights are untrained: speed does not depend on them.
4. Loop vs fused recurrence: DS2's recurrent layers as the plain per-frame autograd loop
   (``_RecurrentLayer.fused = False``, the reference) and as the fused recurrence
   (``speechzoo/layers/recurrence.py``, the default), side by side on the same weights and
   batches: a training step (forward + CTC + backward, ``--train-batch`` utterances of
   ``--compare-seconds`` s, fp32 and bf16 autocast, ``--threads`` threads) and batch-1
   inference (1 thread), for DS2 small and paper-sized (the latter one timed step of at most
   8 utterances: it is big). Also reports the largest log-probability difference between
   the two.

Writes ``benchmarks/results/asr.json`` and prints a table.
  python benchmarks/asr.py            # full run
  python benchmarks/asr.py --quick    # smoke test: a few utterances, 1 repeat
  python benchmarks/asr.py --loop-vs-fused-only   # part 4 alone
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torchaudio.models import DeepSpeech

import speechzoo
from speechzoo.audio import load_audio
from speechzoo.data.collate import collate
from speechzoo.data.corpora import data_root
from speechzoo.data.corpora.synth_en import HELD_OUT_VARIANTS
from speechzoo.data.datasets import SpeechDataset
from speechzoo.data.manifest import read_manifest
from speechzoo.errors import SpeechZooError
from speechzoo.losses import ctc_loss
from speechzoo.metrics import cer, wer
from speechzoo.models.deepspeech2 import deepspeech2_paper, deepspeech2_small
from speechzoo.text.english import CHARACTERS
from speechzoo.text.tokenizers import CharTokenizer
from speechzoo.training.allocator import tcmalloc_environment

RATE = 16000
RESULTS = Path(__file__).resolve().parent / "results" / "asr.json"


def parse_args() -> argparse.Namespace:
    synth = data_root() / "synth-en"
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="ds2-en",
                   help="model for the quality part: bundle name, folder or checkpoint")
    p.add_argument("--manifest", type=Path, default=synth / "test.jsonl",
                   help="test manifest (quality and inference utterances)")
    p.add_argument("--train-manifest", type=Path, default=synth / "train.jsonl",
                   help="training manifest (the training-throughput batch)")
    p.add_argument("--threads", type=int, default=2,
                   help="torch threads for quality and training (inference always uses 1)")
    p.add_argument("--repeats", type=int, default=5, help="inference runs; the median is kept")
    p.add_argument("--steps", type=int, default=10, help="timed training steps (after 1 warm-up)")
    p.add_argument("--train-batch", type=int, default=32, help="utterances per training step")
    p.add_argument("--utterances", type=int, default=10,
                   help="test utterances (the first N of the manifest) timed for inference")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 8 utterances for quality, 2 for inference (the paper-sized "
                        "pair on the shortest one), 2 training steps, 1 repeat")
    p.add_argument("--out", type=Path, default=RESULTS, help="JSON results file")
    p.add_argument("--compare-seconds", type=float, default=5.0,
                   help="utterance length for the loop-vs-fused comparison (part 4)")
    p.add_argument("--loop-vs-fused-only", action="store_true",
                   help="run only the loop-vs-fused comparison (part 4); its results are "
                        "written only to an explicit --out")
    p.add_argument("--training-only", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.quick:
        args.repeats, args.steps, args.utterances = 1, 2, 2
    return args


def machine() -> dict:
    info = Path("/proc/cpuinfo")
    names = [s.split(":", 1)[1].strip() for s in info.read_text().splitlines()
             if s.startswith("model name")] if info.is_file() else []
    cpu = names[0] if names else platform.processor()
    return {"platform": platform.platform(), "processor": cpu, "cpu_count": os.cpu_count()}


def save_results(res: dict, out: Path) -> None:
    """Write a benchmark's results as indented JSON (the committed ``results/*.json``)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"\nwrote {out}")


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def held_out(entry: dict) -> bool:
    speaker = entry.get("speaker", "")
    return "+" in speaker and speaker.split("+", 1)[1] in HELD_OUT_VARIANTS


def quality(args: argparse.Namespace) -> dict | None:
    try:
        recognizer = speechzoo.load(args.model)
    except SpeechZooError as e:
        print(f"note: quality skipped, cannot load {args.model!r}: {e}")
        return None
    entries = read_manifest(args.manifest)[: 8 if args.quick else None]
    hyps = recognizer.transcribe([e["audio_filepath"] for e in entries], batch_size=16)
    refs = [e["text"] for e in entries]
    result = {"model": str(args.model), "manifest": str(args.manifest)}
    groups = {"all": [True] * len(entries), "held_out_voices": [held_out(e) for e in entries]}
    groups["seen_voices"] = [not h for h in groups["held_out_voices"]]
    for name, keep in groups.items():
        r = [x for x, k in zip(refs, keep, strict=True) if k]
        h = [x for x, k in zip(hyps, keep, strict=True) if k]
        result[name] = {"utterances": len(r), "wer": wer(r, h) if r else None,
                        "cer": cer(r, h) if r else None}
    return result


def bucket_batches(entries: list[dict], size: int, count: int) -> list[list[dict]]:
    """``count`` batches of ``size`` utterances of similar duration from random places in the
    duration order, like the shuffled SortaGrad buckets of a real run (seeded)."""
    ordered = sorted(entries, key=lambda e: e["duration"])
    rng = random.Random(0)
    starts = [rng.randrange(max(1, len(ordered) - size)) for _ in range(count)]
    return [ordered[i:i + size] for i in starts]


def train_step(model: torch.nn.Module, batch: dict, precision: str,
               opt: torch.optim.Optimizer | None = None) -> tuple[float, torch.Tensor]:
    """Seconds of one training step (forward, CTC, backward, and the optimiser step if one is
    given) and the step's log-probabilities."""
    start = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16-mixed"):
        log_probs, frames = model(batch["audio"], batch["audio_lengths"])
    loss = ctc_loss(log_probs.float(), frames, batch["labels"], batch["labels_lengths"])
    model.zero_grad(set_to_none=True)
    loss.backward()
    if opt is not None:
        opt.step()
    return time.perf_counter() - start, log_probs.detach().float()


def training(args: argparse.Namespace, precision: str) -> dict:
    """Steps of DS2 small on different batches; the first (warm-up) is not timed."""
    torch.manual_seed(0)
    tok = CharTokenizer(CHARACTERS)
    batches = []
    for entries in bucket_batches(read_manifest(args.train_manifest), args.train_batch,
                                  args.steps + 1):
        dataset = SpeechDataset(entries, tok, RATE)
        batches.append(collate([dataset[i] for i in range(len(dataset))]))
    model = deepspeech2_small(len(tok)).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    train_step(model, batches[0], precision, opt)
    times = [train_step(model, b, precision, opt)[0] for b in batches[1:]]
    audio = sum(float(b["audio_lengths"].sum()) for b in batches[1:]) / RATE
    return {"model": "deepspeech2_small", "precision": precision, "params": n_params(model),
            "optimizer": "AdamW", "threads": torch.get_num_threads(), "batch": args.train_batch,
            "steps": args.steps, "median_step_s": statistics.median(times),
            "utterances_per_s": args.train_batch * args.steps / sum(times),
            "audio_s_per_s": audio / sum(times)}


def training_by_allocator(args: argparse.Namespace) -> list[dict]:
    """The training part in a fresh process per allocator (chosen at process start): glibc's,
    and tcmalloc as ``speechzoo train`` uses when installed."""
    envs = {"glibc": {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}}
    tcmalloc = tcmalloc_environment(envs["glibc"])
    if tcmalloc is None:
        print("note: tcmalloc not installed; training timed under glibc only")
    else:
        envs["tcmalloc"] = tcmalloc
    results = []
    for allocator, env in envs.items():
        cmd = [sys.executable, __file__, "--training-only", "--train-manifest",
               str(args.train_manifest), "--threads", str(args.threads), "--steps",
               str(args.steps), "--train-batch", str(args.train_batch)]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
        results += [dict(r, allocator=allocator) for r in json.loads(out.splitlines()[-1])]
    return results


class SpectrogramDeepSpeech(torch.nn.Module):
    """torchaudio's DeepSpeech on a normalised 161-bin log spectrogram (20 ms / 10 ms)."""

    def __init__(self, n_hidden: int, n_class: int = 29) -> None:
        super().__init__()
        self.win, self.hop = RATE // 50, RATE // 100
        self.register_buffer("window", torch.hann_window(self.win), persistent=False)
        self.net = DeepSpeech(self.win // 2 + 1, n_hidden, n_class)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(wav, self.win, self.hop, window=self.window, center=False,
                          return_complex=True).abs().pow(2)
        x = torch.log(spec + 1e-10)  # (B, F, T)
        x = (x - x.mean(-1, keepdim=True)) / (x.std(-1, keepdim=True) + 1e-5)
        return self.net(x.transpose(1, 2).unsqueeze(1))


def peer_hidden(target: int) -> int:
    """The peer's ``n_hidden`` whose parameter count is closest to ``target``."""
    def count(h: int) -> int:
        with torch.device("meta"):
            return n_params(SpectrogramDeepSpeech(h))
    lo, hi = 1, 16384
    while lo < hi:  # smallest h with count(h) >= target
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if count(mid) < target else (lo, mid)
    return min((lo - 1, lo), key=lambda h: abs(count(h) - target))


def median_rtf(run, wavs: list[np.ndarray], repeats: int) -> float:
    """Median over repeats of (seconds to process all wavs one at a time) / (audio seconds)."""
    tensors = [torch.from_numpy(w)[None] for w in wavs]
    audio = sum(len(w) for w in wavs) / RATE
    with torch.inference_mode():
        run(min(tensors, key=lambda t: t.shape[-1]))  # warm-up
        rtfs = []
        for _ in range(repeats):
            start = time.perf_counter()
            for t in tensors:
                run(t)
            rtfs.append((time.perf_counter() - start) / audio)
    return statistics.median(rtfs)


def time_model(name: str, model: torch.nn.Module, wavs: list[np.ndarray], repeats: int,
               **extra) -> dict:
    model.eval()
    peer = isinstance(model, SpectrogramDeepSpeech)
    rtf = median_rtf(lambda t: model(t) if peer else model(t, torch.tensor([t.shape[-1]])),
                     wavs, repeats)
    print(f"  timed {name}: RTF {rtf:.3f}", flush=True)
    return {"model": name, "params": n_params(model), **extra, "rtf": rtf}


def inference(args: argparse.Namespace) -> list[dict]:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    entries = read_manifest(args.manifest)
    shortest = min(entries, key=lambda e: e["duration"])
    sets = {"small": entries[: args.utterances],  # quick: paper-sized pair on 1 short utterance
            "paper": [shortest] if args.quick else entries[: args.utterances]}
    rows = []
    for size, factory in (("small", deepspeech2_small), ("paper", deepspeech2_paper)):
        pair_wavs = [load_audio(e["audio_filepath"], RATE)[0] for e in sets[size]]
        ds2 = factory()
        hidden = peer_hidden(n_params(ds2))
        ours = time_model(f"DS2 {size}", ds2, pair_wavs, args.repeats)
        del ds2
        peer = time_model("torchaudio DeepSpeech", SpectrogramDeepSpeech(hidden), pair_wavs,
                          args.repeats, n_hidden=hidden)
        rows.append({"size": size, "files": [Path(e["audio_filepath"]).name for e in sets[size]],
                     "audio_s": sum(len(w) for w in pair_wavs) / RATE, "ds2": ours,
                     "peer": peer, "ratio_ds2_over_peer": ours["rtf"] / peer["rtf"]})
    return rows


def set_fused(model: torch.nn.Module, fused: bool) -> None:
    """Choose the recurrence of every DS2 recurrent layer: fused (default) or the loop."""
    for rnn in model.rnns:
        rnn.fused = fused


def synthetic_batch(size: int, seconds: float, seed: int = 0) -> dict:
    """``size`` noise waveforms of 90-100% of ``seconds`` with random 12-characters-a-second
    transcripts (speed depends on shapes, not content)."""
    g = torch.Generator().manual_seed(seed)
    n = int(seconds * RATE)
    lengths = torch.randint(int(0.9 * n), n + 1, (size,), generator=g)
    lengths[0] = n
    labels = torch.randint(1, len(CHARACTERS) + 1, (size, int(12 * seconds)), generator=g)
    return {"audio": torch.randn(size, n, generator=g) * 0.1, "audio_lengths": lengths,
            "labels": labels, "labels_lengths": torch.full((size,), labels.shape[1])}


def compare_step(model: torch.nn.Module, batch: dict, precision: str, steps: int) -> dict:
    """Median seconds of a training step (forward, CTC, backward) with the loop and with the
    fused recurrence, alternating so both see the same machine load; one warm-up each."""
    def step() -> tuple[float, torch.Tensor]:
        return train_step(model, batch, precision)

    times: dict[bool, list[float]] = {True: [], False: []}
    outputs = {}
    for fused in (False, True):  # warm-up
        set_fused(model, fused)
        outputs[fused] = step()[1]
    for _ in range(steps):
        for fused in (False, True):
            set_fused(model, fused)
            times[fused].append(step()[0])
    set_fused(model, True)
    loop, fused = statistics.median(times[False]), statistics.median(times[True])
    return {"precision": precision, "steps": steps, "loop_s": loop, "fused_s": fused,
            "speedup": loop / fused,
            "max_abs_log_prob_diff": float((outputs[True] - outputs[False]).abs().max())}


def compare_inference(model: torch.nn.Module, wav: torch.Tensor, repeats: int) -> dict:
    """Batch-1 real-time factor with the loop and with the fused recurrence (median)."""
    model.eval()
    audio = wav.shape[-1] / RATE
    rtf: dict[bool, list[float]] = {True: [], False: []}
    outputs = {}
    with torch.inference_mode():
        for fused in (False, True):  # warm-up
            set_fused(model, fused)
            outputs[fused] = model(wav, torch.tensor([wav.shape[-1]]))[0]
        for _ in range(repeats):
            for fused in (False, True):
                set_fused(model, fused)
                start = time.perf_counter()
                model(wav, torch.tensor([wav.shape[-1]]))
                rtf[fused].append((time.perf_counter() - start) / audio)
    set_fused(model, True)
    model.train()
    loop, fused = statistics.median(rtf[False]), statistics.median(rtf[True])
    return {"precision": "32-true", "repeats": repeats, "audio_s": audio, "loop_rtf": loop,
            "fused_rtf": fused, "speedup": loop / fused,
            "max_abs_log_prob_diff": float((outputs[True] - outputs[False]).abs().max())}


def loop_vs_fused(args: argparse.Namespace) -> list[dict]:
    """Part 4: DS2's recurrence as the reference loop vs fused, training and inference."""
    rows = []
    paper_batch = 2 if args.quick else min(8, args.train_batch)  # a loop step: ~1 min at 8
    for size, factory, steps, batch_size in (
            ("small", deepspeech2_small, args.steps, args.train_batch),
            ("paper", deepspeech2_paper, 1, paper_batch)):
        torch.manual_seed(0)
        model = factory().train()
        seconds = 1.0 if args.quick and size == "paper" else args.compare_seconds
        batch = synthetic_batch(batch_size, seconds)
        common = {"size": size, "params": n_params(model), "batch": batch_size,
                  "seconds": seconds}
        torch.set_num_threads(args.threads)
        for precision in ("32-true", "bf16-mixed"):
            r = compare_step(model, batch, precision, steps)
            rows.append({**common, "mode": "training", "threads": args.threads, **r})
            print(f"  {size} training {precision}: loop {r['loop_s']:.2f} s, fused "
                  f"{r['fused_s']:.2f} s ({r['speedup']:.2f}x)", flush=True)
        torch.set_num_threads(1)
        r = compare_inference(model, batch["audio"][:1], 1 if size == "paper" else args.repeats)
        rows.append({**common, "batch": 1, "mode": "inference", "threads": 1, **r})
        print(f"  {size} inference: RTF loop {r['loop_rtf']:.3f}, fused {r['fused_rtf']:.3f} "
              f"({r['speedup']:.2f}x)", flush=True)
        del model
    torch.set_num_threads(args.threads)
    return rows


def fmt(x: float | None, spec: str = ".3f") -> str:
    return "-" if x is None else format(x, spec)


def print_table(res: dict) -> None:
    q = res["quality"]
    print(f"\nASR benchmark  torch {res['torch']}  {res['machine']['processor']}")
    if q is None:
        print("\nQuality: skipped (model not available)")
    else:
        print(f"\nQuality of {q['model']} (greedy)")
        print(f"  {'subset':<16}{'utts':>6}{'WER':>8}{'CER':>8}")
        for name in ("all", "seen_voices", "held_out_voices"):
            g = q[name]
            print(f"  {name:<16}{g['utterances']:>6}{fmt(g['wer']):>8}{fmt(g['cer']):>8}")
    for t in res["training"]:
        print(f"\nTraining {t['model']} ({t['params'] / 1e6:.1f}M params, batch {t['batch']}, "
              f"{res['threads']['training']} threads, {t['precision']}, {t['allocator']}): "
              f"{t['utterances_per_s']:.2f} utt/s, {t['audio_s_per_s']:.2f} audio-s/s, "
              f"median step {t['median_step_s']:.2f} s")
    print(f"\nInference, 1 thread, batch 1 (RTF = processing s / audio s, "
          f"median of {res['repeats']})")
    print(f"  {'size':<7}{'utts':>5}{'DS2 params':>12}{'DS2 RTF':>9}"
          f"{'peer params':>13}{'peer RTF':>10}{'DS2/peer':>10}")
    for r in res["inference"]:
        d, p = r["ds2"], r["peer"]
        print(f"  {r['size']:<7}{len(r['files']):>5}{d['params'] / 1e6:>11.1f}M{d['rtf']:>9.3f}"
              f"{p['params'] / 1e6:>12.1f}M{p['rtf']:>10.3f}{r['ratio_ds2_over_peer']:>10.2f}")
    print("  peer: torchaudio.models.DeepSpeech (DS1) on a 161-bin log spectrogram; "
          "DS2/peer < 1: DS2 faster")
    print_loop_vs_fused(res.get("loop_vs_fused", []))


def print_loop_vs_fused(rows: list[dict]) -> None:
    if not rows:
        return
    print("\nRecurrence: reference loop vs fused (same weights and inputs; median times)")
    print(f"  {'size':<7}{'mode':<11}{'precision':<12}{'thr':>4}{'batch':>6}{'loop':>10}"
          f"{'fused':>10}{'speed-up':>10}{'max |dlogp|':>13}")
    for r in rows:
        training = r["mode"] == "training"
        loop, fused = (r["loop_s"], r["fused_s"]) if training else (r["loop_rtf"], r["fused_rtf"])
        print(f"  {r['size']:<7}{r['mode']:<11}{r['precision']:<12}{r['threads']:>4}"
              f"{r['batch']:>6}{loop:>10.3f}{fused:>10.3f}{r['speedup']:>9.2f}x"
              f"{r['max_abs_log_prob_diff']:>13.2e}")
    print("  loop, fused: training = s per step (forward + CTC + backward); inference = RTF")


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    if args.training_only:
        print(json.dumps([training(args, p) for p in ("32-true", "bf16-mixed")]))
        return
    res = {"machine": machine(), "torch": torch.__version__,
           "threads": {"quality": args.threads, "training": args.threads, "inference": 1},
           "quick": args.quick, "repeats": args.repeats,
           "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
    if args.loop_vs_fused_only:
        print("loop vs fused recurrence ...", flush=True)
        res["loop_vs_fused"] = loop_vs_fused(args)
        print_loop_vs_fused(res["loop_vs_fused"])
        if args.out != RESULTS:  # a partial run does not replace the full results file
            save_results(res, args.out)
        return
    print("quality ...", flush=True)
    res["quality"] = quality(args)
    print("training ...", flush=True)
    res["training"] = training_by_allocator(args)
    print("inference ...", flush=True)
    res["inference"] = inference(args)
    print("loop vs fused recurrence ...", flush=True)
    res["loop_vs_fused"] = loop_vs_fused(args)
    print_table(res)
    save_results(res, args.out)


if __name__ == "__main__":
    main()
