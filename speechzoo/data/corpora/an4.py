"""CMU AN4 (the "census" database, CMU 1991) from a local copy to speechzoo manifests.

The layout CMU distributes (``an4_sphere.tar.gz``)::

    an4/etc/an4_train.fileids         an4_clstk/fash/an251-fash-b
    an4/etc/an4_train.transcription   <s> YES </s> (an251-fash-b)
    an4/wav/an4_clstk/fash/an251-fash-b.sph   NIST SPHERE, 16 kHz 16-bit PCM
    an4/etc/an4_test.*, an4/wav/an4test_clstk/   the test split (10 speakers)

Recorded speech of 74 training speakers saying census data: names, addresses, dates,
numbers, letters spelled one by one ("p i t t s b u r g h"). The training split becomes
``train.jsonl`` and ``dev.jsonl``: the :data:`DEV_SPEAKERS` speakers (chosen by a hash of
their names, so the same on every copy) are held out as a real-speech dev set. CMU's test
split, where the copy has it, becomes ``test.jsonl``. The transcripts' upper case is lowered;
the SPHERE files are read in place by libsndfile (nothing is copied).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from tqdm import tqdm

from speechzoo.audio import audio_seconds
from speechzoo.data.manifest import write_manifest
from speechzoo.errors import DataError

DEV_SPEAKERS = 8  # of 74: about 100 utterances
_LINE = re.compile(r"^(?:<s>)?\s*(.*?)\s*(?:</s>)?\s*\(([^()\s]+)\)\s*$")
_DOWNLOAD = ("download an4_sphere.tar.gz (CMU AN4, e.g. from the CMU Sphinx tutorial data), "
             "unpack it and run `speechzoo prepare an4 DIR`")


def _find_root(source: str | Path) -> Path:
    source = Path(source).expanduser().resolve()
    for root in (source, source / "an4"):
        if (root / "etc" / "an4_train.transcription").is_file():
            return root
    if not source.is_dir():
        raise DataError(f"AN4 folder {source} does not exist: {_DOWNLOAD}")
    raise DataError(f"no etc/an4_train.transcription in {source} or {source / 'an4'}; point at "
                    f"the an4/ folder (its etc/ and wav/) or the folder holding it, or "
                    f"{_DOWNLOAD}")


def read_split(root: Path, split: str) -> list[dict[str, Any]]:
    """Entries of CMU's ``split`` ("train" or "test"): fileids and transcription in step.

    Raises:
        DataError: a transcript line that is not ``<s> TEXT </s> (id)``, the two files out of
            step, a fileid without its transcript, or a missing or unreadable SPHERE file.
    """
    etc = root / "etc"
    ids_path, text_path = etc / f"an4_{split}.fileids", etc / f"an4_{split}.transcription"
    for path in (ids_path, text_path):
        if not path.is_file():
            raise DataError(f"{path} is missing; the AN4 copy is incomplete: {_DOWNLOAD}")
    fileids = [line.strip() for line in ids_path.read_text().splitlines() if line.strip()]
    texts = {}
    for line_no, line in enumerate(text_path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        match = _LINE.match(line.strip())
        if match is None or not match.group(1):
            raise DataError(f"{text_path}:{line_no}: expected '<s> TEXT </s> (utterance-id)', "
                            f"got {line[:80]!r}")
        texts[match.group(2)] = match.group(1).lower()
    entries = []
    for fileid in tqdm(fileids, desc=f"an4 {split}", unit="utt"):
        utt = fileid.rsplit("/", 1)[-1]
        if utt not in texts:
            raise DataError(f"{ids_path} lists {fileid}, but {text_path} has no transcript "
                            f"for {utt}; add its line '<s> TEXT </s> ({utt})' or drop the id")
        sph = root / "wav" / f"{fileid}.sph"
        if not sph.is_file():
            raise DataError(f"{ids_path} lists {fileid}, but {sph} does not exist; the copy is "
                            f"incomplete: {_DOWNLOAD}")
        entries.append({"audio_filepath": str(sph), "duration": audio_seconds(sph, "an4"),
                        "text": texts[utt], "speaker": fileid.split("/")[-2], "source": "an4",
                        "id": utt})
    return entries


def dev_speakers(speakers: set[str], count: int = DEV_SPEAKERS) -> set[str]:
    """The ``count`` speakers whose names hash lowest (SHA-256): the same on every copy."""
    if len(speakers) <= count:
        raise DataError(f"only {len(speakers)} speaker(s) in the AN4 copy; holding out {count} "
                        "as dev leaves none to train on")
    return set(sorted(speakers, key=lambda s: hashlib.sha256(s.encode()).digest())[:count])


def prepare_an4(source: str | Path, out: str | Path | None = None,
                dev_count: int = DEV_SPEAKERS) -> dict[str, Path]:
    """Write ``train|dev.jsonl`` (and ``test.jsonl`` where CMU's test split is present).

    Each entry: ``audio_filepath`` (the original ``.sph``), ``duration``, ``text`` (lower
    case), ``speaker``, ``source`` ``"an4"`` and ``id``. Nothing is written unless every
    utterance checks out.

    Args:
        source: the ``an4`` folder or the folder holding it.
        out: where the manifests go (default: the ``an4`` folder).
        dev_count: training speakers held out as dev.
    """
    root = _find_root(source)
    train = read_split(root, "train")
    held = dev_speakers({e["speaker"] for e in train}, dev_count)
    splits = {"train": [e for e in train if e["speaker"] not in held],
              "dev": [e for e in train if e["speaker"] in held]}
    if (root / "etc" / "an4_test.fileids").is_file():
        splits["test"] = read_split(root, "test")
    out = Path(out) if out is not None else root
    try:
        out.mkdir(parents=True, exist_ok=True)
        return {split: write_manifest(out / f"{split}.jsonl", rows)
                for split, rows in splits.items()}
    except OSError as e:
        raise DataError(f"cannot write the manifests to {out} ({e}); choose a folder you can "
                        "write: `speechzoo prepare an4 SOURCE --out DIR`") from None


def prepare(source: str | Path, out: str | Path | None = None) -> Path:
    """The corpus registry's entry point (``speechzoo prepare an4 DIR``)."""
    return prepare_an4(source, out)["train"].parent
