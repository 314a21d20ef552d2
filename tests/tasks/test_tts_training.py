"""nat_debug.yaml: train a few steps on a tiny synth-tts-en -> the loss falls and plots are
written -> the checkpoint exports, loads and speaks -> training resumes from it."""

from pathlib import Path

import numpy as np
import pytest
import torch

import speechzoo
from speechzoo.pipelines import export
from speechzoo.tasks.recipes import make_cli
from tests.recipe_runs import metric_column, recipe_overrides

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.fixture(scope="module")
def trained(tiny_tts_corpus, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    make_cli(RECIPES / "nat_debug.yaml", recipe_overrides(tiny_tts_corpus, run_dir, 30))
    return run_dir


def test_loss_falls_and_plots_are_written(trained):
    losses = metric_column(trained, "train/loss")
    assert len(losses) >= 25
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])
    assert metric_column(trained, "val/duration_mae_ms")  # validated against the true durations
    names = {p.name for p in trained.glob("logs/version_*/plots/*.png")}
    assert {"step0000010_mel.png", "step0000010_alignment.png",
            "step0000010_durations.png"} <= names


def test_export_load_synthesize(trained, tmp_path):
    last = trained / "ckpt" / "last.ckpt"
    export(last, tmp_path / "bundle", RECIPES / "nat_debug.yaml")
    for source in (last, tmp_path / "bundle"):
        tts = speechzoo.load(source, device="cpu")
        audio = tts.synthesize("Hello world.", seed=3)
        assert audio.sample_rate == 22050 and audio.waveform.dtype == np.float32
        assert audio.waveform.ndim == 1 and len(audio.waveform) > 0
        assert np.abs(audio.waveform).max() <= 1.0
    again = tts.synthesize("Hello world.", seed=3)
    assert np.array_equal(audio.waveform, again.waveform)  # seeded pre-net dropout


def test_training_resumes(trained, tiny_tts_corpus):
    make_cli(RECIPES / "nat_debug.yaml", recipe_overrides(
        tiny_tts_corpus, trained, 32, "--ckpt_path", str(trained / "ckpt" / "last.ckpt")))
    ckpt = torch.load(trained / "ckpt" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 32 and ckpt["speechzoo"]["task"] == "tts"


def test_synthesize_command(trained, tmp_path, capsys):
    from speechzoo.cli import main

    last = str(trained / "ckpt" / "last.ckpt")
    out, plot = tmp_path / "hello.wav", tmp_path / "align.png"
    main(["synthesize", "--model", last, "Hello there. Bye.", "-o", str(out),
          "--plot", str(plot)])
    assert "2 sentence(s)" in capsys.readouterr().out
    import soundfile as sf

    assert sf.info(out).samplerate == 22050 and plot.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SystemExit) as stop:
        main(["synthesize", "--model", last, "   ", "-o", str(tmp_path / "no.wav")])
    assert stop.value.code == 2 and not (tmp_path / "no.wav").exists()
