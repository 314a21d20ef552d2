"""Corpora: the embedded ones speechzoo generates, and preparers for public ones on disk.

Each prepared corpus is a folder of ``<split>.jsonl`` manifests (plus audio).
"""

from __future__ import annotations

import os
from pathlib import Path

from speechzoo.errors import DataError

EMBEDDED = ("synth-en",)
PREPARERS = ("synth-en", "librispeech")


def data_root() -> Path:
    """Where corpora are generated: ``$SPEECHZOO_DATA`` or ``~/.cache/speechzoo``."""
    return Path(os.environ.get("SPEECHZOO_DATA", Path.home() / ".cache" / "speechzoo"))


def ensure_corpus(name: str, root: str | os.PathLike | None = None) -> Path:
    """The folder of embedded corpus ``name``, generated first if it is not there yet."""
    if name not in EMBEDDED:
        raise DataError(f"unknown embedded corpus {name!r}; known: {list(EMBEDDED)}. For a "
                        "corpus on disk, give its manifests instead")
    folder = Path(root) if root is not None else data_root() / name
    if not (folder / "train.jsonl").is_file():
        prepare(name, out=folder)
    return folder


def prepare(name: str, source: str | os.PathLike | None = None,
            out: str | os.PathLike | None = None, markov: int = 30000) -> Path:
    """Generate an embedded corpus or prepare one from a local copy; returns its folder.

    ``markov``: synth-en's generated training sentences (see ``prepare_synth_en``)."""
    if name == "synth-en":
        from speechzoo.data.corpora.synth_en import prepare_synth_en

        folder = Path(out) if out is not None else data_root() / name
        return prepare_synth_en(folder, markov=markov)
    if name == "librispeech":
        from speechzoo.data.corpora.librispeech import prepare_librispeech

        if source is None:
            raise DataError("`speechzoo prepare librispeech` needs the folder of your local "
                            "LibriSpeech copy: `speechzoo prepare librispeech DIR`")
        manifests = prepare_librispeech(source, out)
        return next(iter(manifests.values())).parent
    raise DataError(f"unknown corpus {name!r}; known: {list(PREPARERS)}")
