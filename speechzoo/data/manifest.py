"""The one manifest format: JSON lines, compatible with NeMo's.

Each line holds ``audio_filepath`` (absolute, or relative to the manifest's folder, as is
every ``*_filepath`` field),
``duration`` (seconds) and ``text``, plus optional fields (``phonemes``, ``durations``,
``speaker``, ``midi_filepath``, ...) that other tasks use.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from speechzoo.errors import DataError
from speechzoo.files import atomic_path

REQUIRED_FIELDS = ("audio_filepath", "duration")


def read_manifest(path: str | os.PathLike, required: Sequence[str] = REQUIRED_FIELDS,
                  ) -> list[dict[str, Any]]:
    """Read a JSONL manifest; relative audio paths are resolved against its folder.

    Args:
        path: the manifest.
        required: fields every line must have (each task asks for its own, e.g. ``text``).

    Raises:
        DataError: if the file is missing, a line is not a JSON object, or a required field is
            absent (naming the file and line).
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
            if not isinstance(entry, dict):
                raise DataError(f"{path}:{line_no}: not a JSON object; each line of a manifest "
                                "must be one object such as {\"audio_filepath\": ...}")
            missing = [k for k in required if k not in entry]
            if missing:
                raise DataError(f"{path}:{line_no}: missing field(s) {missing}; every entry "
                                f"needs {list(required)}")
            for key in [k for k in entry if k.endswith("_filepath")]:
                if not Path(entry[key]).is_absolute():
                    entry[key] = str(path.parent / entry[key])
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
            for key in [k for k in entry if k.endswith("_filepath") and base is not None]:
                file = Path(entry[key]).resolve()
                if file.is_relative_to(base):
                    entry[key] = str(file.relative_to(base))
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
    return path
