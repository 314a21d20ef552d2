"""wavenet_debug.yaml and parallel_wavenet_debug.yaml on a tiny synth-tts-en: the teacher's
likelihood rises and samples are written -> a student distilled from it lowers its loss and
logs every term -> its bundle holds no teacher -> a mu-law teacher is refused -> the
contrastive and perceptual terms switch on -> both runs resume. The two runs are the session
fixtures ``wavenet_run`` and ``parallel_wavenet_run`` (tests/conftest.py)."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from speechzoo.errors import ConfigError
from speechzoo.pipelines import export
from speechzoo.tasks.recipes import make_cli
from tests.recipe_runs import metric_column, recipe_overrides

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
WAVENET, PARALLEL = RECIPES / "wavenet_debug.yaml", RECIPES / "parallel_wavenet_debug.yaml"
TERMS = ("train/kl", "train/cross_entropy", "train/entropy", "train/power",
         "train/contrastive_kl")  # the debug recipe's contrastive_gamma is 0.3

pytestmark = pytest.mark.usefixtures("one_thread")


def _falls(values: list[float]) -> bool:
    return len(values) >= 25 and np.mean(values[-5:]) < np.mean(values[:5])


def test_wavenet_nll_falls_and_samples_are_written(wavenet_run):
    assert _falls(metric_column(wavenet_run, "train/nll"))
    val = metric_column(wavenet_run, "val/nll")
    assert len(val) == 5 and np.isfinite(val).all()  # a validation every 6 of 30 steps
    samples = {p.name: p for p in wavenet_run.glob("logs/version_*/samples/*")}
    assert {"step0000006.wav", "step0000006.png", "step0000030.wav", "step0000030.png"} \
        <= samples.keys()
    info = sf.info(samples["step0000030.wav"])
    assert info.samplerate == 22050 and info.frames == 4 * 256  # one segment of 4 frames
    assert samples["step0000030.png"].read_bytes()[:4] == b"\x89PNG"


def test_distillation_loss_falls_and_logs_every_term(parallel_wavenet_run):
    assert _falls(metric_column(parallel_wavenet_run, "train/loss"))
    for key in TERMS:
        values = metric_column(parallel_wavenet_run, key)
        assert len(values) == 30 and np.isfinite(values).all(), key
    assert metric_column(parallel_wavenet_run, "val/loss")
    assert list(parallel_wavenet_run.glob("logs/version_*/samples/step0000030.wav"))


def test_student_bundle_holds_no_teacher_weights(parallel_wavenet_run, tmp_path):
    last = parallel_wavenet_run / "ckpt" / "last.ckpt"
    trained = torch.load(last, weights_only=True)["state_dict"]
    assert any(k.startswith("teacher.") for k in trained)  # the checkpoint does carry it
    bundle = torch.load(export(last, tmp_path / "student", PARALLEL), weights_only=True)
    assert bundle["speechzoo"]["task"] == "vocoder"
    assert set(bundle["speechzoo"]["networks"]) == {"vocoder"}
    keys = bundle["state_dict"].keys()
    assert keys and all(k.startswith("vocoder.") for k in keys)
    assert keys == {k for k in trained if k.startswith("vocoder.")}


def test_mulaw_teacher_is_refused(tiny_tts_corpus, tmp_path):
    make_cli(WAVENET, recipe_overrides(
        tiny_tts_corpus, tmp_path / "mulaw", 1, "--model.init_args.samples", "false",
        "--model.init_args.model.init_args.output", "mulaw"))
    teacher = tmp_path / "mulaw" / "ckpt" / "last.ckpt"
    assert torch.load(teacher, weights_only=True)["speechzoo"]["networks"]["vocoder"][
        "args"]["output"] == "mulaw"
    with pytest.raises(ConfigError, match="mixture-of-logistics"):
        make_cli(PARALLEL, recipe_overrides(tiny_tts_corpus, tmp_path / "student", 1,
                                            "--model.init_args.teacher", str(teacher)))


def test_perceptual_term_switches_on(tiny_tts_corpus, wavenet_run, tmp_path):
    """perceptual_weight > 0: ds2-en's features of the student's audio against the real
    audio's (section 3.2); contrastive_gamma 0 turns the contrastive term off."""
    make_cli(PARALLEL, recipe_overrides(
        tiny_tts_corpus, tmp_path, 2, "--model.init_args.samples", "false",
        "--model.init_args.teacher", str(wavenet_run / "ckpt" / "last.ckpt"),
        "--model.init_args.perceptual_weight", "0.1",
        "--model.init_args.perceptual_model", "ds2-en",
        "--model.init_args.contrastive_gamma", "0"))
    perceptual = metric_column(tmp_path, "train/perceptual")
    assert len(perceptual) == 2 and all(np.isfinite(v) and v > 0 for v in perceptual)
    assert not metric_column(tmp_path, "train/contrastive_kl")


@pytest.mark.parametrize(("run", "recipe"), [("wavenet_run", WAVENET),
                                             ("parallel_wavenet_run", PARALLEL)])
def test_training_resumes(run, recipe, request, tiny_tts_corpus, tmp_path):
    run_dir = request.getfixturevalue(run)
    extra = ["--ckpt_path", str(run_dir / "ckpt" / "last.ckpt")]
    if recipe == PARALLEL:
        extra += ["--model.init_args.teacher",
                  str(request.getfixturevalue("wavenet_run") / "ckpt" / "last.ckpt")]
    make_cli(recipe, recipe_overrides(tiny_tts_corpus, tmp_path, 32, *extra))
    ckpt = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 32 and ckpt["speechzoo"]["task"] == "vocoder"
    assert len(metric_column(tmp_path, "train/nll" if recipe == WAVENET else "train/loss")) == 2
