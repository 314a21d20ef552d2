"""Deep Voice's stages, measured (arXiv 1702.07825): so far the grapheme-to-phoneme model.

G2P: the held-out CMUdict test words (``speechzoo.text.lexicon``: 10% of the words, never
trained on or used to choose a checkpoint), decoded by beam search (the paper's width 5, and
greedy), scored as ``speechzoo.metrics.pronunciation_error_rates`` states (a word with several
pronunciations against the closest one), with CMUdict's stress digits and without them. Speed:
words per second on one thread, batches of 128 words. The paper: PER 5.8%, WER 28.7%.

  python benchmarks/deepvoice.py --write
"""

from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

import torch
from asr import machine, n_params, save_results  # benchmarks/asr.py, beside this script

import speechzoo
from speechzoo.metrics import pronunciation_error_rates
from speechzoo.text.lexicon import lexicon, split_words

RESULTS = Path(__file__).parent / "results" / "deepvoice.json"


def g2p(model: str, beams: list[int], limit: int | None, batch: int = 128) -> dict:
    phonemizer = speechzoo.load(model, device="cpu")
    words = split_words("test")[:limit]
    refs = [[list(p) for p in lexicon()[w]] for w in words]
    out: dict = {"model": model, "parameters": n_params(phonemizer.model), "words": len(words)}
    for beam in beams:
        t0 = time.perf_counter()
        hyps = [p for i in range(0, len(words), batch)
                for p in phonemizer.phonemize_words(words[i:i + batch], beam_size=beam)]
        seconds = time.perf_counter() - t0
        per, wer = pronunciation_error_rates(refs, hyps)
        per_ns, wer_ns = pronunciation_error_rates(refs, hyps, stress=False)
        out[f"beam{beam}"] = {"per": round(per, 4), "wer": round(wer, 4),
                              "per_no_stress": round(per_ns, 4),
                              "wer_no_stress": round(wer_ns, 4),
                              "words_per_second": round(len(words) / seconds, 1)}
        print(f"g2p beam {beam}: PER {per:.4f} WER {wer:.4f} | without stress PER {per_ns:.4f} "
              f"WER {wer_ns:.4f} | {len(words) / seconds:.0f} words/s", flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--g2p", default="g2p-en", help="G2P bundle or checkpoint")
    p.add_argument("--beams", type=int, nargs="+", default=[5, 1])
    p.add_argument("--limit", type=int, help="first N test words")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--write", action="store_true", help=f"write {RESULTS}")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    res = {"date": datetime.date.today().isoformat(), "machine": machine(),
           "threads": args.threads, "g2p": g2p(args.g2p, args.beams, args.limit)}
    best = res["g2p"][f"beam{args.beams[0]}"]
    # The flat keys the issue names, from the first beam width (the paper's 5).
    res.update({"g2p.per": best["per"], "g2p.wer": best["wer"],
                "g2p.per_no_stress": best["per_no_stress"],
                "g2p.wer_no_stress": best["wer_no_stress"]})
    if args.write:
        save_results(res, RESULTS)


if __name__ == "__main__":
    main()
