"""Deep Voice's stages, measured (arXiv 1702.07825): grapheme-to-phoneme, duration/F0,
segmentation, audio synthesis and the whole pipeline. Each ``--stages`` entry re-measures
that stage and updates its part of the results file; the others' stay as they were.

G2P: the held-out CMUdict test words (``speechzoo.text.lexicon``: 10% of the words, never
trained on or used to choose a checkpoint), decoded by beam search (the paper's width 5, and
greedy), scored as ``speechzoo.metrics.pronunciation_error_rates`` states (a word with several
pronunciations against the closest one), with CMUdict's stress digits and without them. Speed:
words per second on one thread, batches of 128 words. The paper: PER 5.8%, WER 28.7%.

Duration/F0 (section 3.3): the synth-tts-en test sentences (never trained on) with pyin F0
tracks (``synth-tts-en-f0``): duration MAE in ms over every token (as the NAT benchmark
counts it), voicing accuracy, F0 RMSE in cents on truly voiced phonemes given the true
durations; each model named by ``--prosody`` (bundles or checkpoints: the CRF bundle and the
regression run it is measured against), and the per-symbol mean duration of the training
sentences as a floor any model must beat. The paper's duration MAE: 38 ms.

Segmentation (section 3.1): the same test sentences: pair error rate of the greedy CTC output,
and the error of the boundaries read from the pair peaks of the forced alignment against
Piper's own alignment (median, mean, share within 20 ms), after the bundle's boundary offset
(``--calibrate BUNDLE``: the median signed error on the dev sentences, written into it).

Audio synthesis (section 3.4): the teacher-forced NLL (nats per sample; a uniform guess over
256 mu-law levels is 5.55) of the first ``--texts`` test clips given their true phonemes,
durations and F0 contours.

Pipeline (section 3): the first ``--texts`` test sentences spoken from text by
``deepvoice-en`` (G2P, duration/F0, audio synthesis) and by Non-Attentive Tacotron
(``--nat``, its default vocoder), judged by the recogniser of the TTS benchmark
(``speechzoo.judge``: pocketsphinx, never trained here) beside the corpus audio of the same
sentences; also the audio synthesis model given the true prosody (the gap to the pipeline is
the predicted prosody's). Real-time factor: synthesis seconds per audio second, text to
waveform, one thread, one text per call.

  python benchmarks/deepvoice.py --write                          # every stage
  python benchmarks/deepvoice.py --stages prosody --prosody deepvoice-prosody-en \
      forward-only=FWD.ckpt regression=REG.ckpt --write
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import time
from pathlib import Path

import numpy as np
import torch
from asr import machine, n_params, save_results  # benchmarks/asr.py, beside this script

import speechzoo
from speechzoo.audio import load_audio
from speechzoo.checkpoints import read_bundle, write_bundle
from speechzoo.data.collate import collate
from speechzoo.data.corpora import ensure_corpus
from speechzoo.data.manifest import read_manifest
from speechzoo.data.prosody import ProsodyDataset, SynthesisDataset
from speechzoo.data.segmentation import SegmentationDataset, true_boundaries
from speechzoo.decoding.ctc import ctc_greedy
from speechzoo.judge import Judge, normalize_text
from speechzoo.metrics import (
    boundary_errors_ms,
    duration_mae_ms,
    pronunciation_error_rates,
    token_error_rate,
    voicing_f0_errors,
)
from speechzoo.pipelines.prosody import Prosody
from speechzoo.text.english import normalize
from speechzoo.text.lexicon import lexicon, split_words
from speechzoo.text.phonemes import tokenizer as phoneme_tokenizer

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


def _batches(data, size: int):
    for i in range(0, len(data), size):
        yield collate([data[j] for j in range(i, min(len(data), i + size))])


def _labelled(spec: str) -> tuple[str, str]:
    """``LABEL=NAME`` -> (label, name); a bare name (a path may hold ``=``) -> ("", name)."""
    label, sep, name = spec.partition("=")
    return (label, name) if sep and "/" not in label else ("", spec)


def prosody(models: list[str], batch: int = 32) -> dict:
    corpus = ensure_corpus("synth-tts-en-f0")
    entries = read_manifest(corpus / "test.jsonl", ProsodyDataset.required)
    train = read_manifest(corpus / "train.jsonl", ("phonemes", "durations"))
    frame = 256 / 22050
    by_symbol = collections.defaultdict(list)
    for e in train:
        for p, d in zip([*e["phonemes"], "<end>"], e["durations"], strict=True):
            by_symbol[p].append(d)
    means = {p: float(np.mean(v)) for p, v in by_symbol.items()}
    truth = [d for e in entries for d in e["durations"]]
    floor = [means.get(p, 0.0) for e in entries for p in [*e["phonemes"], "<end>"]]
    out: dict = {"sentences": len(entries), "tokens": len(truth),
                 "symbol_mean_duration_mae_ms": round(duration_mae_ms(
                     np.array(floor), np.array(truth), frame), 2)}
    print(f"prosody: per-symbol mean duration MAE {out['symbol_mean_duration_mae_ms']} ms")
    for spec in models:
        label, name = _labelled(spec)
        predictor = speechzoo.load(name, device="cpu")
        config = predictor.model.config
        data = ProsodyDataset(entries, phoneme_tokenizer(), config["f0_points"],
                              config["f0_reference_hz"])
        rows = collections.defaultdict(list)
        t0 = time.perf_counter()
        for b in _batches(data, batch):
            pred = predictor.model.predict(b["tokens"], b["tokens_lengths"])
            for i, n in enumerate(b["tokens_lengths"].tolist()):
                for k, v in (("frames", pred["frames"]), ("voiced", pred["voiced"]),
                             ("f0_hz", pred["f0_hz"]), ("true_frames", b["frames"]),
                             ("true_voiced", b["voiced"]), ("true_f0", b["f0"])):
                    rows[k].append(v[i, :n])
        seconds = time.perf_counter() - t0
        cat = {k: torch.cat(v).numpy() for k, v in rows.items()}
        accuracy, cents = voicing_f0_errors(cat["voiced"], cat["f0_hz"], cat["true_voiced"],
                                            cat["true_f0"], cat["true_frames"],
                                            config["f0_reference_hz"])
        res = {"duration": config["duration"], "parameters": n_params(predictor.model),
               "duration_mae_ms": round(duration_mae_ms(cat["frames"], cat["true_frames"],
                                                        frame), 2),
               "voicing_accuracy": round(accuracy, 4), "f0_rmse_cents": round(cents, 1),
               "sentences_per_second": round(len(entries) / seconds, 1)}
        out[label or name] = res
        print(f"prosody {label or name}: {res}", flush=True)
    return out


def calibrate(folder: str) -> float:
    """The median signed boundary error on the dev split, written into the bundle as its
    ``boundary_offset`` (subtracted from every boundary from then on)."""
    corpus = ensure_corpus("synth-tts-en")
    entries = read_manifest(corpus / "dev.jsonl", ("phonemes", "durations"))
    bundle = read_bundle(folder)
    segmenter = speechzoo.load(folder, device="cpu")
    segmenter.offset = 0.0
    signed = []
    for entry in entries:
        segments = segmenter.align(entry["audio_filepath"], phonemes=entry["phonemes"])
        found = np.array([np.nan] + [s.start for s in segments[1:]] + [segments[-1].end])
        true = true_boundaries(entry["durations"], 256 / 22050)
        signed.append((found - true)[np.isfinite(true)])
    offset = -float(np.median(np.concatenate(signed)))
    bundle.frontend["boundary_offset"] = round(offset, 4)
    bundle.meta["boundary_offset"] = {"tuned_on": "synth-tts-en dev sentences",
                                      "by": "benchmarks/deepvoice.py --calibrate",
                                      "seconds": round(offset, 4)}
    write_bundle(bundle, folder)
    print(f"{folder}: boundary offset {offset * 1000:+.1f} ms (dev, {len(entries)} sentences)")
    return offset


def segmentation(model: str) -> dict:
    corpus = ensure_corpus("synth-tts-en")
    entries = read_manifest(corpus / "test.jsonl", ("phonemes", "durations"))
    segmenter = speechzoo.load(model, device="cpu")
    net, blank = segmenter.model, segmenter.pairs.blank
    data = SegmentationDataset(entries, net.sample_rate)
    refs, hyps, errors = [], [], []
    t0 = time.perf_counter()
    for i, entry in enumerate(entries):
        item = data[i]
        with torch.inference_mode():
            log_probs, frames = net(item["audio"][None], torch.tensor([len(item["audio"])]))
        refs.append(item["labels"].tolist())
        hyps += ctc_greedy(log_probs, frames, blank)
        segments = segmenter.align(entry["audio_filepath"], phonemes=entry["phonemes"])
        found = np.array([np.nan] + [s.start for s in segments[1:]] + [segments[-1].end])
        errors.append(boundary_errors_ms(item["boundaries"].numpy(), found))
    seconds = time.perf_counter() - t0
    errors = np.concatenate(errors)
    out = {"model": model, "parameters": n_params(net), "sentences": len(entries),
           "boundary_offset_ms": round(segmenter.offset * 1000, 1),
           "boundaries": len(errors), "pair_error_rate": round(token_error_rate(refs, hyps), 4),
           "boundary_median_ms": round(float(np.median(errors)), 1),
           "boundary_mean_ms": round(float(errors.mean()), 1),
           "within_20ms": round(float((errors <= 20).mean()), 4),
           "audio_seconds_per_second": round(sum(e["duration"] for e in entries) / seconds, 1)}
    print(f"segmentation {model}: {out}", flush=True)
    return out


def _test_entries(texts: int) -> list[dict]:
    corpus = ensure_corpus("synth-tts-en-f0")
    return read_manifest(corpus / "test.jsonl", SynthesisDataset.required)[:texts]


def synthesis(model: str, texts: int) -> dict:
    dv = speechzoo.load(model, device="cpu")
    net = dv.model
    data = SynthesisDataset(_test_entries(texts), phoneme_tokenizer(), net.sample_rate,
                            net.hop_length, reference_hz=net.f0_reference_hz)
    nll, samples = 0.0, 0
    for item in data:
        n = torch.tensor([len(item["frame_tokens"])])
        with torch.inference_mode():
            cond = net.condition(item["frame_tokens"][None], item["frame_features"][None], n)
            audio = item["audio"][None]
            nll -= float(net.log_prob(net(audio, cond), audio).sum())
        samples += audio.shape[-1]
    out = {"model": model, "parameters": n_params(net), "clips": len(data),
           "nll_nats_per_sample": round(nll / samples, 4),
           "uniform_nats_per_sample": round(float(np.log(net.classes)), 4)}
    print(f"synthesis {model}: {out}", flush=True)
    return out


def _true_prosody(entry: dict, points: int, frame: float) -> Prosody:
    """The corpus' own durations and F0 contours as a Prosody, what the pipeline predicts."""
    item = ProsodyDataset([entry], phoneme_tokenizer(), points).items[0]
    return Prosody([*entry["phonemes"], "<end>"], item["frames"].numpy() * frame,
                   item["voiced"].numpy(), 100.0 * 2.0 ** item["f0"].numpy())


def _timed(tts, texts: list[str]) -> tuple[list[np.ndarray], float]:
    wavs, t0 = [], time.perf_counter()
    for text in texts:
        wavs.append(tts.synthesize(text).waveform)
    seconds = time.perf_counter() - t0
    return wavs, round(seconds / (sum(len(w) for w in wavs) / tts.sample_rate), 4)


def pipeline(model: str, nat: str, texts: int) -> dict:
    entries = _test_entries(texts)
    spoken = [normalize_text(normalize(e["text"], tts=True)) for e in entries]
    judge, rate = Judge(), 22050
    refs = [load_audio(e["audio_filepath"], rate)[0] for e in entries]

    def judged(wavs: list[np.ndarray]) -> dict:
        return {k: round(v, 4) for k, v in judge.robustness(spoken, wavs, rate).items()}

    out: dict = {"model": model, "nat": nat, "texts": len(entries),
                 "corpus_audio": judged(refs)}
    dv = speechzoo.load(model, device="cpu")
    wavs, rtf = _timed(dv, [e["text"] for e in entries])
    out["deepvoice"] = {**judged(wavs), "rtf": rtf}
    print(f"pipeline deepvoice: {out['deepvoice']}", flush=True)
    true = [_true_prosody(e, dv.prosody.model.config["f0_points"], dv.frame_seconds)
            for e in entries]
    out["deepvoice_true_prosody"] = judged(dv.vocode(true))
    nat_tts = speechzoo.load(nat, device="cpu")
    wavs, rtf = _timed(nat_tts, [e["text"] for e in entries])
    out["nat"] = {"model": nat, **judged(wavs), "rtf": rtf}
    print(f"pipeline: {out}", flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    stages = ["g2p", "prosody", "segmentation", "synthesis", "pipeline"]
    p.add_argument("--stages", nargs="+", default=stages, choices=stages)
    p.add_argument("--g2p", default="g2p-en", help="G2P bundle or checkpoint")
    p.add_argument("--prosody", nargs="+", default=["deepvoice-prosody-en"],
                   help="duration/F0 bundles or checkpoints, each as NAME or LABEL=NAME")
    p.add_argument("--segmentation", default="deepvoice-segmentation-en",
                   help="segmentation bundle or checkpoint")
    p.add_argument("--calibrate", metavar="BUNDLE",
                   help="first: measure the segmentation bundle folder's boundary offset on "
                   "the dev split and write it into the bundle")
    p.add_argument("--deepvoice", default="deepvoice-en", help="Deep Voice bundle")
    p.add_argument("--nat", default="nat-en", help="the Non-Attentive Tacotron peer")
    p.add_argument("--texts", type=int, default=12,
                   help="test sentences for the synthesis and pipeline stages")
    p.add_argument("--beams", type=int, nargs="+", default=[5, 1])
    p.add_argument("--limit", type=int, help="first N test words")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--write", action="store_true", help=f"write {RESULTS}")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    res = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    res.update({"date": datetime.date.today().isoformat(), "machine": machine(),
                "threads": args.threads})
    if "g2p" in args.stages:
        res["g2p"] = g2p(args.g2p, args.beams, args.limit)
        best = res["g2p"][f"beam{args.beams[0]}"]
        # The flat keys the issue names, from the first beam width (the paper's 5).
        res.update({"g2p.per": best["per"], "g2p.wer": best["wer"],
                    "g2p.per_no_stress": best["per_no_stress"],
                    "g2p.wer_no_stress": best["wer_no_stress"]})
    if "prosody" in args.stages:
        res["prosody"] = prosody(args.prosody)
        first = res["prosody"][_labelled(args.prosody[0])[0] or args.prosody[0]]
        res.update({"duration.mae_ms": first["duration_mae_ms"],
                    "voicing.accuracy": first["voicing_accuracy"],
                    "f0.rmse_cents": first["f0_rmse_cents"]})
    if args.calibrate:
        calibrate(args.calibrate)
    if "segmentation" in args.stages:
        res["segmentation"] = segmentation(args.segmentation)
        res.update({"segmentation.pair_error_rate": res["segmentation"]["pair_error_rate"],
                    "segmentation.boundary_ms": res["segmentation"]["boundary_median_ms"]})
    if "synthesis" in args.stages:
        res["synthesis"] = synthesis(args.deepvoice, args.texts)
        res["synthesis.nll"] = res["synthesis"]["nll_nats_per_sample"]
    if "pipeline" in args.stages:
        res["pipeline"] = pipeline(args.deepvoice, args.nat, args.texts)
        res.update({"pipeline.wer": res["pipeline"]["deepvoice"]["wer"],
                    "pipeline.rtf": res["pipeline"]["deepvoice"]["rtf"],
                    "pipeline.nat_rtf": res["pipeline"]["nat"]["rtf"]})
    if args.write:
        save_results(res, RESULTS)


if __name__ == "__main__":
    main()
