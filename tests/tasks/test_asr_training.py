"""Train the debug recipe a few steps -> the loss falls -> the checkpoint loads and
transcribes -> training resumes from it."""

import csv
from pathlib import Path

import pytest

import speechzoo
from speechzoo.data.manifest import read_manifest
from speechzoo.decoding.ctc import greedy_transcripts
from speechzoo.pipelines import export
from speechzoo.tasks.recipes import make_cli

RECIPES = Path(__file__).resolve().parents[2] / "recipes"



def _overrides(corpus, run_dir, steps):
    return ["--data.init_args.root", str(corpus), "--trainer.max_steps", str(steps),
            "--trainer.logger.init_args.save_dir", str(run_dir),
            "--trainer.callbacks", "lightning.pytorch.callbacks.ModelCheckpoint",
            "--trainer.callbacks.dirpath", str(run_dir / "ckpt"),
            "--trainer.callbacks.save_last", "true", "--trainer.enable_progress_bar", "false"]


@pytest.fixture(scope="module")
def trained(tiny_corpus, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    cli = make_cli(RECIPES / "ds2_debug.yaml", _overrides(tiny_corpus, run_dir, 40))
    return cli, run_dir


def test_loss_goes_down(trained):
    _, run_dir = trained
    (metrics,) = run_dir.glob("logs/version_*/metrics.csv")
    losses = [float(r["train/loss"]) for r in csv.DictReader(metrics.open()) if r.get("train/loss")]
    assert len(losses) >= 30
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5


def test_checkpoint_loads_and_transcribes(trained, tiny_corpus, tmp_path):
    _, run_dir = trained
    last = run_dir / "ckpt" / "last.ckpt"
    bundle = export(last, tmp_path / "bundle", RECIPES / "ds2_debug.yaml")
    assert bundle.stat().st_size < last.stat().st_size  # fp16, no optimiser state
    import torch

    from speechzoo.audio import load_audio

    entry = read_manifest(tiny_corpus / "test.jsonl")[0]
    wav = torch.from_numpy(load_audio(entry["audio_filepath"], 16000)[0])[None]
    texts, outputs = [], []
    for source in (last, tmp_path / "bundle"):
        asr = speechzoo.load(source)
        texts.append(asr.transcribe(entry["audio_filepath"]))
        with torch.inference_mode():
            log_probs, frames = asr.model(wav, torch.tensor([wav.shape[1]]))
        outputs.append(log_probs)
        # the text is the best path of the model's own outputs for that file
        assert texts[-1] == greedy_transcripts(log_probs, frames, asr.tokenizer)[0]
    # fp16 weights give the same per-frame probabilities to rounding (a 40-step model's greedy
    # text can still flip a near-tied frame, so compare the distributions, not the text)
    torch.testing.assert_close(outputs[1].exp(), outputs[0].exp(), rtol=0, atol=0.02)
    assert asr.transcribe([entry["audio_filepath"]] * 2) == [texts[1]] * 2


def test_resume_continues_from_the_checkpoint(trained, tiny_corpus, tmp_path):
    _, run_dir = trained
    cli = make_cli(RECIPES / "ds2_debug.yaml", _overrides(tiny_corpus, tmp_path, 44)
                   + ["--ckpt_path", str(run_dir / "ckpt" / "last.ckpt")])
    assert cli.trainer.global_step == 44


@pytest.mark.parametrize(("stop", "every"), [(8, 4), (10, 5)])
def test_resume_matches_an_uninterrupted_run(tiny_corpus, tmp_path, stop, every):
    """Stopping at the end of the sorted epoch (8) or inside the shuffled one (10) and resuming
    gives the very weights of a run that never stopped: the batch order, optimiser, LR
    schedule and BatchNorm statistics all carry over."""
    import torch

    def run(name, steps, resume=None):
        extra = ["--data.init_args.batch_size", "1", "--trainer.val_check_interval", str(every)]
        if resume is not None:
            extra += ["--ckpt_path", str(resume)]
        cli = make_cli(RECIPES / "ds2_debug.yaml",
                       _overrides(tiny_corpus, tmp_path / name, steps) + extra)
        return cli.trainer, cli.model.acoustic.state_dict()

    # 8 utterances, batch 1: epoch 0 is steps 1-8 (sorted), epoch 1 is 9-16 (shuffled)
    whole_trainer, whole = run("whole", 13)
    run("first", stop)  # validation, so last.ckpt, comes every `every` steps: the last at `stop`
    last = tmp_path / "first" / "ckpt" / "last.ckpt"
    saved = torch.load(last, weights_only=True)
    assert saved["global_step"] == stop
    state = saved["loops"]["fit_loop"]["state_dict"]["combined_loader"]
    # a checkpoint at an epoch's last batch is written before the epoch ends
    assert state == [{"epoch": (stop - 1) // 8, "batches": (stop - 1) % 8 + 1}]
    trainer, resumed = run("second", 13, last)
    assert trainer.global_step == whole_trainer.global_step == 13
    for name, value in whole.items():
        torch.testing.assert_close(resumed[name], value, rtol=0, atol=0, msg=name)


def test_recipe_last_checkpoint_is_the_newest(tiny_corpus, tmp_path, monkeypatch):
    """ds2.yaml keeps the best checkpoint by dev WER and, beside it, last.ckpt at every
    validation, so `--ckpt_path last` resumes the newest state even after dev WER stops
    improving. The dev WER is scripted, better at step 20 than at 40: whether 40 steps of real
    training improve it is up to the run (one that did left best and last both at 40)."""
    import torch
    import yaml

    from speechzoo.tasks.asr import ASRTask

    def validation_step(self, batch, batch_idx):
        self.log("val/wer", {20: 0.5, 40: 0.8}.get(self.global_step, 1.0), batch_size=1)

    monkeypatch.setattr(ASRTask, "validation_step", validation_step)
    recipe = yaml.safe_load((RECIPES / "ds2.yaml").read_text())
    callbacks = [c for c in recipe["trainer"]["callbacks"]
                 if c["class_path"].endswith("ModelCheckpoint")]
    for c in callbacks:
        c["init_args"]["dirpath"] = str(tmp_path / "ckpt")
    config = tmp_path / "callbacks.yaml"
    config.write_text(yaml.safe_dump({"trainer": {"callbacks": callbacks}}))
    make_cli(RECIPES / "ds2_debug.yaml",
             ["--data.init_args.root", str(tiny_corpus), "--trainer.max_steps", "40",
              "--trainer.logger", "false", "--trainer.enable_progress_bar", "false",
              "--trainer.default_root_dir", str(tmp_path),
              "--config", str(config)])
    step = {p.name: torch.load(p, weights_only=True)["global_step"]
            for p in (tmp_path / "ckpt").glob("*.ckpt")}
    assert step == {"best-step=20.ckpt": 20, "last.ckpt": 40}


def test_two_process_ddp_on_cpu(tiny_corpus, tmp_path):
    """The debug recipe trains on two gloo DDP processes: the SortaGrad sampler shards itself
    and validation metrics reduce across ranks."""
    import subprocess
    import sys

    args = [sys.executable, "-m", "speechzoo.cli", "train", str(RECIPES / "ds2_debug.yaml"),
            *_overrides(tiny_corpus, tmp_path, 3), "--trainer.accelerator", "cpu",
            "--trainer.strategy", "ddp", "--trainer.devices", "2",
            "--data.init_args.batch_size", "1", "--trainer.val_check_interval", "2"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    (metrics,) = tmp_path.glob("logs/version_*/metrics.csv")
    rows = list(csv.DictReader(metrics.open()))
    steps = {int(r["step"]) for r in rows if r.get("train/loss")}
    assert steps == {0, 1, 2}
    assert any(r.get("val/wer") for r in rows)
    # 8 training utterances, batch 1: each rank ran 4 steps an epoch, so 3 steps stay in epoch 0
    assert {r["epoch"] for r in rows if r.get("train/loss")} == {"0"}


def test_init_weights_warm_starts_from_a_bundle(trained, tmp_path):
    import torch

    from speechzoo.errors import CheckpointError

    _, run_dir = trained
    bundle = export(run_dir / "ckpt" / "last.ckpt", tmp_path / "bundle")
    cli = make_cli(RECIPES / "ds2_debug.yaml", ["--model.init_args.init_weights", str(bundle)],
                   subcommand=None)
    loaded = speechzoo.load(bundle).model.state_dict()
    for name, value in cli.model.acoustic.state_dict().items():
        torch.testing.assert_close(value.float(), loaded[name].float())
    with pytest.raises(CheckpointError, match="do not fit"):
        make_cli(RECIPES / "ds2_debug.yaml", ["--model.init_args.init_weights", str(bundle),
                                              "--model.init_args.model.init_args.rnn_hidden",
                                              "16"], subcommand=None)


def test_export_averages_checkpoints(trained, tmp_path):
    import torch

    from speechzoo.errors import CheckpointError

    _, run_dir = trained
    last = run_dir / "ckpt" / "last.ckpt"
    ckpt = torch.load(last, weights_only=True)
    shifted = dict(ckpt, global_step=99, state_dict={
        k: v + 1 if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()})
    torch.save(shifted, tmp_path / "shifted.ckpt")
    bundle = export([last, tmp_path / "shifted.ckpt"], tmp_path / "avg")
    averaged = torch.load(bundle, weights_only=True)
    assert averaged["speechzoo"]["meta"]["averaged_steps"] == [ckpt["global_step"], 99]
    for name, value in ckpt["state_dict"].items():
        expected = value + 0.5 if value.is_floating_point() else value
        torch.testing.assert_close(averaged["state_dict"][name].float(), expected.float(),
                                   atol=0.01, rtol=0.002)  # fp16 bundle
    other = dict(ckpt, speechzoo=dict(ckpt["speechzoo"], frontend={
        "tokenizer": {"kind": "chars", "alphabet": "ab"}}))
    torch.save(other, tmp_path / "other.ckpt")
    with pytest.raises(CheckpointError, match="different models"):
        export([last, tmp_path / "other.ckpt"], tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_resume_warns_that_the_checkpoint_settings_win(trained, tiny_corpus, tmp_path):
    _, run_dir = trained
    with pytest.warns(UserWarning, match=r"model\.init_args\.lr of the recipe"):
        cli = make_cli(RECIPES / "ds2_debug.yaml", _overrides(tiny_corpus, tmp_path, 41)
                       + ["--ckpt_path", str(run_dir / "ckpt" / "last.ckpt"),
                          "--model.init_args.lr", "0.123"])
    assert cli.model.hparams.lr != 0.123


def test_a_mixture_with_augmentation_trains_and_logs_each_dev_set(tiny_corpus, tmp_path):
    from tests.recipe_runs import metric_column

    other = tmp_path / "other"
    other.mkdir()
    for split in ("train", "dev"):
        (other / f"{split}.jsonl").write_text((tiny_corpus / f"{split}.jsonl").read_text()
                                              .replace('"train/', f'"{tiny_corpus}/train/')
                                              .replace('"dev/', f'"{tiny_corpus}/dev/'))
    sources = (f'[{{name: synth, root: "{tiny_corpus}", weight: 1}}, '
               f'{{name: other, root: "{other}", weight: 0.5}}]')
    augment = ('{class_path: speechzoo.augment.SpeechAugment, init_args: {tempo: [0.9, 1.1], '
               'reverb_p: 0.5, noise_p: 0.5, telephone_p: 0.5, vtlp: 0.1, freq_masks: 1, '
               'time_masks: 1}}')
    overrides = _overrides(tiny_corpus, tmp_path, 4)[2:] + [
        "--data.init_args.sources", sources, "--model.init_args.augment", augment,
        "--trainer.val_check_interval", "2"]
    make_cli(RECIPES / "ds2_debug.yaml", overrides)
    assert len(metric_column(tmp_path, "val/wer")) == 2
    assert len(metric_column(tmp_path, "val/other/wer")) == 2
    assert all(loss > 0 for loss in metric_column(tmp_path, "train/loss"))
