"""English ASR per source: WER and CER of one or more models on every held-out set, greedy
and with the bundle's language model (CTC beam search), in one table.

Sets (each skipped, and said so, where its manifest is absent):
  synth-en test        300 real sentences in eSpeak NG voices (half of them unheard voices)
  an4 dev              CMU AN4: the 8 training speakers held out (recorded speech)
  an4 dev, unseen ...  those of its utterances whose sentence no AN4 training transcript has
  ljspeech test        LJ Speech clips held out by id (recorded; a speaker heard in training)
  <engine> test        synth-voices-en's test sentences, per engine (RHVoice, Pico, festival)
  flite <voice>        with ``--independent N``: the first N synth-en test sentences spoken
                       by flite's voices (``apt install flite``), generated here, in a
                       temporary folder. flite is reserved to measure the project
                       independently: nothing in speechzoo trains or is tuned on it, and its
                       audio never leaves this script.
References are normalised as training normalises them (``english.normalize``).

  python benchmarks/asr_sources.py --models ds2-en runs/ds2-voices/model   # two models
Writes ``benchmarks/results/asr_sources.json``; one thread by default (``--threads``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf
import torch

import speechzoo
from speechzoo.data.corpora import data_root
from speechzoo.data.manifest import read_manifest, write_manifest
from speechzoo.text.english import normalize

RESULTS = Path(__file__).parent / "results" / "asr_sources.json"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["ds2-en"],
                   help="bundles (names or folders) to compare, the first being the reference")
    p.add_argument("--data", type=Path, default=data_root(),
                   help="folder holding synth-en, synth-voices-en, an4 and ljspeech")
    p.add_argument("--decoders", nargs="+", default=["greedy", "beam"],
                   choices=["greedy", "beam"])
    p.add_argument("--beam-size", type=int, default=None,
                   help="beam width (default: the bundle's decoder.json)")
    p.add_argument("--independent", type=int, default=0, metavar="N",
                   help="also N sentences per flite voice (measurement only; default 0)")
    p.add_argument("--limit", type=int, default=None, help="utterances per set (smoke test)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=RESULTS)
    return p.parse_args()


def eval_sets(data: Path) -> dict[str, list[dict]]:
    """Set name -> its entries (text normalised); absent sets are reported and left out."""
    sources = {"synth-en test": data / "synth-en" / "test.jsonl",
               "an4 dev": data / "an4" / "dev.jsonl",
               "ljspeech test": data / "ljspeech" / "test.jsonl"}
    sets = {}
    for name, path in sources.items():
        if path.is_file():
            sets[name] = read_manifest(path, ("audio_filepath", "duration", "text"))
        else:
            print(f"skipped {name}: no {path}", file=sys.stderr)
    an4_train = data / "an4" / "train.jsonl"
    if "an4 dev" in sets and an4_train.is_file():
        # AN4's prompts repeat across speakers (yes, stop, zip codes), so training heard a
        # quarter of dev's sentences from other speakers: this subset is what the model
        # can only have generalised to.
        seen = {normalize(e["text"]) for e in read_manifest(an4_train, ("text",))}
        sets["an4 dev, unseen sentences"] = [e for e in sets["an4 dev"]
                                             if normalize(e["text"]) not in seen]
    voices = data / "synth-voices-en" / "test.jsonl"
    if voices.is_file():
        for entry in read_manifest(voices, ("audio_filepath", "duration", "text", "source")):
            sets.setdefault(f"{entry['source']} test", []).append(entry)
    else:
        print(f"skipped the engines: no {voices}", file=sys.stderr)
    return {name: [dict(e, text=normalize(e["text"])) for e in entries]
            for name, entries in sets.items()}


FLITE_VOICES = ("kal16", "awb", "rms", "slt")


def flite_sets(sentences: list[str], work: Path) -> dict[str, list[dict]]:
    """The sentences spoken by each flite voice into ``work``: set name -> entries."""
    if shutil.which("flite") is None:
        print("skipped flite: not installed (apt install flite)", file=sys.stderr)
        return {}
    sets = {}
    for voice in FLITE_VOICES:
        entries = []
        for i, text in enumerate(sentences):
            path = work / f"flite-{voice}-{i:03d}.wav"
            subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(path)], check=True,
                           capture_output=True)
            entries.append({"audio_filepath": str(path), "text": text,
                            "duration": round(sf.info(str(path)).duration, 3)})
        sets[f"flite {voice} (independent)"] = entries
    return sets


def measure(model, sets: dict[str, list[dict]], decoder: str, beam_size: int | None,
            limit: int | None, work: Path) -> dict[str, dict]:
    rows = {}
    for name, entries in sets.items():
        manifest = write_manifest(work / f"{name.replace(' ', '_')}.jsonl", entries[:limit])
        options = {"beam_size": beam_size} if decoder == "beam" and beam_size else {}
        start = time.perf_counter()
        res = model.evaluate(manifest, decoder=decoder, progress=False, **options)
        rows[name] = {"wer": res["wer"], "cer": res["cer"], "utterances": res["utterances"],
                      "hours": res["hours"], "seconds": time.perf_counter() - start,
                      "examples": [{"ref": r["text"], "hyp": r["hypothesis"]}
                                   for r in res["results"][:3]]}
        print(f"  {name}: WER {res['wer']:.3f} CER {res['cer']:.3f} "
              f"({res['utterances']} utt, {rows[name]['seconds']:.0f} s)", file=sys.stderr)
    return rows


def print_table(results: dict) -> None:
    models, sets = list(results["models"]), list(results["sets"])
    for decoder in results["decoders"]:
        print(f"\n{decoder} decoding: WER (CER)")
        print("| set | utterances | " + " | ".join(models) + " |")
        print("|---|---|" + "---|" * len(models))
        for name in sets:
            cells = []
            for m in models:
                r = results["models"][m][decoder][name]
                cells.append(f"{r['wer']:.3f} ({r['cer']:.3f})")
            count = results["models"][models[0]][decoder][name]["utterances"]
            print(f"| {name} | {count} | " + " | ".join(cells) + " |")


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    sets = eval_sets(args.data)
    work = Path(tempfile.mkdtemp(prefix="asr-sources-"))
    if args.independent:
        sentences = [e["text"] for e in sets.get("synth-en test", [])][:args.independent]
        sets.update(flite_sets(sentences, work))
    results = {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
               "machine": {"cpu": platform.processor() or platform.machine(),
                           "threads": args.threads, "torch": torch.__version__},
               "command": " ".join(sys.argv), "decoders": args.decoders,
               "sets": {n: len(e[:args.limit]) for n, e in sets.items()}, "models": {}}
    try:
        for name in args.models:
            model = speechzoo.load(name)
            results["models"][name] = {}
            for decoder in args.decoders:
                print(f"{name}, {decoder}:", file=sys.stderr)
                results["models"][name][decoder] = measure(model, sets, decoder,
                                                           args.beam_size, args.limit, work)
    finally:
        shutil.rmtree(work)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print_table(results)


if __name__ == "__main__":
    main()
