"""MAESTRO (magenta.tensorflow.org/datasets/maestro) from a local copy to piano manifests.

The layout as distributed (``maestro-v3.0.0.zip``; v1.0.0 and v2.0.0 alike)::

    maestro-v3.0.0/maestro-v3.0.0.json   the metadata (also as .csv): per performance
        canonical_composer, canonical_title, split (train|validation|test), year,
        midi_filename, audio_filename ("2018/MIDI-Unprocessed_...wav"), duration
    maestro-v3.0.0/2018/...midi, ...wav  44.1-48 kHz stereo WAV; MIDI with the pedals

v1/v2's JSON is a list of rows; v3's is one object of columns (``{"split": {"0": ...}}``);
the CSV has a header row. The split is MAESTRO's own (1810.12247, section 3: no composition
is in two splits); "validation" becomes ``dev.jsonl``.

Nothing is copied or converted: entries point at the original files and the piano dataset
decodes only the window it needs, resampled on the fly. Training and dev performances are cut
into windows of at most ``segment_seconds`` (``offset`` and ``duration`` into both files), as
Onsets and Frames cuts its training audio to at most 20 s (1710.11153; it cuts at silences,
equal windows do here: a note sounding across a cut is labelled frames without an onset in the
later window); test performances stay whole, for per-piece metrics. :func:`segments`,
:func:`check_midi` and :func:`write_splits` serve the MAPS preparer too.
"""

from __future__ import annotations

import csv
import json
import math
import re
import warnings
from pathlib import Path
from typing import Any

from tqdm import tqdm

from speechzoo.audio import audio_seconds
from speechzoo.data.manifest import write_manifest
from speechzoo.errors import ConfigError, DataError

SPLITS = ("train", "dev", "test")
SEGMENT_SECONDS = 20.0
_SPLIT = {"train": "train", "validation": "dev", "test": "test"}
_FIELDS = ("split", "year", "midi_filename", "audio_filename")
_ARCHIVE = "the MAESTRO archive (magenta.tensorflow.org/datasets/maestro)"
_DOWNLOAD = ("download maestro-v3.0.0.zip from magenta.tensorflow.org/datasets/maestro, unzip "
             "it and run `speechzoo prepare maestro DIR`")


def segments(entry: dict[str, Any], seconds: float) -> list[dict[str, Any]]:
    """``entry`` cut into the fewest equal windows of at most ``seconds`` (whole if 0), each
    with ``offset`` and ``duration`` (milliseconds exact, together covering the file)."""
    if seconds < 0 or (0 < seconds < 0.1) or not math.isfinite(seconds):
        raise ConfigError(f"segment_seconds must be 0 (whole pieces) or at least 0.1, got "
                          f"{seconds}; the papers use 20 (`--segment_seconds 20`)")
    if seconds == 0:
        return [entry]
    total = round(entry["duration"] * 1000)
    n = max(1, math.ceil(total / round(seconds * 1000)))
    bounds = [round(i * total / n) for i in range(n + 1)]
    return [{**entry, "offset": a / 1000, "duration": (b - a) / 1000}
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def check_midi(path: Path, fix: str) -> None:
    """Raise DataError (saying ``fix``) unless ``path`` parses as MIDI, as the labels will."""
    import pretty_midi

    try:
        with warnings.catch_warnings():  # pretty_midi warns about harmless tempo events
            warnings.simplefilter("ignore")
            pretty_midi.PrettyMIDI(str(path))
    except Exception as e:  # mido/pretty_midi raise bare Exceptions, OSErrors, ValueErrors
        raise DataError(f"cannot read MIDI file {path} ({e}); the file is damaged - {fix}"
                        ) from None


def write_splits(out: Path, entries: dict[str, list[dict[str, Any]]], corpus: str
                 ) -> dict[str, Path]:
    """Write ``<split>.jsonl`` for each split with entries (each file atomically); a split
    the copy has nothing for is said, not written."""
    written = {}
    for split in SPLITS:
        if not entries[split]:
            print(f"{corpus}: the copy has no {split} pieces; {split}.jsonl not written")
            continue
        try:
            written[split] = write_manifest(out / f"{split}.jsonl", entries[split])
        except OSError as e:
            raise DataError(f"cannot write the manifests to {out} ({e}); choose a folder you "
                            f"can write: out=DIR (`speechzoo prepare {corpus} SOURCE --out DIR`)"
                            ) from None
    return written


def _version(path: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path.stem))


def find_metadata(source: str | Path) -> Path:
    """The metadata file of the copy at ``source`` (or in a ``maestro-v*`` folder in it): the
    newest version's, its JSON before its CSV (both hold the same rows)."""
    source = Path(source).expanduser().resolve()
    if not source.is_dir():
        raise DataError(f"MAESTRO folder {source} does not exist: {_DOWNLOAD}")
    for root in (source, *sorted(p for p in source.glob("maestro-v*") if p.is_dir())):
        found = [p for p in root.glob("maestro-v*.*") if p.suffix in (".json", ".csv")]
        if found:
            return max(found, key=lambda p: (_version(p), p.suffix == ".json"))
    seen = ", ".join(sorted(p.name for p in source.iterdir())[:10]) or "nothing"
    raise DataError(f"no maestro-v*.json or maestro-v*.csv in {source} (found: {seen}); point "
                    f"at the folder holding the metadata and the year folders, or {_DOWNLOAD}")


def _rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as f:
            return list(csv.DictReader(f))
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path} is not valid JSON ({e}); the file is damaged - take it from "
                        f"{_ARCHIVE} again") from None
    if isinstance(data, dict) and all(isinstance(c, dict) for c in data.values()):
        index = next(iter(data.values()), {})  # v3: columns keyed by row number
        return [{name: column.get(i) for name, column in data.items()} for i in index]
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        return data
    raise DataError(f"{path} holds neither a list of rows (v1, v2) nor an object of columns "
                    f"(v3); take it from {_ARCHIVE} again")


def read_metadata(path: Path) -> list[dict[str, Any]]:
    """MAESTRO's metadata rows (v1/v2/v3 JSON or CSV), checked: each has the fields the
    manifests need, a known split, and names a performance no other row names."""
    rows, seen = _rows(path), set()
    for i, row in enumerate(rows, 1):
        missing = [k for k in _FIELDS if not str(row.get(k) or "").strip()]
        if missing:
            raise DataError(f"{path}: row {i} has no {missing}; every row needs {list(_FIELDS)}"
                            f" - take the file from {_ARCHIVE} again")
        if row["split"] not in _SPLIT:
            raise DataError(f"{path}: row {i} has split {row['split']!r}; MAESTRO's splits are "
                            f"{sorted(_SPLIT)}")
        if row["audio_filename"] in seen:
            raise DataError(f"{path}: row {i} lists {row['audio_filename']} again; keep one row")
        seen.add(row["audio_filename"])
    if not rows:
        raise DataError(f"{path} lists no performances; take it from {_ARCHIVE} again")
    return rows


def _entry(root: Path, meta: Path, row: dict[str, Any]) -> dict[str, Any]:
    audio, midi = root / row["audio_filename"], root / row["midi_filename"]
    for name, file in ((row["audio_filename"], audio), (row["midi_filename"], midi)):
        if not file.is_file():
            raise DataError(f"{meta} lists {name}, but {file} does not exist; "
                            "the copy is incomplete - unzip the archive (and, for v1/v2, its "
                            f"audio) again, or drop the row from {meta.name} for a partial copy")
    entry = {"audio_filepath": str(audio), "duration": audio_seconds(audio, _ARCHIVE),
             "midi_filepath": str(midi), "piece": str(Path(row["audio_filename"]).with_suffix("")),
             "source": f"maestro-{row['year']}",
             "composer": row.get("canonical_composer"), "title": row.get("canonical_title")}
    check_midi(midi, f"replace it from {_ARCHIVE}")
    return entry


def prepare_maestro(source: str | Path, out: str | Path | None = None,
                    segment_seconds: float = SEGMENT_SECONDS) -> dict[str, Path]:
    """Write ``train|dev|test.jsonl`` piano manifests (speechzoo/data/piano.py) for a local
    MAESTRO copy, in MAESTRO's split.

    Each entry: ``audio_filepath`` and ``midi_filepath`` (absolute paths of the originals),
    ``duration`` (seconds: of the window for train and dev, of the whole recording for test),
    ``offset`` (train and dev: where the window starts), ``piece`` (the audio file's path in
    the copy, without its suffix), ``source`` (``"maestro-YEAR"``: the year's recording
    setup), ``composer`` and ``title``. Nothing is written unless every row checks out.

    Args:
        source: the folder holding ``maestro-v*.json`` (or .csv) and the year folders, or the
            folder holding that one.
        out: where the manifests go; defaults to the folder of the metadata.
        segment_seconds: longest train/dev window (0: whole performances).

    Returns:
        Split name -> manifest path, for the splits the copy has.

    Raises:
        DataError: if the metadata is missing or malformed, a listed file is missing, a WAV
            cannot be read, a MIDI file does not parse, or ``out`` cannot be written.
        ConfigError: for a ``segment_seconds`` below 0.1 other than 0.
    """
    segments({"duration": 1.0}, segment_seconds)  # a bad option fails before the long scan
    meta = find_metadata(source)
    rows = read_metadata(meta)
    entries: dict[str, list[dict[str, Any]]] = {split: [] for split in SPLITS}
    shorter = 0
    for row in tqdm(rows, desc="maestro", unit="piece"):
        entry, split = _entry(meta.parent, meta, row), _SPLIT[row["split"]]
        listed = float(row.get("duration") or 0)
        shorter += entry["duration"] < listed - 1.0
        entries[split] += [entry] if split == "test" else segments(entry, segment_seconds)
    if shorter:
        print(f"maestro: {shorter} recording(s) shorter than {meta.name} says; their entries "
              "cover the audio there is")
    return write_splits(Path(out) if out is not None else meta.parent, entries, "maestro")


def prepare(source: str | Path, out: str | Path | None = None,
            segment_seconds: float = SEGMENT_SECONDS) -> Path:
    """The corpus registry's entry point (``speechzoo prepare maestro DIR``); returns the
    folder of the manifests."""
    written = prepare_maestro(source, out, segment_seconds)
    return next(iter(written.values())).parent
