"""Vocoders side by side: Griffin-Lim, the WaveNet teacher and the Parallel WaveNet student.

Quality, on the ground-truth mels of synth-tts-en's first ``--limit`` test clips (sentences
never trained on), every vocoder on the same mels:
- **intelligibility**: the WER of the recogniser speechzoo never trains (``speechzoo.judge``)
  on the vocoded audio, against the corpus audio itself;
- **MCD-DTW** (dB) and **log-spectral distance** (dB, sample-aligned) against the corpus
  audio (``speechzoo.metrics``);
- the teacher's **NLL** (nats per sample, teacher forcing) on those clips.

Speed on one thread (``--threads``), batch 1, through ``vocode``: the real-time factor
(compute seconds / audio seconds) of each vocoder on the first ``--speed-clips`` clips; and
the teacher's incremental generation against the naive loop (which recomputes the network
over everything generated so far at each sample): both loops timed in full over the first
``--naive-samples`` samples of a clip, and the naive loop's cost over a whole second of audio
from its per-step cost measured at spread positions (a naive step at sample t is one forward
pass over t samples, whatever they hold), summed by the trapezoid rule.

  python benchmarks/vocoders.py --write
  python benchmarks/vocoders.py --vocoders griffin-lim runs/pw/checkpoints/last.ckpt --limit 4
"""

from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

import numpy as np
import torch
from asr import machine, n_params, save_results  # benchmarks/asr.py, beside this script
from tts import true_mels  # benchmarks/tts.py

from speechzoo import metrics
from speechzoo.audio import load_audio
from speechzoo.data.corpora import data_root
from speechzoo.data.manifest import read_manifest
from speechzoo.features import TTS_MEL, Spectrogram
from speechzoo.judge import Judge, normalize_text
from speechzoo.pipelines.vocoder import GriffinLim, make_vocoder
from speechzoo.text.english import normalize

RESULTS = Path(__file__).resolve().parent / "results" / "vocoders.json"
RATE = TTS_MEL["sample_rate"]
FEATURES = Spectrogram(**TTS_MEL).config


def _vocode_all(vocoder, mels: list[torch.Tensor]) -> list[np.ndarray]:
    """Every clip's audio. The neural vocoders draw all clips in one batch (their sampling is
    sample by sample; one batch costs about what one clip does), cut back to each clip."""
    if isinstance(vocoder, GriffinLim):
        return [vocoder.vocode(m).waveform for m in mels]
    frames = [m.shape[-1] for m in mels]
    floor = min(float(m.min()) for m in mels)
    batch = torch.stack([torch.nn.functional.pad(m, (0, max(frames) - n), value=floor)
                         for m, n in zip(mels, frames, strict=True)])
    with torch.no_grad():
        wav = vocoder.model.generate(batch, torch.Generator().manual_seed(0)).clamp(-1, 1)
    hop = vocoder.model.hop_length
    return [wav[i, :n * hop].numpy() for i, n in enumerate(frames)]


def _rtf(vocoder, mels: list[torch.Tensor]) -> float:
    start, audio = time.perf_counter(), 0.0
    for m in mels:
        audio += len(vocoder.vocode(m).waveform) / RATE
    return (time.perf_counter() - start) / audio


def _quality(refs: list[np.ndarray], wavs: list[np.ndarray], judge: Judge,
             texts: list[str]) -> dict:
    mcd = [metrics.mel_cepstral_distortion(r, w, RATE) for r, w in zip(refs, wavs, strict=True)]
    lsd = [metrics.log_spectral_distance(r, w, RATE) for r, w in zip(refs, wavs, strict=True)]
    return {"intelligibility": {k: round(v, 4)
                                for k, v in judge.robustness(texts, wavs, RATE).items()},
            "mcd_db": round(float(np.mean(mcd)), 3), "lsd_db": round(float(np.mean(lsd)), 3)}


def _teacher_nll(model, mels: list[torch.Tensor], refs: list[np.ndarray]) -> float:
    """Nats per sample of the clips' own audio (teacher forcing), over all their samples."""
    total, count = 0.0, 0
    hop = model.hop_length
    for mel, ref in zip(mels, refs, strict=True):
        n = mel.shape[-1] * hop
        audio = torch.from_numpy(np.pad(ref, (0, max(0, n - len(ref))))[:n])[None]
        with torch.no_grad():
            log_p = model.log_prob(model(audio, mel[None]), audio)
        total, count = total - float(log_p.sum()), count + n
    return total / count


def _naive_vs_incremental(model, mel: torch.Tensor, samples: int) -> dict:
    """Both loops over the first ``samples`` samples; the naive loop's cost over one second
    from its per-step cost at 12 positions."""
    frames = -(-samples // model.hop_length)
    part = mel[None, :, :frames]
    times = {}
    for naive in (False, True):
        start = time.perf_counter()
        model.generate(part, torch.Generator().manual_seed(0), naive=naive)
        times[naive] = time.perf_counter() - start
    n = frames * model.hop_length
    positions = np.linspace(1, RATE, 12).round().astype(int)
    step = []
    for t in positions:
        x, cond = torch.zeros(1, 1, t), torch.zeros(1, model.stack.cond.in_channels, t)
        with torch.no_grad():
            start = time.perf_counter()
            model.stack(x, cond)
            step.append(time.perf_counter() - start)
    naive_second = float(np.trapezoid(step, positions))
    second = RATE / n * times[False]  # incremental cost is the same for every sample
    return {"samples": n, "incremental_samples_per_s": round(n / times[False], 1),
            "naive_samples_per_s": round(n / times[True], 1),
            "speedup_measured": round(times[True] / times[False], 1),
            "naive_step_ms_at": {int(t): round(s * 1000, 2) for t, s in zip(positions, step,
                                                                            strict=True)},
            "one_second_naive_s": round(naive_second, 1),
            "one_second_incremental_s": round(second, 1),
            "speedup_one_second": round(naive_second / second, 1)}


def _vocoder_result(name: str, mels, refs, judge, texts, speed_clips: int) -> dict:
    vocoder = make_vocoder(name, FEATURES)
    start = time.perf_counter()
    wavs = _vocode_all(vocoder, mels)
    res = {"vocoder": name, "batch_seconds": round(time.perf_counter() - start, 1),
           **_quality(refs, wavs, judge, texts)}
    model = getattr(vocoder, "model", None)
    if model is not None:
        res["parameters"] = n_params(model)
    if hasattr(model, "log_prob"):
        res["teacher_nll_nats"] = round(_teacher_nll(model, mels, refs), 4)
    rtf = _rtf(vocoder, mels[:speed_clips])
    res |= {"rtf": round(rtf, 4), "x_real_time": round(1 / rtf, 2)}
    print(f"{name}: WER {res['intelligibility']['wer']:.3f}  MCD {res['mcd_db']:.2f} dB  "
          f"LSD {res['lsd_db']:.2f} dB  RTF {res['rtf']:.4f} ({res['x_real_time']}x real time)")
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--vocoders", nargs="+",
                   default=["griffin-lim", "wavenet-en", "parallel-wavenet-en"],
                   help="griffin-lim and vocoder bundles or checkpoints")
    p.add_argument("--corpus", default=str(data_root() / "synth-tts-en"))
    p.add_argument("--limit", type=int, default=20, help="test clips for the quality figures")
    p.add_argument("--speed-clips", type=int, default=2, help="clips timed for the RTF")
    p.add_argument("--naive-samples", type=int, default=2048,
                   help="samples both WaveNet loops generate in full")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--write", action="store_true", help=f"write {RESULTS}")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    entries = read_manifest(Path(args.corpus) / "test.jsonl")[:args.limit]
    refs = [load_audio(e["audio_filepath"], RATE)[0] for e in entries]
    texts = [normalize_text(normalize(e["text"], tts=True)) for e in entries]
    mels = true_mels(entries)
    judge = Judge()
    res = {"benchmark": "vocoders", "date": datetime.date.today().isoformat(),
           "torch": torch.__version__, "threads": args.threads, "machine": machine(),
           "corpus": args.corpus, "test_clips": len(entries),
           "audio_seconds": round(sum(len(r) for r in refs) / RATE, 1),
           "reference": {"corpus_audio": {k: round(v, 4) for k, v in
                                          judge.robustness(texts, refs, RATE).items()}},
           "vocoders": [_vocoder_result(v, mels, refs, judge, texts, args.speed_clips)
                        for v in args.vocoders]}
    print(f"reference: corpus audio WER {res['reference']['corpus_audio']['wer']:.3f}")
    for name in args.vocoders:
        model = getattr(make_vocoder(name, FEATURES), "model", None)
        if hasattr(model, "log_prob"):
            res["wavenet_generation"] = {"vocoder": name, **_naive_vs_incremental(
                model, mels[0], args.naive_samples)}
            print(f"generation: {res['wavenet_generation']}")
            break
    if args.write:
        save_results(res, RESULTS)


if __name__ == "__main__":
    main()
