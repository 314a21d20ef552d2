"""Word timestamp accuracy: ds2-en's word times against eSpeak's own timings on synth-en test.

Reference word times. The synth-en manifests hold eSpeak NG's phonemes and the time each
starts (``phonemes``, ``phoneme_starts``) but no word boundaries: eSpeak reports those as
separate word events (``espeakEVENT_WORD``, with the word's character position in the text)
interleaved with the phoneme events. Phonemes do not depend on the speaking rate or pitch, so
each test sentence is phonemised again with its voice, recording both kinds of event; where
the phoneme sequence equals the manifest's (checked), a word event's position says which
word the phonemes after it belong to, and the manifest's times give the word's start (its
first phoneme's start) and end (the start of whatever follows its last phoneme: the next
word, or a pause ``_:``). eSpeak sometimes speaks two words as one ("in the", "there were"):
one event, so only the group's start and end are known, and only those are scored.

Hypotheses. ``SpeechRecognizer.transcribe(..., timestamps=True)`` (frame geometry and
alignment in ``speechzoo/pipelines/asr.py``); hypothesis words are matched to reference
words by the WER alignment (jiwer), and only correctly recognised words are scored.

Parts: per utterance (each test file alone); long (the first ``--long`` test utterances
joined into one recording, transcribed through the windowed long-audio path, so word times
across window boundaries are measured too); and a window sweep (the long recording's WER for
several window and context lengths, which chose the defaults).

Writes ``benchmarks/results/asr_timestamps.json`` and prints a table.
  python benchmarks/asr_timestamps.py
  python benchmarks/asr_timestamps.py --quick    # 20 utterances, a short long part
"""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path

import jiwer
import numpy as np
import torch
from asr import machine, save_results  # benchmarks/asr.py, beside this script

import speechzoo
from speechzoo.audio import load_audio
from speechzoo.data.corpora import data_root
from speechzoo.data.manifest import read_manifest
from speechzoo.text import espeak

RESULTS = Path(__file__).resolve().parent / "results" / "asr_timestamps.json"
_EVENT_WORD, _EVENT_PHONEME = 1, 7  # espeak_EVENT_TYPE


class _EventEngine(espeak._Engine):
    """eSpeak NG recording word events (None, character position) among the phoneme events
    (mnemonic, sample)."""

    def _on_audio(self, wav, n, events) -> int:
        i = 0
        while events[i].type != 0:
            ev = events[i]
            if ev.type == _EVENT_PHONEME:
                self.events.append((ev.id.string.decode("ascii", "replace"), ev.sample))
            elif ev.type == _EVENT_WORD:
                self.events.append((None, ev.text_position))
            i += 1
        return 0


Span = tuple[float | None, float | None]  # a reference word's (start, end), None if unknown


def reference_words(engine: _EventEngine, entry: dict) -> list[Span] | None:
    """(start, end) seconds of each word of ``entry["text"]``, None where eSpeak merged it with
    a neighbour; None if the phonemes differ from the manifest's (then it is not scored)."""
    text, times = entry["text"], entry["phoneme_starts"]
    engine.synthesize(text, entry["speaker"], 175, 50, 50)
    if [p for p, _ in engine.events if p is not None] != entry["phonemes"]:
        return None
    starts, position = {}, 1  # 1-based character position of each word -> its index
    for i, word in enumerate(text.split(" ")):
        starts[position] = i
        position += len(word) + 1
    groups: list[tuple[int, list[int]]] = []  # (first word, its phoneme indices)
    phoneme = 0
    for name, value in engine.events:
        if name is None:
            if value in starts and (not groups or starts[value] > groups[-1][0]):
                groups.append((starts[value], []))
            continue  # an event inside a word: its phonemes stay with the group before
        if groups and not name.startswith("_"):  # pauses belong to no word
            groups[-1][1].append(phoneme)
        phoneme += 1
    words: list[list[float | None]] = [[None, None] for _ in text.split(" ")]
    for g, (first, indices) in enumerate(groups):
        if not indices:
            continue
        last = groups[g + 1][0] - 1 if g + 1 < len(groups) else len(words) - 1
        words[first][0] = times[indices[0]]
        after = indices[-1] + 1  # the phoneme (or pause) that follows the group's last one
        words[last][1] = times[after] if after < len(times) else entry["duration"]
    return [(s, e) for s, e in words]


def errors(refs: list[tuple[str, Span]], hyp: speechzoo.Transcript) -> dict[str, list[float]]:
    """Signed start and end errors (seconds) of the hypothesis words that match reference
    words (``(word, (start, end))``) in the WER alignment."""
    out: dict[str, list[float]] = {"start": [], "end": []}
    ref_text = " ".join(w for w, _ in refs)
    if not hyp.words or not ref_text:
        return out
    for chunk in jiwer.process_words(ref_text, hyp.text).alignments[0]:
        if chunk.type != "equal":
            continue
        for k in range(chunk.ref_end_idx - chunk.ref_start_idx):
            start, end = refs[chunk.ref_start_idx + k][1]
            word = hyp.words[chunk.hyp_start_idx + k]
            if start is not None:
                out["start"].append(word.start - start)
            if end is not None:
                out["end"].append(word.end - end)
    return out


def summary(errs: dict[str, list[float]]) -> dict:
    def stats(x: list[float]) -> dict:
        a = np.abs(np.array(x))
        return {"words": len(x), "median_abs_ms": 1000 * float(np.median(a)),
                "p90_abs_ms": 1000 * float(np.percentile(a, 90)),
                "mean_signed_ms": 1000 * float(np.mean(x)),
                "within_50ms": float(np.mean(a <= 0.05)), "within_100ms": float(np.mean(a <= 0.1))}
    return {k: stats(v) for k, v in errs.items()}


def per_utterance(asr, entries: list[dict], refs: list, decoding: dict) -> tuple[dict, list]:
    kept = [(e, r) for e, r in zip(entries, refs, strict=True) if r is not None]
    hyps = asr.transcribe([e["audio_filepath"] for e, _ in kept], batch_size=16,
                          timestamps=True, **decoding)
    errs: dict[str, list[float]] = {"start": [], "end": []}
    for (e, r), h in zip(kept, hyps, strict=True):
        for k, v in errors(list(zip(e["text"].split(" "), r, strict=True)), h).items():
            errs[k] += v
    wer = jiwer.wer([e["text"] for e, _ in kept], [h.text for h in hyps])
    return {"utterances": len(kept), "wer": wer, **summary(errs)}, hyps


def joined(asr, entries: list[dict], refs: list) -> tuple[np.ndarray, list[tuple[str, Span]]]:
    """The scored utterances joined into one recording, and their words with times shifted
    to it."""
    kept = [(e, r) for e, r in zip(entries, refs, strict=True) if r is not None]
    wavs = [load_audio(e["audio_filepath"], asr.sample_rate)[0] for e, _ in kept]
    offsets = np.cumsum([0] + [len(w) for w in wavs])[:-1] / asr.sample_rate
    words = [(word, (None if s is None else s + o, None if t is None else t + o))
             for (e, r), o in zip(kept, offsets, strict=True)
             for word, (s, t) in zip(e["text"].split(" "), r, strict=True)]
    return np.concatenate(wavs), words


def long_recording(asr, entries: list[dict], refs: list, decoding: dict) -> dict:
    """The utterances joined into one recording, transcribed as one."""
    recording, words = joined(asr, entries, refs)
    hyp = asr.transcribe(recording, sample_rate=asr.sample_rate, timestamps=True, **decoding)
    times = [t for w in hyp.words for t in (w.start, w.end)]
    return {"utterances": sum(r is not None for r in refs),
            "audio_s": len(recording) / asr.sample_rate,
            "window_s": asr.window_seconds, "context_s": asr.context_seconds,
            "wer": jiwer.wer(" ".join(w for w, _ in words), hyp.text),
            "monotonic": times == sorted(times), **summary(errors(words, hyp))}


# (window_seconds, context_seconds) tried on the long recording; 1e9: all of it at once
SWEEP = ((1e9, 0.0), (20.0, 3.0), (10.0, 2.0), (8.0, 2.0), (6.0, 1.0), (6.0, 2.0), (4.0, 2.0))


def window_sweep(asr, entries: list[dict], refs: list, decoding: dict) -> list[dict]:
    """WER of the long recording for other window and context lengths (the choice of
    ``SpeechRecognizer.window_seconds`` and ``context_seconds``)."""
    recording, words = joined(asr, entries, refs)
    default = asr.window_seconds, asr.context_seconds
    rows = []
    for window, context in SWEEP:
        asr.window_seconds, asr.context_seconds = window, context
        hyp = asr.transcribe(recording, sample_rate=asr.sample_rate, **decoding)
        rows.append({"window_s": asr.window_seconds, "context_s": asr.context_seconds,
                     "wer": jiwer.wer(" ".join(w for w, _ in words), hyp)})
    asr.window_seconds, asr.context_seconds = default
    return rows


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="ds2-en", help="bundle name, folder or checkpoint")
    p.add_argument("--manifest", type=Path, default=data_root() / "synth-en" / "test.jsonl")
    p.add_argument("--decoder", choices=("greedy", "beam"), default="greedy")
    p.add_argument("--long", type=int, default=100,
                   help="test utterances joined into the long recording (default 100)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true",
                   help="20 utterances, 10 for the long part, no window sweep")
    p.add_argument("--out", type=Path, default=RESULTS)
    return p.parse_args()


def print_table(res: dict) -> None:
    print(f"\nWord timestamps of {res['model']} ({res['decoder']}) vs eSpeak's timings, "
          f"{res['manifest']}")
    print(f"  {'part':<15}{'utts':>5}{'WER':>7}{'edge':>7}{'words':>7}{'median':>8}"
          f"{'p90':>7}{'bias':>7}{'<=50ms':>8}{'<=100ms':>8}")
    for part in ("per_utterance", "long"):
        r = res[part]
        for edge in ("start", "end"):
            s = r[edge]
            print(f"  {part:<15}{r['utterances']:>5}{r['wer']:>7.3f}{edge:>7}{s['words']:>7}"
                  f"{s['median_abs_ms']:>6.0f}ms{s['p90_abs_ms']:>5.0f}ms"
                  f"{s['mean_signed_ms']:>5.0f}ms{s['within_50ms']:>8.2f}"
                  f"{s['within_100ms']:>8.2f}")
    print(f"  median / p90: |hypothesis - reference|; bias: mean signed error (+: late). "
          f"{res['skipped_utterances']} utterances skipped (phonemes differ from the manifest)")
    long = res["long"]
    print(f"  long: {long['audio_s']:.0f} s in one recording, windows of {long['window_s']:.0f} "
          f"s + {long['context_s']:.0f} s context a side; the same utterances one by one: WER "
          f"{long['wer_utterances_alone']:.3f}")
    if res.get("window_sweep"):
        print("\nLong recording WER by window (s kept + s of context a side)")
        for r in res["window_sweep"]:
            name = "all at once" if r["window_s"] >= 1e9 else \
                f"{r['window_s']:.0f} + {r['context_s']:.0f}"
            print(f"  {name:<14}{r['wer']:.3f}")


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    entries = read_manifest(args.manifest)[: 20 if args.quick else None]
    engine = _EventEngine()
    refs = [reference_words(engine, e) for e in entries]
    asr = speechzoo.load(args.model, device="cpu")
    decoding = {"decoder": args.decoder}
    res = {"machine": machine(), "torch": torch.__version__, "threads": args.threads,
           "quick": args.quick,
           "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
           "model": str(args.model), "decoder": args.decoder, "manifest": str(args.manifest),
           "frame_seconds": asr.model.frame_seconds,
           "skipped_utterances": sum(r is None for r in refs)}
    print("per utterance ...", flush=True)
    res["per_utterance"], hyps = per_utterance(asr, entries, refs, decoding)
    print("long recording ...", flush=True)
    n = 10 if args.quick else args.long
    res["long"] = long_recording(asr, entries[:n], refs[:n], decoding)
    # the same utterances transcribed one by one, for comparison with the long recording's WER
    texts = [e["text"] for e, r in zip(entries, refs, strict=True) if r is not None]
    k = res["long"]["utterances"]  # the first k scored utterances
    res["long"]["wer_utterances_alone"] = jiwer.wer(texts[:k], [h.text for h in hyps[:k]])
    if not args.quick:
        print("window sweep ...", flush=True)
        res["window_sweep"] = window_sweep(asr, entries[:n], refs[:n], decoding)
    print_table(res)
    save_results(res, args.out)


if __name__ == "__main__":
    main()
