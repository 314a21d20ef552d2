"""prepare_maps on tiny fake MAPS copies built in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from speechzoo.data.corpora import prepare
from speechzoo.data.corpora.maps import DEV_FRACTION, dev_compositions, prepare_maps
from speechzoo.data.manifest import read_manifest
from speechzoo.errors import DataError
from tests.data.test_maestro import write_performance

# piano -> compositions of its MUS folder; the Disklaviers play chpn-p19 and mz_331_3
PIECES = {
    "AkPnBcht": ["alb_se3", "chpn-p19", "bk_xmas1", "liz_et6", "mz_331_3", "grieg_butterfly"],
    "SptkBGCl": ["alb_se3", "mz_331_3", "schu_143_2", "deb_clai"],
    "ENSTDkAm": ["chpn-p19"],
    "ENSTDkCl": ["mz_331_3", "bk_xmas1"],
}
SECONDS = 1.2


def _build(base: Path, pieces: dict = PIECES) -> Path:
    root = base / "MAPS"
    for piano, compositions in pieces.items():
        for composition in compositions:
            stem = root / piano / "MUS" / f"MAPS_MUS-{composition}_{piano}"
            write_performance(stem.with_suffix(".wav"), stem.with_suffix(".mid"), SECONDS)
            stem.with_suffix(".txt").write_text("OnsetTime\tOffsetTime\tMidiPitch\n")
        isolated = root / piano / "ISOL" / "NO" / f"MAPS_ISOL_NO_F_S0_M60_{piano}"
        write_performance(isolated.with_suffix(".wav"), isolated.with_suffix(".mid"), 0.3)
    return root


def _read(folder: Path, split: str) -> list[dict]:
    return read_manifest(folder / f"{split}.jsonl",
                         required=("audio_filepath", "duration", "midi_filepath", "piece",
                                   "source", "composition"))


def test_the_onsets_and_frames_split(tmp_path, capsys):
    root = _build(tmp_path)
    written = prepare_maps(tmp_path, segment_seconds=0.5)  # the folder holding MAPS/
    assert written == {s: root / f"{s}.jsonl" for s in ("train", "dev", "test")}
    train, dev, test = (_read(root, s) for s in ("train", "dev", "test"))
    assert sorted(e["piece"] for e in test) == ["MAPS_MUS-bk_xmas1_ENSTDkCl",
                                                "MAPS_MUS-chpn-p19_ENSTDkAm",
                                                "MAPS_MUS-mz_331_3_ENSTDkCl"]
    assert {e["source"] for e in test} == {"maps-ENSTDkAm", "maps-ENSTDkCl"}
    assert all("offset" not in e and e["duration"] == SECONDS for e in test)
    entry = next(e for e in test if e["source"] == "maps-ENSTDkAm")
    assert entry["audio_filepath"] == str(root / "ENSTDkAm/MUS/MAPS_MUS-chpn-p19_ENSTDkAm.wav")
    assert entry["midi_filepath"] == str(root / "ENSTDkAm/MUS/MAPS_MUS-chpn-p19_ENSTDkAm.mid")
    assert entry["composition"] == "chpn-p19"
    # training: synthesised pianos only, no test composition, no ISOL; dev: whole compositions
    learnt = train + dev
    assert {e["source"] for e in learnt} == {"maps-AkPnBcht", "maps-SptkBGCl"}
    assert {e["composition"] for e in learnt} == {"alb_se3", "liz_et6", "grieg_butterfly",
                                                  "schu_143_2", "deb_clai"}
    assert dev and not {e["composition"] for e in dev} & {e["composition"] for e in train}
    assert not any("ISOL" in e["audio_filepath"] for e in learnt)
    # 1.2 s in windows of at most 0.5 s: 3 of 0.4 s per piece, all the audio covered
    pieces = {e["piece"] for e in learnt}
    assert len(learnt) == 3 * len(pieces) == 3 * 6
    for piece in pieces:
        windows = sorted((e["offset"], e["duration"]) for e in learnt if e["piece"] == piece)
        assert windows == [(0.0, 0.4), (0.4, 0.4), (0.8, 0.4)]
    out = capsys.readouterr().out
    assert "4 synthesised piece(s) of test compositions left out" in out
    assert "training on 2 of the 7 synthesised pianos" in out


def test_dev_holds_a_stable_few_compositions():
    compositions = [f"piece_{i}" for i in range(2000)]
    dev = dev_compositions(compositions)
    assert abs(len(dev) / len(compositions) - DEV_FRACTION) < 0.02
    assert dev_compositions(reversed(compositions)) == dev
    part = compositions[:1000]  # a composition's split does not depend on the others
    assert dev_compositions(part) == dev & set(part)
    assert len(dev_compositions(["a", "b"])) == 1 and not dev_compositions(["a"])


def test_registry_entry_point(tmp_path):
    _build(tmp_path / "copy")
    folder = prepare("maps", tmp_path / "copy" / "MAPS", tmp_path / "out", segment_seconds=0)
    assert folder == tmp_path / "out"
    assert not list((tmp_path / "copy" / "MAPS").glob("*.jsonl"))
    assert all("offset" not in e for s in ("train", "dev") for e in _read(folder, s))


def test_no_maps_folder(tmp_path):
    with pytest.raises(DataError, match=r"does not exist.*MAPS database"):
        prepare_maps(tmp_path / "nowhere")
    (tmp_path / "notes").mkdir()
    with pytest.raises(DataError, match=r"no MAPS piano folders .*found: notes"):
        prepare_maps(tmp_path)


def test_a_missing_disklavier_or_no_synthesised_piano(tmp_path):
    _build(tmp_path / "a", {k: v for k, v in PIECES.items() if k != "ENSTDkCl"})
    with pytest.raises(DataError, match=r"no ENSTDkCl/MUS/\*\.wav .*unzip MAPS_ENSTDkCl_"):
        prepare_maps(tmp_path / "a")
    _build(tmp_path / "b", {k: PIECES[k] for k in ("ENSTDkAm", "ENSTDkCl")})
    with pytest.raises(DataError, match=r"synthesised piano .*training needs them"):
        prepare_maps(tmp_path / "b")


@pytest.mark.parametrize("damage, message", [
    (lambda mus: (mus / "MAPS_MUS-liz_et6_AkPnBcht.mid").unlink(),
     r"MAPS_MUS-liz_et6_AkPnBcht\.wav has no MAPS_MUS-liz_et6_AkPnBcht\.mid beside it"),
    (lambda mus: (mus / "MAPS_MUS-liz_et6_AkPnBcht.wav").write_bytes(b"RIFF junk"),
     r"cannot read audio .*liz_et6_AkPnBcht\.wav"),
    (lambda mus: (mus / "MAPS_MUS-liz_et6_AkPnBcht.mid").write_bytes(b"MThd no"),
     r"cannot read MIDI file .*liz_et6_AkPnBcht\.mid .*damaged"),
    (lambda mus: (mus / "MAPS_MUS-liz_et6_AkPnBcht.wav").rename(mus / "liz_et6.wav"),
     r"liz_et6\.wav is not named as MAPS names its pieces"),
])
def test_a_damaged_copy_names_the_file_and_writes_nothing(tmp_path, damage, message):
    root = _build(tmp_path)
    damage(root / "AkPnBcht" / "MUS")
    with pytest.raises(DataError, match=message):
        prepare_maps(root)
    assert not list(root.glob("*.jsonl")) and not list(root.glob(".*"))
