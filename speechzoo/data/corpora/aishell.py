"""AISHELL-1 (openslr.org/33) from a local copy to speechzoo manifests.

The layout as distributed, once each speaker's archive under ``wav/`` is unpacked::

    data_aishell/transcript/aishell_transcript_v0.8.txt   "BAC009S0002W0122 而 对 楼市 ..."
    data_aishell/wav/{train,dev,test}/S0002/BAC009S0002W0122.wav

The transcripts are word-segmented; a Mandarin model writes characters, so the spaces go
(:func:`speechzoo.text.mandarin.normalize`). About 0.3% of AISHELL-1's recordings have no
transcript line; they are left out (as Kaldi's recipe does) and counted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import soundfile
from tqdm import tqdm

from speechzoo.data.manifest import write_manifest
from speechzoo.errors import DataError
from speechzoo.text.mandarin import normalize

SPLITS = ("train", "dev", "test")
TRANSCRIPT = "transcript/aishell_transcript_v0.8.txt"


def _find_root(source: str | Path) -> Path:
    source = Path(source).expanduser().resolve()
    for root in (source, source / "data_aishell"):
        if (root / TRANSCRIPT).is_file():
            return root
    raise DataError(f"no {TRANSCRIPT} under {source}: download data_aishell.tgz from "
                    "openslr.org/33, unpack it and the speaker archives in data_aishell/wav/, "
                    "then run `speechzoo prepare aishell DIR`")


def read_transcripts(path: Path) -> dict[str, str]:
    """Utterance id -> characters, from AISHELL's transcript file."""
    out = {}
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        utt, _, words = line.strip().partition(" ")
        text = normalize(words)
        if line.strip() and not text:
            raise DataError(f"{path}:{line_no}: expected 'UTTERANCE_ID 词 词 ...', got {line!r}")
        if text:
            out[utt] = text
    return out


def _entries(folder: Path, texts: dict[str, str], split: str) -> tuple[list[dict], int]:
    wavs = sorted(folder.glob("*/*.wav"))
    if not wavs:
        packed = sorted(folder.parent.glob("*.tar.gz"))
        hint = (f"unpack the {len(packed)} speaker archives in {folder.parent} first"
                if packed else "the copy is incomplete")
        raise DataError(f"no <speaker>/*.wav files in {folder}: {hint}")
    entries, missing = [], 0
    for wav in tqdm(wavs, desc=f"aishell {split}", unit="file"):
        if wav.stem not in texts:
            missing += 1
            continue
        try:
            info = soundfile.info(str(wav))
        except (RuntimeError, OSError) as e:
            raise DataError(f"cannot read audio {wav} ({e}); replace it from the archive") from None
        entries.append({"audio_filepath": str(wav), "duration": round(info.duration, 3),
                        "text": texts[wav.stem], "speaker": wav.parent.name, "id": wav.stem})
    return entries, missing


def prepare_aishell(source: str | Path, out: str | Path | None = None) -> dict[str, Path]:
    """Write ``train|dev|test.jsonl`` (characters, speakers as AISHELL splits them).

    Args:
        source: the ``data_aishell`` folder or the folder holding it.
        out: where the manifests go; defaults to the ``data_aishell`` folder.

    Returns:
        Split name -> manifest path.
    """
    root = _find_root(source)
    texts = read_transcripts(root / TRANSCRIPT)
    out = Path(out) if out is not None else root
    written: dict[str, Any] = {}
    for split in SPLITS:
        if not (root / "wav" / split).is_dir():
            raise DataError(f"{root / 'wav' / split} is missing; the copy is incomplete")
        entries, missing = _entries(root / "wav" / split, texts, split)
        if missing:
            print(f"aishell {split}: {missing} recordings without a transcript left out")
        written[split] = write_manifest(out / f"{split}.jsonl", entries)
    return written


def prepare(source: str | Path, out: str | Path | None = None) -> Path:
    """The corpus registry's entry point (``speechzoo prepare aishell DIR``)."""
    return prepare_aishell(source, out)["train"].parent
