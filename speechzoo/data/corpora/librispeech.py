"""LibriSpeech (openslr.org/12) from a local copy to speechzoo manifests.

Nothing is downloaded here: the corpus is large and mirrors vary, so users unpack it
themselves and this module only indexes what is on disk.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from speechzoo.audio import audio_seconds
from speechzoo.data.manifest import write_manifest
from speechzoo.errors import DataError

SUBSETS = ("train-clean-100", "train-clean-360", "train-other-500", "dev-clean", "dev-other",
           "test-clean", "test-other")

_UTT_ID = re.compile(r"^(\d+)-(\d+)-(\d+)$")


def prepare_librispeech(source: str | Path, out: str | Path | None = None,
                        subsets: Sequence[str] | None = None) -> dict[str, Path]:
    """Write one manifest per LibriSpeech subset, plus ``train.jsonl`` for the recipe.

    Args:
        source: the folder that holds ``LibriSpeech/``, or that folder itself.
        out: where the manifests go; defaults to the ``LibriSpeech/`` folder.
        subsets: which subsets to prepare; defaults to every one present. ``train.jsonl``
            (all present ``train-*`` subsets) is written only in that default case, since a
            partial selection would silently shrink the training set.

    Returns:
        Subset name (and ``"train"`` when written) to the manifest path.

    Raises:
        DataError: if the corpus, a subset, a transcript line or an audio file is missing or
            malformed.
    """
    root = _find_root(source)
    chosen = _choose_subsets(root, subsets)
    out = Path(out) if out is not None else root
    written: dict[str, Path] = {}
    train: list[dict[str, Any]] = []
    for subset in chosen:
        entries = _subset_entries(root / subset, subset)
        written[subset] = write_manifest(out / f"{subset}.jsonl", entries)
        if subset.startswith("train-"):
            train.extend(entries)
    if subsets is None and train:
        written["train"] = write_manifest(out / "train.jsonl", train)
    return written


def _find_root(source: str | Path) -> Path:
    source = Path(source).expanduser().resolve()
    if not source.is_dir():
        raise DataError(f"LibriSpeech folder {source} does not exist: download LibriSpeech from "
                        "openslr.org/12 and unpack it, then run `speechzoo prepare librispeech "
                        "DIR`")
    nested = source / "LibriSpeech"
    return nested if nested.is_dir() else source


def _choose_subsets(root: Path, requested: Sequence[str] | None) -> list[str]:
    present = [s for s in SUBSETS if (root / s).is_dir()]
    if requested is None:
        if not present:
            found = sorted(p.name for p in root.iterdir()) or ["nothing"]
            raise DataError(f"no LibriSpeech subset folder in {root} (found: {', '.join(found)}); "
                            f"expected one of {', '.join(SUBSETS)} - point at the unpacked "
                            "LibriSpeech/ folder or the folder that contains it")
        return present
    # A string is a Sequence too; "dev-clean" would otherwise become nine one-letter subsets.
    requested = [requested] if isinstance(requested, str) else list(requested)
    for subset in requested:
        if subset not in SUBSETS:
            raise DataError(f"unknown LibriSpeech subset {subset!r}; known: {', '.join(SUBSETS)}")
        if subset not in present:
            raise DataError(f"subset {subset!r} not found in {root} (present: "
                            f"{', '.join(present) or 'none'}); download {subset}.tar.gz from "
                            "openslr.org/12 and unpack it there")
    return requested


def _subset_entries(folder: Path, subset: str) -> list[dict[str, Any]]:
    transcripts = sorted(folder.glob("*/*/*.trans.txt"))
    if not transcripts:
        raise DataError(f"{folder} holds no <speaker>/<chapter>/*.trans.txt files; the subset "
                        "looks incompletely unpacked - unpack its archive again")
    entries = []
    for transcript in tqdm(transcripts, desc=subset, unit="file"):
        entries.extend(_transcript_entries(transcript))
    return sorted(entries, key=lambda e: e["id"])


def _transcript_entries(transcript: Path) -> list[dict[str, Any]]:
    entries = []
    lines = transcript.read_text(encoding="utf-8").splitlines()
    for line_no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        utt_id, _, text = line.strip().partition(" ")
        match = _UTT_ID.match(utt_id)
        if match is None or not text.strip():
            raise DataError(f"{transcript}:{line_no}: expected '<speaker>-<chapter>-<utt> "
                            f"TRANSCRIPT', got {line!r}")
        flac = transcript.parent / f"{utt_id}.flac"
        if not flac.is_file():
            raise DataError(f"{transcript}:{line_no}: names {flac.name}, which does not exist "
                            f"in {transcript.parent}; the corpus copy is incomplete - unpack it "
                            "again")
        seconds = audio_seconds(flac, "the LibriSpeech archive")
        entries.append({"audio_filepath": str(flac), "duration": seconds,
                        "text": text.strip().lower(), "speaker": match.group(1), "id": utt_id})
    return entries


def prepare(source: str | Path, out: str | Path | None = None) -> Path:
    """The corpus registry's entry point (``speechzoo prepare librispeech DIR``): every
    subset present; returns the folder of the manifests."""
    return next(iter(prepare_librispeech(source, out).values())).parent
