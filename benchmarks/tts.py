"""Text-to-speech quality, robustness and speed: Non-Attentive Tacotron bundles side by side.

Quality, on synth-tts-en's test sentences (real news and review sentences never trained on):
- **intelligibility**: the WER of a recogniser speechzoo never trains (``speechzoo.judge``,
  pocketsphinx's bundled English model) on the synthesised speech, against two references
  judged in the same run: the corpus' own test audio (Piper's voice) and Griffin-Lim of its
  ground-truth mels (the same vocoder as the models, so the gap is the acoustic model's);
- **MCD-DTW** (dB) and **log-F0 RMSE** (cents) against the corpus audio
  (``speechzoo.metrics``);
- **duration MAE** (ms): the model's predicted durations for Piper's phonemes against Piper's.

Robustness (the paper's section 5.3 metrics): word deletion rate and unaligned duration ratio
from the recogniser on hard texts: very long sentences, repeated words, numbers, dates,
addresses, lists.

Speed on one thread (``--threads``): the acoustic model's real-time factor (compute time /
audio duration) on the test sentences, against torchaudio's ``Tacotron2`` built at a similar
size and run for the same number of frames, and against Piper (VITS, the whole text to
waveform, from its own server's synthesis time) on the same texts; Griffin-Lim's own RTF.

  python benchmarks/tts.py --model pretrained/nat-en pretrained/nat-en-unsupervised --write
  python benchmarks/tts.py --model runs/nat/checkpoints/last.ckpt --limit 20
"""

from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

import numpy as np
import torch
from asr import machine, n_params, save_results  # benchmarks/asr.py, beside this script

import speechzoo
from speechzoo import metrics
from speechzoo.audio import load_audio
from speechzoo.data.corpora import data_root
from speechzoo.data.manifest import read_manifest
from speechzoo.features import TTS_MEL, TTS_PAD, Spectrogram
from speechzoo.judge import Judge, normalize_text
from speechzoo.pipelines.vocoder import GriffinLim
from speechzoo.text.english import normalize
from speechzoo.text.phonemes import phonemize

RESULTS = Path(__file__).resolve().parent / "results" / "tts.json"
HARD_TEXTS = [
    "The quick brown fox jumps over the lazy dog, and then the dog chases the fox all the way "
    "back across the river, over the hill, through the forest and into the little town where "
    "they both fall asleep under the old oak tree beside the church.",
    "Buffalo buffalo Buffalo buffalo buffalo buffalo Buffalo buffalo.",
    "Please call me at 555-0123 before 9:30 am on Tuesday, March 3rd, 2026.",
    "The meeting is at 221 Baker Street, London, and then at 1600 Pennsylvania Avenue.",
    "It costs $1,234.56, or about 1,100 euros, which is 15% more than last year.",
    "One, two, three, four, five, six, seven, eight, nine, ten, eleven, twelve.",
    "Red, green, blue, yellow, orange, purple, pink, brown, black, white and grey.",
    "No no no no no, I said yes yes yes, not maybe maybe maybe.",
    "Dr. Smith and Mrs. Jones met Prof. Brown at St. Mary's on the 4th of July.",
    "In 1969, 600 million people watched Apollo 11 land; in 2019 there were 50 years since.",
    "She sells sea shells by the sea shore, and the shells she sells are surely sea shells.",
    "The committee's forty-second annual report was published on the twenty-first of June "
    "and it described, in great detail and at considerable length, every single decision "
    "that the members had taken during the previous twelve months.",
]


def _spoken(texts: list[str]) -> list[str]:
    """The words a listener should hear: the texts as the front end reads them."""
    return [normalize_text(normalize(t, tts=True)) for t in texts]


def _corpus_size(folder: Path) -> dict:
    sizes = {}
    for split in ("train", "dev", "test"):
        rows = read_manifest(folder / f"{split}.jsonl")
        sizes[split] = {"utterances": len(rows),
                        "hours": round(sum(float(r["duration"]) for r in rows) / 3600, 3)}
    return sizes


def _judge_many(judge: Judge, refs: list[str], wavs: list[np.ndarray], rate: int) -> dict:
    return {k: round(v, 4) for k, v in judge.robustness(refs, wavs, rate).items()}


def true_mels(entries: list[dict]) -> list[torch.Tensor]:
    """The TTS front end's log-mel (n_mels, frames) of each entry's audio, as training saw it."""
    front = Spectrogram(**TTS_MEL)
    out = []
    for e in entries:
        wav = load_audio(e["audio_filepath"], TTS_MEL["sample_rate"])[0]
        x = torch.from_numpy(np.pad(wav, TTS_PAD))[None]
        with torch.no_grad():
            mel, _ = front(x, torch.tensor([x.shape[1]]))
        out.append(mel[0])
    return out


def _gt_griffin_lim(entries: list[dict], vocoder: GriffinLim) -> list[np.ndarray]:
    return [vocoder.vocode(m).waveform for m in true_mels(entries)]


def _synthesise(tts, entries: list[dict]) -> tuple[list[np.ndarray], float, float]:
    """Waveforms for the entries' texts; acoustic-model seconds; audio seconds."""
    wavs, compute, audio = [], 0.0, 0.0
    for e in entries:
        sentences = tts.phonemes(e["text"])
        ids = [torch.tensor(tts.tokenizer.encode(p, add_end=True)) for p in sentences]
        tokens = torch.nn.utils.rnn.pad_sequence(ids, batch_first=True)
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            start = time.perf_counter()  # the acoustic model alone (not text, not vocoder)
            out = tts.model.infer(tokens, torch.tensor([len(i) for i in ids]))
            compute += time.perf_counter() - start
        mels = [out.mel_post[i, :, :int(n)] for i, n in enumerate(out.mel_lengths)]
        wav = np.concatenate([tts.vocoder.vocode(m).waveform for m in mels])
        audio += len(wav) / tts.sample_rate
        wavs.append(wav)
    return wavs, compute, audio


def _duration_mae(tts, entries: list[dict]) -> float:
    pred, true = [], []
    for e in entries:
        ids = torch.tensor([tts.tokenizer.encode(e["phonemes"], add_end=True)])
        with torch.no_grad():
            out = tts.model.infer(ids, torch.tensor([ids.shape[1]]))
        pred.append(out.durations[0].numpy())
        true.append(np.asarray(e["durations"]))
    return metrics.duration_mae_ms(np.concatenate(pred), np.concatenate(true),
                                   tts.model.frame_seconds)


def _spectral(refs: list[np.ndarray], wavs: list[np.ndarray], rate: int) -> dict:
    mcd = [metrics.mel_cepstral_distortion(r, w, rate) for r, w in zip(refs, wavs, strict=True)]
    f0 = []
    for r, w in zip(refs, wavs, strict=True):
        try:
            f0.append(metrics.log_f0_rmse(r, w, rate))
        except speechzoo.SpeechZooError:
            continue  # no frame voiced in both
    return {"mcd_db": round(float(np.mean(mcd)), 3),
            "log_f0_rmse_cents": round(float(np.mean(f0)), 1) if f0 else None}


def _model_result(name: str, entries, refs, judge, texts) -> dict:
    tts = speechzoo.load(name, device="cpu")
    rate = tts.sample_rate
    wavs, compute, audio = _synthesise(tts, entries)
    hard = [tts.synthesize(t) for t in HARD_TEXTS]
    result = {"model": str(name), "parameters": n_params(tts.model),
              "intelligibility": _judge_many(judge, texts, wavs, rate),
              **_spectral(refs, wavs, rate),
              "duration_mae_ms": round(_duration_mae(tts, entries), 2),
              "hard_texts": _judge_many(judge, _spoken(HARD_TEXTS), [h.waveform for h in hard],
                                        rate),
              "acoustic_rtf": round(compute / audio, 5),
              "acoustic_x_real_time": round(audio / compute, 1)}
    print(f"{name}: WER {result['intelligibility']['wer']:.3f}  MCD {result['mcd_db']:.2f} dB  "
          f"F0 {result['log_f0_rmse_cents']} c  dur MAE {result['duration_mae_ms']:.1f} ms  "
          f"hard WDR {result['hard_texts']['wdr']:.3f} UDR {result['hard_texts']['udr']:.3f}  "
          f"{result['acoustic_x_real_time']}x real time")
    return result


def _tacotron2_rtf(frames: list[int], params_like: int) -> dict:
    """torchaudio's Tacotron 2 (untrained, at a size near ours), run for the frames our
    model produced (its stop gate disabled): compute seconds per audio second."""
    from torchaudio.models import Tacotron2

    model = Tacotron2(n_symbol=61, symbol_embedding_dim=256, encoder_embedding_dim=256,
                      decoder_rnn_dim=256, attention_rnn_dim=256, attention_hidden_dim=128,
                      prenet_dim=256, postnet_embedding_dim=128, gate_threshold=2.0,
                      decoder_max_step=max(frames)).eval()
    compute = 0.0
    for n in frames:
        model.decoder.decoder_max_step = n
        tokens = torch.randint(1, 61, (1, max(4, n // 5)))
        start = time.perf_counter()
        with torch.no_grad():
            model.infer(tokens, torch.tensor([tokens.shape[1]]))
        compute += time.perf_counter() - start
    audio = sum(frames) * TTS_MEL["hop_ms"] / 1000
    return {"parameters": n_params(model), "our_parameters": params_like,
            "rtf": round(compute / audio, 5), "x_real_time": round(audio / compute, 1)}


def _piper(texts: list[str]) -> tuple[dict, list[np.ndarray]] | None:
    """Piper (VITS: text to waveform) on the test texts, through its own server process, timed;
    and Piper's audio of the hard texts (the robustness metrics' reference point)."""
    from speechzoo.data.corpora.piper import PiperServer
    from speechzoo.text.phonemes import speakable

    try:
        with PiperServer("joe") as piper:
            piper.synthesize("Warm up.")
            start, audio = time.perf_counter(), 0.0
            for t in texts:
                said = piper.synthesize(speakable(t))
                audio += len(said.audio) / said.sample_rate
            compute = time.perf_counter() - start
            hard = [piper.synthesize(speakable(t)).audio.astype(np.float32) / 32768
                    for t in HARD_TEXTS]
    except speechzoo.SpeechZooError as e:
        print(f"piper: skipped ({e})")
        return None
    return {"rtf": round(compute / audio, 5), "x_real_time": round(audio / compute, 1),
            "note": "whole text to waveform incl. HTTP round trips; onnxruntime's own "
                    "threads"}, hard


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", nargs="+", default=["nat-en"], help="bundles or checkpoints")
    p.add_argument("--corpus", default=str(data_root() / "synth-tts-en"))
    p.add_argument("--limit", type=int, default=None, help="test sentences (default: all)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-piper", action="store_true", help="skip the Piper speed peer")
    p.add_argument("--write", action="store_true", help=f"write {RESULTS}")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    entries = read_manifest(Path(args.corpus) / "test.jsonl")[:args.limit]
    rate = TTS_MEL["sample_rate"]
    refs = [load_audio(e["audio_filepath"], rate)[0] for e in entries]
    texts = _spoken([e["text"] for e in entries])
    judge = Judge()
    vocoder = GriffinLim(TTS_MEL)
    start = time.perf_counter()
    gl = _gt_griffin_lim(entries, vocoder)
    gl_rtf = (time.perf_counter() - start) / sum(len(w) / rate for w in gl)
    res = {"benchmark": "tts", "date": datetime.date.today().isoformat(),
           "torch": torch.__version__, "threads": args.threads, "machine": machine(),
           "corpus": args.corpus, "corpus_size": _corpus_size(Path(args.corpus)),
           "test_sentences": len(entries),
           # what the synthesiser's front end writes for the text equals what Piper spoke
           "front_end_agreement": round(float(np.mean(
               [phonemize(e["text"], glides=True) == e["phonemes"] for e in entries])), 3),
           "reference": {"corpus_audio": _judge_many(judge, texts, refs, rate),
                         "griffin_lim_of_true_mels": {**_judge_many(judge, texts, gl, rate),
                                                      **_spectral(refs, gl, rate)},
                         "griffin_lim_rtf": round(gl_rtf, 4)},
           "models": [_model_result(m, entries, refs, judge, texts) for m in args.model]}
    print(f"reference: corpus WER {res['reference']['corpus_audio']['wer']:.3f}, Griffin-Lim "
          f"of true mels WER {res['reference']['griffin_lim_of_true_mels']['wer']:.3f}")
    frames = [round(len(w) / 256) for w in refs]
    res["peers"] = {"torchaudio_tacotron2": _tacotron2_rtf(frames,
                                                          res["models"][0]["parameters"])}
    piper = None if args.no_piper else _piper([e["text"] for e in entries])
    if piper is not None:
        res["peers"]["piper"] = piper[0]
        res["reference"]["hard_texts_piper"] = _judge_many(judge, _spoken(HARD_TEXTS),
                                                           piper[1], rate)
    print(f"peers: {res['peers']}")
    if args.write:
        save_results(res, RESULTS)


if __name__ == "__main__":
    main()
