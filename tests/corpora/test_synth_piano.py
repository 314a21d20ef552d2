"""The embedded piano corpus: a tiny one builds, splits hold apart, reserved works stay out."""

import json
from pathlib import Path

import numpy as np
import pytest

from speechzoo.data.corpora import synth_piano
from speechzoo.data.manifest import read_manifest
from speechzoo.data.piano import PianoDataset
from speechzoo.errors import DataError

# The reserved list of the project's notes (helper_common.md): the corpus must never read these.
RESERVED = {"bach/bwv846", "mozart/k545", "joplin/maple_leaf_rag", "chopin/mazurka06-2",
            "schumann_clara/polonaise_op1n1", "cpebach/h186", "schoenberg/opus19",
            "schubert/Lindenbaum", "bach/bwv269", "haydn/opus74no1", "beethoven/opus18no1",
            "leadSheet/fosterBrownHair"}

def test_the_reserved_works_are_never_chosen():
    assert set(synth_piano.RESERVED_WORKS) == RESERVED
    works = synth_piano.music21_works()
    assert len(works) > 1000
    stems = {w.rsplit(".", 1)[0] for w in works}
    for reserved in RESERVED:
        assert not any(s == reserved or s.startswith(reserved + "/") for s in stems), reserved
    assert synth_piano.is_reserved("beethoven/opus18no1/movement2.krn")
    assert not synth_piano.is_reserved("bach/bwv2690.mxl")
    assert len({"bach/bwv69.6.xml", "bach/bwv69.6-a.mxl"} & set(works)) == 1  # one version
    chosen = synth_piano.choose_works(works, seed=0, pieces=len(works), dev=10, test=10)
    everything = [w for split in chosen.values() for w in split]
    assert len(everything) == len(set(everything)) == len(works)  # disjoint, all used


def test_a_tiny_corpus_builds_with_labels_and_held_out_pieces(tiny_piano_corpus):
    pieces = {}
    for split in synth_piano.SPLITS:
        entries = read_manifest(tiny_piano_corpus / f"{split}.jsonl", PianoDataset.required)
        ds = PianoDataset(entries, source=split)
        pieces[split] = {e["piece"] for e in entries}
        frames = sum(float(ds[i]["frame"].sum()) for i in range(len(ds)))
        onsets = sum(float(ds[i]["onset"].sum()) for i in range(len(ds)))
        assert frames > 0 and onsets > 0, split
        for entry in entries:
            assert Path(entry["audio_filepath"]).is_file() and entry["duration"] > 0
    assert pieces["test"] == pieces["test-unseen"] and len(pieces["test"]) == 2
    assert not pieces["train"] & pieces["dev"] and not pieces["train"] & pieces["test"]
    assert not pieces["dev"] & pieces["test"]
    assert "generated/0000" in pieces["train"] and len(pieces["dev"]) == 2
    summary = json.loads((tiny_piano_corpus / "corpus.json").read_text())
    assert summary["splits"]["test-unseen"]["sources"][0].startswith("timidity:freepats")
    assert all(s.startswith("fluidsynth:") for split in ("train", "dev", "test")
               for s in summary["splits"][split]["sources"])
    assert summary["skipped"] == [] and summary["settings"]["seed"] == 1
    assert "FluidR3" not in json.dumps(summary["renderers"])


def test_train_windows_tile_each_piece(tiny_piano_corpus):
    entries = read_manifest(tiny_piano_corpus / "train.jsonl", PianoDataset.required)
    first = [e for e in entries if e["piece"] == entries[0]["piece"]]
    assert first[0]["offset"] == 0.0
    for a, b in zip(first[:-1], first[1:], strict=True):
        assert b["offset"] == pytest.approx(a["offset"] + a["duration"], abs=2e-3)


def test_generated_exercises_span_the_keyboard_and_velocities():
    notes = [synth_piano.generated_piece(np.random.default_rng(i), 60.0).notes for i in range(12)]
    pitch = np.concatenate([n.pitch for n in notes])
    velocity = np.concatenate([n.velocity for n in notes])
    assert pitch.min() <= 25 and pitch.max() >= 104 and velocity.min() <= 10
    assert velocity.max() >= 120
    for n in notes:  # a key is never struck while it still sounds
        for p in np.unique(n.pitch):
            on, off = n.onset[n.pitch == p], n.offset[n.pitch == p]
            assert (off[:-1] <= on[1:] + 1e-9).all()


def test_missing_synthesisers_say_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(synth_piano.shutil, "which", lambda name: None)
    with pytest.raises(DataError, match="apt-get install fluidsynth timidity freepats"):
        synth_piano.prepare_synth_piano(tmp_path / "p", pieces=1, generated=0)
    assert not (tmp_path / "p").exists()
