"""MAPS (Emiya et al. 2010) from a local copy to piano manifests, in Onsets and Frames' split.

The layout once every ``MAPS_<piano>_*.zip`` is unzipped into one folder::

    MAPS/<piano>/MUS/MAPS_MUS-<composition>_<piano>.wav  (+ .mid, .txt)   whole pieces
    MAPS/<piano>/{ISOL,RAND,UCHO}/...                     isolated notes and chords

for nine pianos: seven synthesised (:data:`SYNTHESISED`) and two real Yamaha Disklaviers
recorded in a room (:data:`DISKLAVIER`). The split is the one of Onsets and Frames (1710.11153,
section 4, after Sigtia et al.'s "configuration 2"; magenta's MAPS script does the same): test
on the MUS pieces of the two Disklaviers, train on the MUS pieces of the synthesised pianos,
less every piece whose composition is also in the test set, so no test music is heard in
training. ISOL, RAND and UCHO are not used. Magenta's script writes no validation set; here the
training compositions whose hash falls below :data:`DEV_FRACTION` (at least one) are held out
whole, on every synthesised piano, as ``dev.jsonl``: the same ones on every machine.

As for MAESTRO (:mod:`speechzoo.data.corpora.maestro`), entries point at the original files,
train and dev ones as windows of at most ``segment_seconds``, test ones whole.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from speechzoo.audio import audio_seconds
from speechzoo.data.corpora.maestro import (
    SEGMENT_SECONDS,
    SPLITS,
    check_midi,
    segments,
    write_splits,
)
from speechzoo.errors import DataError

SYNTHESISED = ("AkPnBcht", "AkPnBsdf", "AkPnCGdD", "AkPnStgb", "SptkBGAm", "SptkBGCl",
               "StbgTGd2")
DISKLAVIER = ("ENSTDkAm", "ENSTDkCl")
DEV_FRACTION = 0.05
_ARCHIVE = "its MAPS_<piano>_*.zip archive"
_GET = ("request MAPS from Telecom Paris (adasp.telecom-paris.fr, 'MAPS database'), unzip "
        "every MAPS_<piano>_*.zip into one folder and run `speechzoo prepare maps DIR`")


def _find_root(source: str | Path) -> Path:
    source = Path(source).expanduser().resolve()
    if not source.is_dir():
        raise DataError(f"MAPS folder {source} does not exist: {_GET}")
    for root in (source, source / "MAPS"):
        if any((root / piano).is_dir() for piano in SYNTHESISED + DISKLAVIER):
            return root
    seen = ", ".join(sorted(p.name for p in source.iterdir())[:10]) or "nothing"
    raise DataError(f"no MAPS piano folders ({', '.join(SYNTHESISED + DISKLAVIER)}) in {source} "
                    f"or {source / 'MAPS'} (found: {seen}); {_GET}")


def _pieces(root: Path, piano: str) -> list[tuple[str, Path]]:
    """(composition, wav) of a piano's MUS folder, sorted."""
    folder = root / piano / "MUS"
    pieces = []
    for wav in sorted(folder.glob("*.wav")):
        match = re.fullmatch(rf"MAPS_MUS-(.+)_{piano}", wav.stem)
        if match is None:
            raise DataError(f"{wav} is not named as MAPS names its pieces "
                            f"(MAPS_MUS-<composition>_{piano}.wav); rename it so, or move it "
                            f"out of {folder}")
        pieces.append((match.group(1), wav))
    return pieces


def _scan(root: Path) -> dict[str, list[tuple[str, Path]]]:
    """Piano -> its MUS pieces, for both Disklaviers and the synthesised pianos the copy has."""
    found = {piano: _pieces(root, piano) for piano in SYNTHESISED + DISKLAVIER
             if (root / piano / "MUS").is_dir()}
    for piano in DISKLAVIER:
        if not found.get(piano):
            raise DataError(f"no {piano}/MUS/*.wav in {root}: the test set is the MUS pieces of "
                            f"both Disklaviers ({' and '.join(DISKLAVIER)}); unzip "
                            f"MAPS_{piano}_*.zip there")
    synthesised = [piano for piano in SYNTHESISED if found.get(piano)]
    if not synthesised:
        raise DataError(f"no <piano>/MUS/*.wav of a synthesised piano ({', '.join(SYNTHESISED)}) "
                        f"in {root}: training needs them; unzip their MAPS_<piano>_*.zip there")
    if len(synthesised) < len(SYNTHESISED):
        print(f"maps: training on {len(synthesised)} of the {len(SYNTHESISED)} synthesised "
              f"pianos (missing: {', '.join(sorted(set(SYNTHESISED) - set(synthesised)))})")
    return {piano: found[piano] for piano in synthesised + list(DISKLAVIER)}


def _position(composition: str) -> float:
    """Where a composition id hashes to in [0, 1)."""
    return int.from_bytes(hashlib.sha256(composition.encode()).digest()[:8], "big") / 2 ** 64


def dev_compositions(compositions: Iterable[str]) -> set[str]:
    """The training compositions held out for dev: those hashing below :data:`DEV_FRACTION`,
    or the one closest to it if none does (none of a single composition)."""
    order = sorted(set(compositions), key=_position)
    n_dev = max(1, sum(_position(c) < DEV_FRACTION for c in order)) if len(order) > 1 else 0
    return set(order[:n_dev])


def assign_splits(pieces: dict[str, list[tuple[str, Path]]]) -> dict[Path, str]:
    """wav -> "train" | "dev" | "test", as the module docstring says; the pieces of the
    synthesised pianos whose composition the Disklaviers play are left out."""
    test = {c for piano in DISKLAVIER for c, _ in pieces[piano]}
    synthesised = [(c, wav) for piano, found in pieces.items() if piano not in DISKLAVIER
                   for c, wav in found if c not in test]
    dev = dev_compositions(c for c, _ in synthesised)
    splits = {wav: "test" for piano in DISKLAVIER for _, wav in pieces[piano]}
    splits.update({wav: "dev" if c in dev else "train" for c, wav in synthesised})
    return splits


def _entry(wav: Path, composition: str) -> dict[str, Any]:
    piano = wav.parent.parent.name
    midi = wav.with_suffix(".mid")
    if not midi.is_file():
        raise DataError(f"{wav} has no {midi.name} beside it; the copy is incomplete - unzip "
                        f"MAPS_{piano}_*.zip again")
    entry = {"audio_filepath": str(wav), "duration": audio_seconds(wav, _ARCHIVE),
             "midi_filepath": str(midi), "piece": wav.stem, "source": f"maps-{piano}",
             "composition": composition}
    check_midi(midi, f"replace it from {_ARCHIVE}")
    return entry


def prepare_maps(source: str | Path, out: str | Path | None = None,
                 segment_seconds: float = SEGMENT_SECONDS) -> dict[str, Path]:
    """Write ``train|dev|test.jsonl`` piano manifests (speechzoo/data/piano.py) for a local
    MAPS copy, in the split of the module docstring.

    Each entry: ``audio_filepath`` and ``midi_filepath`` (absolute paths of the originals),
    ``duration`` (seconds: of the window for train and dev, of the whole piece for test),
    ``offset`` (train and dev: where the window starts), ``piece`` (the file name without
    suffix), ``source`` (``"maps-<piano>"``) and ``composition``. Nothing is written unless
    every piece checks out.

    Args:
        source: the folder holding the piano folders, or the folder holding ``MAPS/``.
        out: where the manifests go; defaults to the folder of the piano folders.
        segment_seconds: longest train/dev window (0: whole pieces).

    Returns:
        Split name -> manifest path.

    Raises:
        DataError: if a Disklavier's or every synthesised piano's MUS pieces are missing, a
            piece is misnamed, lacks its MIDI, its WAV cannot be read or its MIDI does not
            parse, or ``out`` cannot be written.
        ConfigError: for a ``segment_seconds`` below 0.1 other than 0.
    """
    segments({"duration": 1.0}, segment_seconds)  # a bad option fails before the scan
    root = _find_root(source)
    pieces = _scan(root)
    splits = assign_splits(pieces)
    composition = {wav: c for found in pieces.values() for c, wav in found}
    entries: dict[str, list[dict[str, Any]]] = {split: [] for split in SPLITS}
    for wav, split in tqdm(splits.items(), desc="maps", unit="piece"):
        entry = _entry(wav, composition[wav])
        entries[split] += [entry] if split == "test" else segments(entry, segment_seconds)
    left_out = sum(len(found) for found in pieces.values()) - len(splits)
    print(f"maps: {left_out} synthesised piece(s) of test compositions left out of training")
    return write_splits(Path(out) if out is not None else root, entries, "maps")


def prepare(source: str | Path, out: str | Path | None = None,
            segment_seconds: float = SEGMENT_SECONDS) -> Path:
    """The corpus registry's entry point (``speechzoo prepare maps DIR``); returns the folder
    of the manifests."""
    return prepare_maps(source, out, segment_seconds)["test"].parent
