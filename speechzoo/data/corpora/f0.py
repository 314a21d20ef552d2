"""F0 tracks for a text-to-speech corpus: the ground truth of Deep Voice's duration and F0
model (arXiv 1702.07825, section 3.3).

For every entry of a prepared corpus with per-phoneme ``durations`` (frames of ``hop``
samples), the F0 of each frame is tracked by probabilistic YIN (``librosa.pyin``, Mauch and
Dixon 2014) and written as a float32 ``.npy`` of Hz, 0 where unvoiced, one value per
duration frame. The manifests are the source corpus' own plus ``f0_filepath``.

Frame ``t`` of the corpus covers samples ``[t * hop, (t + 1) * hop)``; pyin centres its frame
``t`` on sample ``t * hop``, so the audio is advanced by half a hop first and the two grids
agree. pyin runs at 20-cent resolution with 50 thresholds (4x faster than its defaults; the
two agree to about 5 cents on voiced frames), and with a voicing-threshold prior of Beta(2, 8)
(mean 0.2) instead of its Beta(2, 18) (mean 0.1): Piper's neural voice is weakly periodic, and
the default prior called about 30% of its frames voiced (LJ Speech's real voice: 60%), leaving
whole vowels unvoiced; with Beta(2, 8) 60%, its F0 range unchanged (5th-95th percentile 66-119
Hz on a test sentence; Beta(2, 4) began to make octave errors).

``speechzoo prepare f0 CORPUS_DIR`` writes ``CORPUS_DIR-f0``; the embedded
``synth-tts-en-f0`` is ``synth-tts-en``'s, generated on first use by the Deep Voice recipe.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from speechzoo.audio import load_audio
from speechzoo.data.manifest import read_manifest, write_manifest
from speechzoo.errors import DataError
from speechzoo.files import atomic_dir

F_MIN, F_MAX = 50.0, 500.0  # Hz: speaking voices, men's and women's
BETA = (2, 8)  # pyin's prior on the voicing threshold (see above)
SPLITS = ("train", "dev", "test")


def track_f0(wav: np.ndarray, sample_rate: int, hop: int, n_frames: int) -> np.ndarray:
    """F0 per frame of ``hop`` samples (Hz, 0 where unvoiced) by ``librosa.pyin``.

    Shape: wav (samples,) -> (n_frames,), float32.
    """
    import librosa

    if n_frames < 1:
        return np.zeros(0, np.float32)
    audio = np.pad(wav[hop // 2:], (0, max(0, n_frames * hop - len(wav) + hop)))
    f0, voiced, _ = librosa.pyin(audio.astype(np.float32), fmin=F_MIN, fmax=F_MAX,
                                 sr=sample_rate, frame_length=4 * hop, hop_length=hop,
                                 resolution=0.2, n_thresholds=50, beta_parameters=BETA)
    f0 = np.where(voiced & np.isfinite(f0), f0, 0.0)[:n_frames]
    return np.pad(f0, (0, n_frames - len(f0))).astype(np.float32)


def prepare_f0(source: str | os.PathLike, out: str | os.PathLike, sample_rate: int,
               hop: int) -> Path:
    """F0 tracks of every entry of the corpus folder ``source`` into ``out`` (built beside it,
    then renamed: never half-written).

    Args:
        source: a prepared corpus with ``train|dev|test.jsonl`` whose entries have
            ``durations`` (frames per phoneme, the end token's included).
        out: the new folder: manifests with ``f0_filepath``, ``<split>/*.f0.npy``.
        sample_rate, hop: the corpus' rate and duration frame (22,050 and 256 for Piper).
    """
    source, out = Path(source), Path(out)
    manifests = {s: source / f"{s}.jsonl" for s in SPLITS if (source / f"{s}.jsonl").is_file()}
    if not manifests:
        raise DataError(f"{source} holds no train/dev/test.jsonl manifests: prepare the corpus "
                        "first (`speechzoo prepare NAME`)")
    splits = {s: read_manifest(p, ("audio_filepath", "duration", "durations"))
              for s, p in manifests.items()}
    total = sum(len(e) for e in splits.values())
    with atomic_dir(out) as tmp, tqdm(total=total, desc="F0 (pyin)", unit="utt") as bar:
        for split, entries in splits.items():
            (tmp / split).mkdir()
            rows = []
            for i, entry in enumerate(entries):
                wav, _ = load_audio(entry["audio_filepath"], sample_rate)
                f0 = track_f0(wav, sample_rate, hop, int(sum(entry["durations"])))
                name = f"{split}/{i:05d}-{Path(entry['audio_filepath']).stem}.f0.npy"
                np.save(tmp / name, f0)
                rows.append(dict(entry, f0_filepath=str(out / name)))
                bar.update()
            write_manifest(tmp / f"{split}.jsonl", rows, relative_to=out)
        info = {"source": str(source.resolve()), "tracker": "librosa.pyin", "f_min": F_MIN,
                "f_max": F_MAX, "beta_parameters": list(BETA), "sample_rate": sample_rate,
                "hop": hop,
                "utterances": {s: len(e) for s, e in splits.items()}}
        (tmp / "corpus.json").write_text(json.dumps(info, indent=1) + "\n")
    return out


def prepare(source: str | os.PathLike, out: str | os.PathLike | None = None,
            sample_rate: int = 22050, hop: int = 256) -> Path:
    """The corpus registry's entry point (``speechzoo prepare f0 CORPUS_DIR``)."""
    source = Path(source)
    return prepare_f0(source, out if out is not None else source.with_name(f"{source.name}-f0"),
                      sample_rate, hop)


def prepare_synth_tts_en(source: None, out: str | os.PathLike) -> Path:
    """``synth-tts-en-f0``: the embedded TTS corpus (generated first if missing) with F0."""
    from speechzoo.data.corpora import ensure_corpus
    from speechzoo.data.corpora.synth_tts_en import HOP, SAMPLE_RATE

    return prepare_f0(ensure_corpus("synth-tts-en"), out, SAMPLE_RATE, HOP)
