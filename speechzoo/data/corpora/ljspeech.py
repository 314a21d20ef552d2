"""LJ Speech 1.1 (keithito.com/LJ-Speech-Dataset) from a local copy to speechzoo manifests.

The layout as distributed (``LJSpeech-1.1.tar.bz2``)::

    LJSpeech-1.1/metadata.csv        "LJ001-0001|Transcription|Normalized Transcription"
    LJSpeech-1.1/wavs/LJ001-0001.wav  22,050 Hz mono 16-bit PCM

A partial copy with the same two entries (``metadata.csv`` and ``wavs/``, e.g. only some
chapters) is prepared the same way, provided every row of its ``metadata.csv`` has its wav.
``metadata.csv`` has no header and no quoting (its text holds bare ``"``), so rows are split
at ``|``, not read as CSV.

LJ Speech has no official split. A clip's split follows from a hash of its id alone (SHA-256:
the first :data:`TEST_FRACTION` of the hash range is test, the next :data:`DEV_FRACTION` dev),
so it is the same on every machine and does not depend on which other clips a copy holds,
except in a copy so small that a split would be empty: then the clips closest to the range
are taken, so dev and test hold at least one clip each.

Nothing is downloaded or copied: the manifests point at the original wavs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from speechzoo.audio import audio_seconds
from speechzoo.data.manifest import write_manifest
from speechzoo.errors import DataError
from speechzoo.text.english import normalize

SPLITS = ("train", "dev", "test")
TEST_FRACTION = 0.02  # about 262 clips of the full 13,100
DEV_FRACTION = 0.02
SPEAKER = "lj"
_FOLDER = "LJSpeech-1.1"
_DOWNLOAD = ("download LJSpeech-1.1.tar.bz2 from keithito.com/LJ-Speech-Dataset, unpack it and "
             "run `speechzoo prepare ljspeech DIR`")


def _find_root(source: str | Path) -> Path:
    source = Path(source).expanduser().resolve()
    if not source.is_dir():
        raise DataError(f"LJ Speech folder {source} does not exist: {_DOWNLOAD}")
    for root in (source, source / _FOLDER):
        if (root / "metadata.csv").is_file():
            if not (root / "wavs").is_dir():
                raise DataError(f"{root} has metadata.csv but no wavs/ folder; the copy is "
                                f"incomplete: {_DOWNLOAD}")
            return root
    found = ", ".join(sorted(p.name for p in source.iterdir())[:10]) or "nothing"
    raise DataError(f"no metadata.csv in {source} or {source / _FOLDER} (found: {found}); point "
                    f"at the {_FOLDER} folder or the folder holding it, or {_DOWNLOAD}")


def read_metadata(path: Path) -> list[tuple[str, str, str]]:
    """``(id, transcription, normalized transcription)`` rows of LJ Speech's metadata.csv,
    in file order (a byte-order mark and CRLF line ends are accepted)."""
    rows, seen = [], set()
    for line_no, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) != 3 or not fields[0].strip() or not fields[2].strip():
            raise DataError(f"{path}:{line_no}: expected 'ID|Transcription|Normalized "
                            f"Transcription', got {line[:80]!r}")
        clip = fields[0].strip()
        if clip in seen:
            raise DataError(f"{path}:{line_no}: clip {clip} is listed twice; keep one row")
        seen.add(clip)
        rows.append((clip, fields[1].strip(), fields[2].strip()))
    if not rows:
        raise DataError(f"{path} holds no rows; the copy is incomplete: {_DOWNLOAD}")
    return rows


def _position(clip: str) -> float:
    """Where a clip id hashes to in [0, 1)."""
    return int.from_bytes(hashlib.sha256(clip.encode()).digest()[:8], "big") / 2 ** 64


def assign_splits(clips: Sequence[str]) -> dict[str, str]:
    """Clip id -> "train" | "dev" | "test", as the module docstring says.

    Raises:
        DataError: for fewer than three clips (each split needs one).
    """
    if len(clips) < len(SPLITS):
        raise DataError(f"only {len(clips)} clip(s) in the copy; train, dev and test need at "
                        "least one each")
    order = sorted(clips, key=_position)
    positions = [_position(c) for c in order]
    n_test = max(1, sum(p < TEST_FRACTION for p in positions))
    n_dev = max(1, sum(TEST_FRACTION <= p < TEST_FRACTION + DEV_FRACTION for p in positions))
    if n_test + n_dev >= len(order):  # only in a copy of a few clips: keep one for training
        n_test = n_dev = 1
    return {clip: "test" if i < n_test else "dev" if i < n_test + n_dev else "train"
            for i, clip in enumerate(order)}


def _entry(root: Path, clip: str, raw: str, normalized: str) -> dict[str, Any]:
    wav = root / "wavs" / f"{clip}.wav"
    if not wav.is_file():
        raise DataError(f"{root / 'metadata.csv'} lists {clip}, but {wav} does not exist; the "
                        "copy is incomplete - unpack it again, or drop the row from "
                        "metadata.csv for a partial copy")
    # The text to speak is the normalised column as written: its punctuation is the pauses
    # the front end keeps; phonemize reads its abbreviations ("Mr.", "Co.") as LJ Speech's
    # README does.
    text = normalized.strip()
    if not normalize(text, tts=True):
        raise DataError(f"{root / 'metadata.csv'}: clip {clip} has nothing speakable in "
                        f"{normalized!r}; fix or drop its row")
    return {"audio_filepath": str(wav), "duration": audio_seconds(wav, "the LJ Speech archive"),
            "text": text, "raw_text": raw, "normalized_text": normalized, "speaker": SPEAKER,
            "source": "ljspeech", "id": clip}


def prepare_ljspeech(source: str | Path, out: str | Path | None = None) -> dict[str, Path]:
    """Write ``train|dev|test.jsonl`` for a local LJ Speech copy.

    Each entry: ``audio_filepath`` (absolute path of the original wav), ``duration``
    (seconds), ``text`` (the normalised column as written, punctuation kept, which
    ``speechzoo.text.phonemes.phonemize`` reads), ``raw_text`` and ``normalized_text`` (the
    two columns as written), ``speaker`` ``"lj"``, ``source`` ``"ljspeech"`` and ``id``;
    in metadata.csv's order. Nothing is written unless every row checks out.

    Args:
        source: the ``LJSpeech-1.1`` folder, the folder holding it, or a partial copy's
            folder (``metadata.csv`` and ``wavs/``).
        out: where the manifests go; defaults to the folder of ``metadata.csv``.

    Returns:
        Split name -> manifest path.

    Raises:
        DataError: if the folder, metadata.csv, a row's wav or a readable wav is missing, a row
            is malformed, the copy has fewer than three clips, or ``out`` cannot be written.
    """
    root = _find_root(source)
    rows = read_metadata(root / "metadata.csv")
    splits = assign_splits([clip for clip, _, _ in rows])
    entries: dict[str, list[dict[str, Any]]] = {split: [] for split in SPLITS}
    for row in tqdm(rows, desc="ljspeech", unit="clip"):
        entries[splits[row[0]]].append(_entry(root, *row))
    listed = {f"{clip}.wav" for clip, _, _ in rows}
    unlisted = sum(1 for wav in (root / "wavs").glob("*.wav") if wav.name not in listed)
    if unlisted:
        print(f"ljspeech: {unlisted} wav(s) without a metadata.csv row left out")
    out = Path(out) if out is not None else root
    try:
        return {split: write_manifest(out / f"{split}.jsonl", entries[split]) for split in SPLITS}
    except OSError as e:
        raise DataError(f"cannot write the manifests to {out} ({e}); choose a folder you can "
                        "write: out=DIR (`speechzoo prepare ljspeech SOURCE --out DIR`)"
                        ) from None


def prepare(source: str | Path, out: str | Path | None = None) -> Path:
    """The corpus registry's entry point (``speechzoo prepare ljspeech DIR``); returns the
    folder of the manifests."""
    return prepare_ljspeech(source, out)["train"].parent
