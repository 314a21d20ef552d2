"""The one manifest format: JSON lines, compatible with NeMo's.

Each line holds ``audio_filepath`` (absolute, or relative to the manifest's folder),
``duration`` (seconds) and ``text``, plus optional fields (``phonemes``, ``durations``,
``speaker``, ``midi_filepath``, ...) that other tasks use.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from speechzoo.errors import DataError
from speechzoo.files import atomic_path

REQUIRED_FIELDS = ("audio_filepath", "duration")


def read_manifest(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read a JSONL manifest; relative audio paths are resolved against its folder.

    Raises:
        DataError: if the file is missing, a line is not JSON, or a required field is absent.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"manifest {path} does not exist: prepare the corpus first "
                        "(`speechzoo prepare NAME`) or fix the path in the recipe")
    entries = []
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{line_no}: not valid JSON ({e.msg}); each line of a "
                                "manifest must be one JSON object") from None
            missing = [k for k in REQUIRED_FIELDS if k not in entry]
            if missing:
                raise DataError(f"{path}:{line_no}: missing field(s) {missing}; every entry "
                                f"needs {list(REQUIRED_FIELDS)}")
            audio = Path(entry["audio_filepath"])
            if not audio.is_absolute():
                entry["audio_filepath"] = str(path.parent / audio)
            entries.append(entry)
    if not entries:
        raise DataError(f"manifest {path} holds no entries")
    return entries


def write_manifest(path: str | os.PathLike, entries: Iterable[dict[str, Any]],
                   relative_to: str | os.PathLike | None = None) -> Path:
    """Write entries as JSON lines, atomically (a temporary file renamed into place).

    Args:
        path: where the manifest goes.
        entries: dicts with at least ``audio_filepath`` and ``duration``.
        relative_to: if given, audio paths under this folder are written relative to it, so the
            corpus folder can be moved as a whole.
    """
    path = Path(path)
    base = Path(relative_to).resolve() if relative_to is not None else None
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as f:
        for entry in entries:
            entry = dict(entry)
            if base is not None:
                audio = Path(entry["audio_filepath"]).resolve()
                if audio.is_relative_to(base):
                    entry["audio_filepath"] = str(audio.relative_to(base))
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
    return path
