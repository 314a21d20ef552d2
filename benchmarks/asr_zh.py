"""Mandarin DS2 on synth-zh: greedy vs CTC beam search without and with a character LM.

The acoustic model's log-probs of dev and test are computed once. The character LM's weight
(alpha) and the character score (beta) are grid-searched on dev by CER (a Mandarin sentence
is one "word", so WER says little); test is decoded greedily, by beam search without an LM,
and with the LM at the dev weights. CER (all, seen and held-out voices), WER and decoding
time per utterance, one thread.

  python benchmarks/asr_zh.py --lm zh4.arpa.gz --write   # tune, measure, store in the bundle
  python benchmarks/asr_zh.py                            # the bundle's decoder.json as it is
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

import torch

import speechzoo
from speechzoo.checkpoints import find_bundle
from speechzoo.data.corpora import data_root
from speechzoo.decoding.beam import BeamDecoder, save_decoder_config, tune
from speechzoo.decoding.ctc import greedy_transcripts

sys.path.insert(0, str(Path(__file__).resolve().parent))
from asr import machine, save_results  # noqa: E402
from asr_lm import evaluate, load_split  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "asr_zh.json"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="ds2-zh", help="bundle name or folder")
    p.add_argument("--corpus", type=Path, default=data_root() / "synth-zh")
    p.add_argument("--lm", type=Path, help="character LM to tune (default: the bundle's)")
    p.add_argument("--lm-weights", type=float, nargs="+", default=[0.5, 1.0, 1.5, 2.0, 3.0])
    p.add_argument("--word-scores", type=float, nargs="+", default=[-1.0, 0.0, 1.0, 2.0])
    p.add_argument("--beam-size", type=int, default=50)
    p.add_argument("--write", action="store_true", help="store the tuned LM in the bundle")
    p.add_argument("--out", type=Path, default=RESULTS)
    return p.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    asr = speechzoo.load(args.model, device="cpu")
    folder = find_bundle(args.model).parent
    dev, test = (load_split(asr, args.corpus, s, None) for s in ("dev", "test"))
    res = {"machine": machine(), "torch": torch.__version__, "threads": 1, "model": args.model,
           "corpus": str(args.corpus), "beam_size": args.beam_size,
           "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
    if args.lm is not None:
        decoder = BeamDecoder(asr.tokenizer, args.lm, None, args.beam_size)
        tuned = tune(dev["log_probs"], dev["refs"], decoder, args.lm_weights, args.word_scores)
        res["dev_grid"], res["dev_best"], res["dev_greedy"] = (tuned.grid, tuned.best,
                                                               tuned.greedy)
        print(f"dev: greedy CER {tuned.greedy['cer']:.4f}; best {tuned.best}")
        decoder = decoder.with_weights(tuned.best["lm_weight"], tuned.best["word_score"])
        if args.write:
            meta = {"tuned_on": f"synth-zh dev ({len(dev['refs'])} utterances)",
                    "dev_cer": tuned.best["cer"], "benchmark": "benchmarks/asr_zh.py"}
            print(save_decoder_config(folder, args.lm, None, args.beam_size,
                                      tuned.best["lm_weight"], tuned.best["word_score"], meta))
    else:
        decoder = BeamDecoder.from_folder(folder, asr.tokenizer)
    res["lm"] = {"lm_weight": decoder.lm_weight, "word_score": decoder.word_score}
    print(f"test ({len(test['refs'])} utterances, 1 thread):")
    rows = [evaluate("greedy", lambda x, n: greedy_transcripts(x, n, asr.tokenizer), test),
            evaluate("beam, no LM", BeamDecoder(asr.tokenizer, None, None,
                                                args.beam_size).transcripts, test),
            evaluate("beam + character LM", decoder.transcripts, test)]
    res["test"] = rows
    save_results(res, args.out)


if __name__ == "__main__":
    main()
