"""Piano transcription: Onsets and Frames against Spotify's basic-pitch on the same audio.

On synth-piano's held-out pieces (never trained on, never tuned on) in two renderings: ``test``
(the training SoundFonts) and ``test-unseen`` (timidity + freepats, a renderer no model here
trained on). Metrics as the papers report them (``speechzoo.metrics.piano_metrics``: mir_eval
frame P/R/F1 on a 10 ms grid, note, note-with-offset, note-with-offset-and-velocity), per
piece, then averaged; references are the pieces' MIDI with the sustain pedal applied (as
MAESTRO's labels), and basic-pitch's MIDI is read without pedal (it writes none).

Speed on one thread (``--threads``): the real-time factor (compute seconds / audio seconds) of
each system on the whole pieces, audio read included for both (basic-pitch reads and
resamples its own input; speechzoo's is timed from the path too).

basic-pitch: ``pip install --no-deps basic-pitch`` plus ``onnxruntime librosa resampy`` (its
ONNX model, no TensorFlow).

  python benchmarks/piano.py --write
  python benchmarks/piano.py --tune --write --apply pretrained/onsets-frames  # thresholds: dev
  python benchmarks/piano.py --model runs/onsets-frames/checkpoints/last.ckpt --limit 4
"""

from __future__ import annotations

import argparse
import datetime
import logging
import time
from pathlib import Path

import numpy as np
import torch
from asr import machine, n_params, save_results  # benchmarks/asr.py, beside this script

import speechzoo
from speechzoo.audio import audio_seconds
from speechzoo.checkpoints import read_bundle, write_bundle
from speechzoo.data.corpora import data_root
from speechzoo.data.manifest import read_manifest
from speechzoo.metrics import mean_metrics, piano_metrics
from speechzoo.music import Notes, notes_from_midi

RESULTS = Path(__file__).parent / "results" / "piano.json"
TUNING = Path(__file__).parent / "results" / "piano_thresholds.json"
SPLITS = ("test", "test-unseen")


def reference(entry: dict) -> Notes:
    """The entry's notes (pedal applied) inside its span, times from the span's start."""
    notes = notes_from_midi(entry["midi_filepath"])
    start = float(entry.get("offset", 0.0))
    end = start + float(entry["duration"])
    notes = notes.select((notes.onset >= start) & (notes.onset < end))
    return Notes(notes.pitch, notes.onset - start, np.minimum(notes.offset, end) - start,
                 notes.velocity)


class BasicPitch:
    """Spotify's basic-pitch (ICASSP 2022) through its ONNX model, default settings."""

    name = "basic-pitch"

    def __init__(self) -> None:
        logging.getLogger().setLevel(logging.ERROR)  # its "TensorFlow is not installed" notes
        from basic_pitch import ICASSP_2022_MODEL_PATH
        from basic_pitch.inference import Model

        self.model = Model(ICASSP_2022_MODEL_PATH)

    def transcribe(self, path: str) -> Notes:
        from basic_pitch.inference import predict

        _, midi, _ = predict(path, self.model)
        return notes_from_midi(midi, pedal=False)


class Speechzoo:
    def __init__(self, model: str) -> None:
        self.name = model
        self.piano = speechzoo.load(model, device="cpu")

    def transcribe(self, path: str) -> Notes:
        return self.piano.decode(self.piano.probabilities(path))


def evaluate(system, entries: list[dict]) -> dict:
    scores, compute, audio = [], 0.0, 0.0
    for entry in entries:
        if entry.get("offset"):
            raise SystemExit(f"{entry['audio_filepath']}: test entries must be whole pieces")
        t0 = time.perf_counter()
        est = system.transcribe(entry["audio_filepath"])
        compute += time.perf_counter() - t0
        audio += audio_seconds(entry["audio_filepath"], "the corpus")
        scores.append(piano_metrics(reference(entry), est))
    res = {k: round(v, 4) for k, v in mean_metrics(scores).items()}
    return {**res, "pieces": len(entries), "audio_seconds": round(audio, 1),
            "rtf": round(compute / audio, 4)}


def dev_pieces(corpus: Path) -> list[dict]:
    """The dev split's windows joined back into whole pieces (one entry per audio file)."""
    pieces: dict[str, dict] = {}
    for e in read_manifest(corpus / "dev.jsonl", ("audio_filepath", "duration", "midi_filepath")):
        piece = pieces.setdefault(e["audio_filepath"], {**e, "offset": 0.0, "duration": 0.0})
        piece["duration"] = max(piece["duration"], float(e.get("offset", 0)) + e["duration"])
    return list(pieces.values())


def tune_thresholds(ours: Speechzoo, corpus: Path) -> dict:
    """Note F1 and note-with-offset F1 on the dev pieces for a grid of onset and frame
    thresholds (the network runs once per piece); the best pair by note F1 is the one to set
    as the recipe's ``onset_threshold``/``frame_threshold``. Dev only: the test renderings
    never choose a setting."""
    pieces = dev_pieces(corpus)
    probs = [ours.piano.probabilities(p["audio_filepath"]) for p in pieces]
    refs = [reference(p) for p in pieces]
    grid = []
    for onset in (0.1, 0.2, 0.3, 0.4, 0.5):
        for frame in (0.2, 0.3, 0.4, 0.5):
            scores = mean_metrics([piano_metrics(r, ours.piano.decode(pr, onset, frame))
                                   for r, pr in zip(refs, probs, strict=True)])
            grid.append({"onset": onset, "frame": frame,
                         **{k: round(scores[k], 4) for k in ("note_f1", "note_offset_f1",
                                                               "frame_f1")}})
            print(grid[-1], flush=True)
    best = max(grid, key=lambda g: (g["note_f1"], g["note_offset_f1"]))
    return {"dev_pieces": len(pieces), "grid": grid, "best": best}


def apply_thresholds(folder: str, best: dict) -> None:
    """Make the tuned onset and frame thresholds the bundle's defaults."""
    bundle = read_bundle(folder)
    bundle.frontend["thresholds"] = {**bundle.frontend.get("thresholds", {}),
                                     "onset": best["onset"], "frame": best["frame"]}
    bundle.meta["thresholds"] = {"tuned_on": "synth-piano dev pieces",
                                 "by": "benchmarks/piano.py --tune", **best}
    write_bundle(bundle, folder)
    print(f"{folder}: onset threshold {best['onset']}, frame threshold {best['frame']}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="onsets-frames", help="bundle or checkpoint")
    p.add_argument("--corpus", default=str(data_root() / "synth-piano"))
    p.add_argument("--splits", nargs="+", default=list(SPLITS))
    p.add_argument("--limit", type=int, help="first N pieces of each split")
    p.add_argument("--no-peer", action="store_true", help="skip basic-pitch")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--write", action="store_true", help=f"write {RESULTS}")
    p.add_argument("--apply", metavar="BUNDLE",
                   help="with --tune: write the best thresholds into this bundle folder")
    p.add_argument("--tune", action="store_true",
                   help=f"instead: sweep the note thresholds on the dev pieces ({TUNING})")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    ours = Speechzoo(args.model)
    if args.tune:
        res = {"date": datetime.date.today().isoformat(), "model": args.model,
               **tune_thresholds(ours, Path(args.corpus))}
        print("best:", res["best"])
        if args.write:
            save_results(res, TUNING)
        if args.apply:
            apply_thresholds(args.apply, res["best"])
        return
    systems = [ours] + ([] if args.no_peer else [BasicPitch()])
    res = {"date": datetime.date.today().isoformat(), "machine": machine(),
           "threads": args.threads, "model": args.model,
           "parameters": n_params(ours.piano.model), "splits": {}}
    for split in args.splits:
        entries = read_manifest(Path(args.corpus) / f"{split}.jsonl",
                                ("audio_filepath", "duration", "midi_filepath"))
        entries = entries[:args.limit] if args.limit else entries
        res["splits"][split] = {}
        for system in systems:
            r = evaluate(system, entries)
            res["splits"][split][system.name] = r
            print(f"{split:12s} {system.name:24s} note F1 {r['note_f1']:.3f}  with offset "
                  f"{r['note_offset_f1']:.3f}  +velocity {r['note_offset_velocity_f1']:.3f}  "
                  f"frame F1 {r['frame_f1']:.3f}  RTF {r['rtf']:.4f}", flush=True)
    if args.write:
        save_results(res, RESULTS)


if __name__ == "__main__":
    main()
