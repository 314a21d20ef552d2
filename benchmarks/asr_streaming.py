"""Streaming ASR benchmark: latency per chunk and real-time factor of ``Stream`` vs offline.

A unidirectional Deep Speech 2 streams the first ``--utterances`` utterances of the synth-en
dev split (generated audio when the corpus is missing) in chunks of 100, 200 and 500 ms on
ONE thread. For each chunk size it reports the compute time of one ``push`` (median and p90
over every push of every repeat) and the stream's real-time factor (seconds of push + finish
per second of audio, median of ``--repeats``), beside the offline forward of each whole
utterance (batch 1): with the fused recurrence (the default) and with the per-frame loop,
whose maths the stream runs one frame at a time. Also: the algorithmic latency (spectrogram
window + the convolutions' future context + the lookahead, section 3.5), which a frame waits
for on top of its chunk, and the largest log-probability difference from the offline forward.

The model: ``--model PATH`` (a streaming bundle), else random weights of the size of
``recipes/ds2_streaming.yaml`` (speed does not depend on the weights).

Writes ``benchmarks/results/asr_streaming.json`` and prints a table.
  python benchmarks/asr_streaming.py            # full run
  python benchmarks/asr_streaming.py --quick    # smoke test: 2 utterances, 1 repeat
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from asr import machine, n_params, save_results  # benchmarks/asr.py, beside this script

import speechzoo
from speechzoo.audio import load_audio
from speechzoo.data.corpora import data_root
from speechzoo.data.manifest import read_manifest
from speechzoo.models.deepspeech2 import DeepSpeech2
from speechzoo.pipelines.asr import SpeechRecognizer
from speechzoo.pipelines.streaming import Stream
from speechzoo.text.english import CHARACTERS
from speechzoo.text.tokenizers import CharTokenizer

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "ds2_streaming.yaml"
RESULTS = ROOT / "benchmarks" / "results" / "asr_streaming.json"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="a streaming bundle (name, folder or checkpoint); default: "
                                   f"random weights of {RECIPE.name}'s size")
    p.add_argument("--manifest", type=Path, default=data_root() / "synth-en" / "dev.jsonl",
                   help="utterances to stream (generated audio if missing)")
    p.add_argument("--utterances", type=int, default=5, help="the first N of the manifest")
    p.add_argument("--chunks-ms", type=int, nargs="+", default=[100, 200, 500])
    p.add_argument("--repeats", type=int, default=3, help="runs of each; medians are kept")
    p.add_argument("--quality", type=Path, metavar="MANIFEST",
                   help="also the model's greedy WER/CER on MANIFEST (e.g. synth-en test.jsonl), "
                        "offline and streamed in 200 ms chunks")
    p.add_argument("--quick", action="store_true", help="smoke test: 2 utterances, 1 repeat")
    p.add_argument("--out", type=Path, default=RESULTS, help="JSON results file")
    args = p.parse_args()
    if args.quick:
        args.utterances, args.repeats = 2, 1
    return args


def recognizer(args: argparse.Namespace) -> tuple[SpeechRecognizer, str]:
    if args.model:
        return speechzoo.load(args.model, device="cpu"), str(args.model)
    recipe = yaml.safe_load(RECIPE.read_text())
    config = recipe["model"]["init_args"]["model"]["init_args"]
    torch.manual_seed(0)
    return (SpeechRecognizer(DeepSpeech2(**config), CharTokenizer(CHARACTERS)),
            f"random weights, {RECIPE.relative_to(ROOT)} size")


def utterances(args: argparse.Namespace, rate: int) -> tuple[list[np.ndarray], str]:
    """Waveforms to stream, and where they came from."""
    if args.manifest.is_file():
        entries = read_manifest(args.manifest)[: args.utterances]
        return [load_audio(e["audio_filepath"], rate)[0] for e in entries], str(args.manifest)
    print(f"note: {args.manifest} missing; streaming generated audio")
    rng = np.random.default_rng(0)
    waves = []
    for _ in range(args.utterances):  # 3-6 s of noise under a syllable-rate envelope
        t = np.arange(int(rate * rng.uniform(3, 6))) / rate
        envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
        waves.append((0.1 * envelope * rng.standard_normal(t.size)).astype(np.float32))
    return waves, "generated"


def latency_parts(stream: Stream) -> dict:
    """The algorithmic latency in ms and what it is made of."""
    model, rate = stream.model, stream.sample_rate
    features = model.features
    time_stride = int(np.prod([block.stride[1] for block in model.convs]))
    context = 0 if model.lookahead is None else model.lookahead.context
    total = 1000 * stream.latency_s
    lookahead = 1000 * context * time_stride * features.hop / rate
    window = 1000 * features.win / rate
    return {"algorithmic_ms": total, "lookahead_ms": lookahead, "window_ms": window,
            "conv_future_context_ms": total - lookahead - window,
            "output_frame_ms": 1000 * time_stride * features.hop / rate}


def stream_once(rec: SpeechRecognizer, wav: np.ndarray, chunk: int,
                ) -> tuple[list[float], float, Stream]:
    """Seconds of each push, seconds of finish, and the finished stream."""
    stream = Stream(rec, keep_log_probs=True)
    pushes = []
    for start in range(0, len(wav), chunk):
        piece = wav[start:start + chunk]
        begin = time.perf_counter()
        stream.push(piece)
        pushes.append(time.perf_counter() - begin)
    begin = time.perf_counter()
    stream.finish()
    return pushes, time.perf_counter() - begin, stream


def offline(rec: SpeechRecognizer, wav: np.ndarray) -> tuple[float, torch.Tensor]:
    """Seconds of the offline forward on the whole utterance, and its log-probs."""
    x = torch.from_numpy(wav)[None]
    with torch.inference_mode():
        begin = time.perf_counter()
        log_probs, _ = rec.model(x, torch.tensor([x.shape[-1]]))
        return time.perf_counter() - begin, log_probs[0]


def offline_rtf(rec: SpeechRecognizer, waves: list[np.ndarray], repeats: int,
                fused: bool) -> float:
    audio = sum(len(w) for w in waves) / rec.sample_rate
    for rnn in rec.model.rnns:
        rnn.fused = fused
    offline(rec, min(waves, key=len))  # warm-up
    rtf = statistics.median(sum(offline(rec, w)[0] for w in waves) / audio
                            for _ in range(repeats))
    for rnn in rec.model.rnns:
        rnn.fused = True
    return rtf


def streaming(rec: SpeechRecognizer, waves: list[np.ndarray], chunk_ms: int,
              repeats: int) -> dict:
    chunk = rec.sample_rate * chunk_ms // 1000
    audio = sum(len(w) for w in waves) / rec.sample_rate
    stream_once(rec, min(waves, key=len), chunk)  # warm-up
    pushes, rtfs, finishes = [], [], []
    for _ in range(repeats):
        total = 0.0
        for wav in waves:
            times, finish, _ = stream_once(rec, wav, chunk)
            pushes += times
            finishes.append(finish)
            total += sum(times) + finish
        rtfs.append(total / audio)
    diffs, same = [], 0
    for wav in waves:
        stream = stream_once(rec, wav, chunk)[2]
        ref = offline(rec, wav)[1]
        diffs.append(float((stream.log_probs - ref).abs().max()))
        same += stream.ids.tolist() == ref.argmax(-1).tolist()
    return {"chunk_ms": chunk_ms, "pushes": len(pushes),
            "push_ms_median": 1000 * statistics.median(pushes),
            "push_ms_p90": 1000 * float(np.percentile(pushes, 90)),
            "push_ms_max": 1000 * max(pushes),
            "finish_ms_median": 1000 * statistics.median(finishes), "rtf": statistics.median(rtfs),
            "max_abs_log_prob_diff": max(diffs), "same_greedy_path": f"{same}/{len(waves)}"}


def quality(rec: SpeechRecognizer, manifest: Path) -> dict:
    """Greedy error rates on ``manifest``, offline and streamed (200 ms chunks), and how many
    streamed transcripts equal the offline ones."""
    from asr_lm import scores  # the sibling benchmark's per-voice error rates

    entries = read_manifest(manifest, ("audio_filepath", "text"))
    refs = [e["text"] for e in entries]
    offline_texts = rec.transcribe([e["audio_filepath"] for e in entries], batch_size=16,
                                   progress=False)
    chunk, streamed = rec.sample_rate // 5, []
    for e in entries:
        wav, stream = load_audio(e["audio_filepath"], rec.sample_rate)[0], rec.stream()
        for start in range(0, len(wav), chunk):
            stream.push(wav[start:start + chunk])
        streamed.append(stream.finish())
    same = sum(a == b for a, b in zip(streamed, offline_texts, strict=True))
    return {"manifest": str(manifest), "offline": scores(refs, offline_texts, entries),
            "streamed": scores(refs, streamed, entries),
            "streamed_equals_offline": f"{same}/{len(entries)}"}


def print_table(res: dict) -> None:
    lat = res["latency"]
    print(f"\nStreaming ASR  torch {res['torch']}  {res['machine']['processor']}  1 thread")
    print(f"model: {res['model']['source']} ({res['model']['params'] / 1e6:.1f}M params); "
          f"{res['audio']['utterances']} utterances, {res['audio']['seconds']:.1f} s of audio")
    print(f"algorithmic latency {lat['algorithmic_ms']:.0f} ms = lookahead "
          f"{lat['lookahead_ms']:.0f} + conv future context {lat['conv_future_context_ms']:.0f}"
          f" + window {lat['window_ms']:.0f} (one output frame per {lat['output_frame_ms']:.0f}"
          " ms), plus the chunk and its compute")
    print(f"\n  {'chunk':>7}{'push median':>13}{'push p90':>10}{'finish':>9}{'RTF':>8}"
          f"{'max |dlogp|':>13}{'same path':>11}")
    for r in res["streaming"]:
        print(f"  {r['chunk_ms']:>5}ms{r['push_ms_median']:>11.2f}ms{r['push_ms_p90']:>8.2f}ms"
              f"{r['finish_ms_median']:>7.2f}ms{r['rtf']:>8.3f}{r['max_abs_log_prob_diff']:>13.1e}"
              f"{r['same_greedy_path']:>11}")
    o = res["offline"]
    print(f"  offline (whole utterance, batch 1): RTF {o['rtf_fused']:.3f} fused recurrence, "
          f"{o['rtf_loop']:.3f} per-frame loop")


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    rec, source = recognizer(args)
    waves, audio_source = utterances(args, rec.sample_rate)
    # other processes' load skews every timing: recorded beside them
    res = {"machine": {**machine(), "load_average_1min": os.getloadavg()[0]},
           "torch": torch.__version__, "threads": 1,
           "quick": args.quick, "repeats": args.repeats,
           "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
           "model": {"source": source, "params": n_params(rec.model),
                     "config": rec.model.config},
           "audio": {"source": audio_source, "utterances": len(waves),
                     "seconds": sum(len(w) for w in waves) / rec.sample_rate},
           "latency": latency_parts(Stream(rec))}
    res["streaming"] = []
    for chunk_ms in args.chunks_ms:
        print(f"streaming in {chunk_ms} ms chunks ...", flush=True)
        res["streaming"].append(streaming(rec, waves, chunk_ms, args.repeats))
    print("offline ...", flush=True)
    res["offline"] = {"rtf_fused": offline_rtf(rec, waves, args.repeats, fused=True),
                      "rtf_loop": offline_rtf(rec, waves, args.repeats, fused=False)}
    if args.quality:
        print("quality ...", flush=True)
        res["quality"] = quality(rec, args.quality)
        q = res["quality"]
        print(f"  offline WER {q['offline']['wer']:.4f} CER {q['offline']['cer']:.4f}; streamed "
              f"WER {q['streamed']['wer']:.4f}; equal texts {q['streamed_equals_offline']}")
    print_table(res)
    save_results(res, args.out)


if __name__ == "__main__":
    main()
