"""Onsets and Frames training: the debug recipe trains, validates with note metrics, exports a
bundle that loads and transcribes, and the CLI writes a MIDI and a piano roll."""

from __future__ import annotations

import math

import pretty_midi
import pytest
import torch

import speechzoo
from speechzoo.checkpoints import read_checkpoint
from speechzoo.cli import main
from speechzoo.data.manifest import read_manifest
from speechzoo.errors import ConfigError
from speechzoo.models.onsets_frames import OnsetsAndFrames
from speechzoo.pipelines import export
from speechzoo.tasks.piano import PianoTask, crop_frames
from tests.recipe_runs import metric_column

pytestmark = pytest.mark.usefixtures("one_thread")


def test_debug_recipe_trains_and_logs_note_metrics(piano_run):
    losses = metric_column(piano_run, "train/loss")
    assert len(losses) == 12 and all(math.isfinite(v) for v in losses)
    for key in ("val/note_f1", "val/note_offset_f1", "val/frame_f1", "val/onset"):
        values = metric_column(piano_run, key)
        assert values and all(0.0 <= v < math.inf for v in values), key
    assert list((piano_run / "logs").glob("version_*/plots/step*_roll.png"))


def test_checkpoint_is_a_piano_bundle(piano_run):
    header = read_checkpoint(piano_run / "ckpt" / "last.ckpt")["speechzoo"]
    assert header["task"] == "piano"
    assert set(header["frontend"]["thresholds"]) == {"onset", "frame", "offset"}
    assert header["networks"]["transcriber"]["args"]["n_mels"] == 229


def test_export_load_transcribe(piano_run, tiny_piano_corpus, tmp_path):
    bundle = export(piano_run / "ckpt" / "last.ckpt", tmp_path / "of")
    piano = speechzoo.load(bundle, device="cpu")
    entry = read_manifest(tiny_piano_corpus / "test.jsonl")[0]
    midi = piano.transcribe(entry["audio_filepath"])
    assert isinstance(midi, pretty_midi.PrettyMIDI)
    assert all(21 <= n.pitch <= 108 for i in midi.instruments for n in i.notes)
    assert all(n.end <= entry["duration"] + 0.1 for i in midi.instruments for n in i.notes)


def test_cli_writes_midi_and_plot(piano_run, tiny_piano_corpus, tmp_path, capsys):
    bundle = export(piano_run / "ckpt" / "last.ckpt", tmp_path / "of")
    entry = read_manifest(tiny_piano_corpus / "test.jsonl")[0]
    out, plot = tmp_path / "out.mid", tmp_path / "roll.png"
    main(["transcribe-piano", "--model", str(bundle), entry["audio_filepath"], "-o", str(out),
          "--plot", str(plot), "--onset-threshold", "0.3", "--device", "cpu"])
    assert pretty_midi.PrettyMIDI(str(out)) and plot.stat().st_size > 1000
    assert capsys.readouterr().out.startswith(f"{out}\t")


def test_cli_refuses_an_absurd_threshold_and_writes_nothing(piano_run, tiny_piano_corpus,
                                                           tmp_path, capsys):
    bundle = export(piano_run / "ckpt" / "last.ckpt", tmp_path / "of")
    entry = read_manifest(tiny_piano_corpus / "test.jsonl")[0]
    with pytest.raises(SystemExit) as e:
        main(["transcribe-piano", "--model", str(bundle), entry["audio_filepath"], "-o",
              str(tmp_path / "out.mid"), "--frame-threshold", "7", "--device", "cpu"])
    assert e.value.code == 2 and "threshold" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.mid"))


def test_front_end_mismatch_is_a_config_error():
    with pytest.raises(ConfigError, match="n_mels"):
        PianoTask(OnsetsAndFrames(n_mels=80, conv_channels=(4, 4, 8), fc_size=8, lstm_size=4))


def test_crop_frames_cuts_mels_and_labels_alike():
    t = torch.arange(20.0)
    mels = t.expand(2, 3, 20).clone()
    labels = {"frame": t[None, :, None].expand(2, 20, 88).clone()}
    frames = torch.tensor([20, 12])
    m, lab, n = crop_frames(mels, labels, frames, 8, torch.Generator().manual_seed(0))
    assert m.shape == (2, 3, 8) and lab["frame"].shape == (2, 8, 88)
    assert torch.equal(m[:, 0, :], lab["frame"][:, :, 0])  # the same window
    assert n.tolist() == [8, 8] and int(m[1, 0, -1]) < 12  # inside the shorter clip
