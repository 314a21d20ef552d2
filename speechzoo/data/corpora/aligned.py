"""Phoneme durations for a corpus that has none (LJ Speech), from Deep Voice's segmentation
model (arXiv 1702.07825, section 3.1: the segmentation model is what lets the later stages
train on audio and text alone).

Every entry of the source corpus is phonemised (as the TTS models read it), aligned by a
segmentation bundle, and written back with ``phonemes`` and ``durations`` in frames of the
corpus' hop, laid out as Piper's are (``speechzoo.data.corpora.synth_tts_en``): the first
phoneme holds the leading silence and the end token the trailing one, and the durations add
up to the audio's whole frames. Non-Attentive Tacotron (supervised durations) and the
duration/F0 recipe (after ``speechzoo prepare f0``) then train on it.

``speechzoo prepare aligned CORPUS_DIR [--model NAME]`` writes ``CORPUS_DIR-aligned``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from speechzoo.data.manifest import read_manifest, write_manifest
from speechzoo.errors import DataError, SpeechZooError
from speechzoo.files import atomic_dir
from speechzoo.text.phonemes import phonemize

SPLITS = ("train", "dev", "test")


def frame_durations(starts: list[float], seconds: float, frame_seconds: float) -> list[int]:
    """Phoneme start times (the first phoneme's excluded: it starts the clip) and the end of
    the last -> frames per phoneme plus the end token's, summing to the clip's whole frames.

    Shape: starts (n,) seconds (phonemes 2..n, then the last one's end) -> n + 1 ints.
    """
    total = int(seconds / frame_seconds)
    edges = np.clip(np.round(np.asarray(starts) / frame_seconds), 0, total).astype(int)
    edges = np.maximum.accumulate(np.concatenate([[0], edges, [total]]))
    return np.diff(edges).tolist()


def prepare_aligned(source: str | os.PathLike, out: str | os.PathLike,
                    model: str = "deepvoice-segmentation-en", sample_rate: int = 22050,
                    hop: int = 256) -> Path:
    """Align every entry of the corpus folder ``source`` into ``out`` (built beside it, then
    renamed); entries the model cannot align (too short for their text) are left out and
    counted in ``corpus.json``."""
    import speechzoo

    source, out = Path(source), Path(out)
    splits = {s: read_manifest(source / f"{s}.jsonl", ("audio_filepath", "duration", "text"))
              for s in SPLITS if (source / f"{s}.jsonl").is_file()}
    if not splits:
        raise DataError(f"{source} holds no train/dev/test.jsonl manifests: prepare the corpus "
                        "first (`speechzoo prepare ljspeech DIR`)")
    segmenter = speechzoo.load(model)
    frame, dropped = hop / sample_rate, {}
    with atomic_dir(out) as tmp:
        for split, entries in splits.items():
            rows = []
            for entry in tqdm(entries, desc=f"aligning {split}", unit="utt"):
                try:
                    symbols = phonemize(entry["text"], glides=True)
                    segments = segmenter.align(entry["audio_filepath"], phonemes=symbols)
                except SpeechZooError:
                    continue
                starts = [s.start for s in segments[1:]] + [segments[-1].end]
                rows.append(dict(entry, phonemes=symbols, durations=frame_durations(
                    starts, float(entry["duration"]), frame)))
            dropped[split] = len(entries) - len(rows)
            write_manifest(tmp / f"{split}.jsonl", rows)
        info = {"source": str(source.resolve()), "model": model, "hop": hop,
                "sample_rate": sample_rate, "dropped": dropped}
        (tmp / "corpus.json").write_text(json.dumps(info, indent=1) + "\n")
    return out


def prepare(source: str | os.PathLike, out: str | os.PathLike | None = None,
            model: str = "deepvoice-segmentation-en") -> Path:
    """The corpus registry's entry point (``speechzoo prepare aligned CORPUS_DIR``)."""
    source = Path(source)
    return prepare_aligned(source, out if out is not None
                           else source.with_name(f"{source.name}-aligned"), model)
