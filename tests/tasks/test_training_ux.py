"""What `speechzoo train|validate|test` does when a run is stopped, resumed or given the wrong
checkpoint: resumable checkpoints on interrupt and every few minutes, clear errors, a progress
bar that survives a resume, and quiet logs."""

import logging
import os
import re
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from speechzoo.cli import main
from speechzoo.errors import CheckpointError
from speechzoo.pipelines import export
from speechzoo.tasks.asr import ASRTask
from speechzoo.tasks.callbacks import ResumableCheckpoint, ResumableProgressBar
from speechzoo.tasks.recipes import make_cli, quiet_lightning

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
DEBUG = RECIPES / "ds2_debug.yaml"


@pytest.fixture(autouse=True)
def _ctrl_c():
    previous = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, previous)  # Lightning ignores Ctrl-C after an interrupt


def _overrides(corpus, run_dir, steps, *extra):
    # batch 1 over 8 utterances: epoch 0 is steps 1-8 (sorted), epoch 1 steps 9-16 (shuffled);
    # no validation, so until the run ends (save_last) ResumableCheckpoint alone writes
    return ["--data.init_args.root", str(corpus), "--trainer.max_steps", str(steps),
            "--data.init_args.batch_size", "1", "--trainer.val_check_interval", "100",
            "--trainer.logger", "false", "--trainer.default_root_dir", str(run_dir),
            "--trainer.callbacks", "lightning.pytorch.callbacks.ModelCheckpoint",
            "--trainer.callbacks.dirpath", str(run_dir / "ckpt"),
            "--trainer.callbacks.save_last", "true", "--trainer.enable_progress_bar", "false",
            *extra]


@pytest.fixture(scope="module")
def whole(tiny_corpus, tmp_path_factory):
    """The weights of a 13-step run that never stopped."""
    cli = make_cli(DEBUG, _overrides(tiny_corpus, tmp_path_factory.mktemp("whole"), 13))
    return cli.model.acoustic.state_dict()


def _stop_at(monkeypatch, step, how):
    """Make the run stop at `step`: Ctrl-C or SIGTERM arriving during that training step, or a
    KeyboardInterrupt ("raise") or another error ("error") raised from a hook at its end."""
    train = ASRTask.training_step

    def training_step(self, batch, batch_idx):
        if self.global_step == step - 1 and how in ("sigint", "sigterm"):
            os.kill(os.getpid(), signal.SIGINT if how == "sigint" else signal.SIGTERM)
        return train(self, batch, batch_idx)

    def on_train_batch_end(self, outputs, batch, batch_idx):
        if self.global_step == step and how in ("raise", "error"):
            raise KeyboardInterrupt if how == "raise" else RuntimeError("a bug")

    monkeypatch.setattr(ASRTask, "training_step", training_step)
    monkeypatch.setattr(ASRTask, "on_train_batch_end", on_train_batch_end)


def _assert_resumes_exactly(corpus, run_dir, whole):
    cli = make_cli(DEBUG, _overrides(corpus, run_dir, 13, "--ckpt_path", "last"))
    assert cli.trainer.global_step == 13
    for name, value in whole.items():
        torch.testing.assert_close(cli.model.acoustic.state_dict()[name], value, rtol=0, atol=0,
                                   msg=name)


@pytest.mark.parametrize(("how", "stop"), [("sigint", 8), ("sigint", 10), ("sigterm", 10),
                                           ("raise", 5)])
def test_an_interrupted_run_leaves_an_exact_resumable_checkpoint(tiny_corpus, tmp_path,
                                                                 monkeypatch, whole, how, stop):
    """Stopped before any validation (so before any ModelCheckpoint wrote), the run leaves
    last.ckpt at the step it stopped, and resuming it gives the very weights of a run that never
    stopped: Ctrl-C waits for the step in progress to end. 8 is the last step of an epoch."""
    _stop_at(monkeypatch, stop, how)
    with pytest.raises(SystemExit):  # Lightning exits on an interrupt; SIGTERM too
        make_cli(DEBUG, _overrides(tiny_corpus, tmp_path, 13))
    handler = signal.getsignal(signal.SIGINT)  # ours is gone
    assert getattr(handler, "__module__", None) != ResumableCheckpoint.__module__
    files = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert files == ["last.ckpt"]  # nothing half-written beside it
    saved = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == stop
    monkeypatch.undo()
    _assert_resumes_exactly(tiny_corpus, tmp_path, whole)


def _periodic(minutes):
    return ["--trainer.callbacks+=speechzoo.tasks.callbacks.ResumableCheckpoint",
            "--trainer.callbacks.every_minutes", str(minutes)]


def test_a_checkpoint_every_few_minutes_resumes_exactly(tiny_corpus, tmp_path, monkeypatch,
                                                        whole):
    """every_minutes is wall-clock time; ~0 here, so one is due after every step. A crash at
    step 10 (after that step's write) leaves it, and it resumes exactly. The run's
    ModelCheckpoint(save_last) is told the file is its own: no last-v1.ckpt beside it."""
    _stop_at(monkeypatch, 10, "error")
    with pytest.raises(RuntimeError, match="a bug"):
        make_cli(DEBUG, _overrides(tiny_corpus, tmp_path, 13, *_periodic(1e-9)))
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["last.ckpt"]
    assert torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)["global_step"] == 10
    monkeypatch.undo()
    _assert_resumes_exactly(tiny_corpus, tmp_path, whole)


def test_errors_write_nothing_and_the_recipe_can_set_the_period(tiny_corpus, tmp_path,
                                                                monkeypatch):
    """An error other than an interrupt may be the state's fault (NaN weights...): it does not
    overwrite last.ckpt. A listed ResumableCheckpoint replaces the one speechzoo adds."""
    _stop_at(monkeypatch, 3, "error")
    with pytest.raises(RuntimeError, match="a bug"):
        make_cli(DEBUG, _overrides(tiny_corpus, tmp_path, 13, *_periodic(0)))
    assert not (tmp_path / "ckpt").exists()
    monkeypatch.undo()
    cli = make_cli(DEBUG, _overrides(tiny_corpus, tmp_path, 1, *_periodic(5)))
    (added,) = [c for c in cli.trainer.callbacks if isinstance(c, ResumableCheckpoint)]
    assert added.every_minutes == 5


def test_a_fresh_run_keeps_an_older_runs_last_checkpoint(tiny_corpus, tmp_path, monkeypatch):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "last.ckpt").write_bytes(b"an older run")
    _stop_at(monkeypatch, 2, "raise")
    with pytest.raises(SystemExit):
        make_cli(DEBUG, _overrides(tiny_corpus, tmp_path, 13))
    assert (tmp_path / "ckpt" / "last.ckpt").read_bytes() == b"an older run"
    assert torch.load(tmp_path / "ckpt" / "last-v1.ckpt", weights_only=True)["global_step"] == 2


def test_resume_last_without_a_checkpoint_stops_with_one_line(tiny_corpus, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["train", str(DEBUG), *_overrides(tiny_corpus, tmp_path, 3, "--ckpt_path", "last")])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("speechzoo: error: --ckpt_path last: no last checkpoint")
    assert str(tmp_path / "ckpt") in err[-1] and "leave out --ckpt_path" in err[-1]
    assert not (tmp_path / "ckpt").exists()  # it did not train from scratch instead


def test_progress_bar_keeps_its_total_after_a_mid_epoch_resume(tiny_corpus, tmp_path,
                                                               monkeypatch):
    """Lightning skips on_train_epoch_start for the epoch a run resumes into, so its bar shows
    `Training: 3/?` (no epoch, total or ETA); ours shows `Epoch 1: 3/8` and counts its rate (so
    the ETA) from the resumed batch."""
    _stop_at(monkeypatch, 10, "raise")
    with pytest.raises(SystemExit):
        make_cli(DEBUG, _overrides(tiny_corpus, tmp_path, 16))
    monkeypatch.undo()
    cli = make_cli(DEBUG, _overrides(tiny_corpus, tmp_path, 16, "--ckpt_path", "last",
                                     "--trainer.enable_progress_bar", "true"))
    bar = cli.trainer.progress_bar_callback
    assert isinstance(bar, ResumableProgressBar)
    tqdm = bar.train_progress_bar
    assert tqdm.desc.startswith("Epoch 1") and tqdm.total == 8
    assert tqdm.initial == 2 and tqdm.n == 8  # resumed after 2 batches of epoch 1, ran 6


@pytest.fixture(scope="module")
def bundle(tiny_corpus, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("bundle_run")
    make_cli(DEBUG, _overrides(tiny_corpus, run_dir, 6))
    last = run_dir / "ckpt" / "last.ckpt"
    return last, export(last, run_dir / "bundle")


def _test_loss(corpus, run_dir, ckpt=None):
    args = ["--data.init_args.root", str(corpus), "--trainer.logger", "false",
            "--trainer.enable_progress_bar", "false", "--trainer.default_root_dir", str(run_dir)]
    args += [] if ckpt is None else ["--ckpt_path", str(ckpt)]
    cli = make_cli(DEBUG, args, subcommand="test")
    return float(cli.trainer.callback_metrics["test/loss"])


def test_a_bundle_as_ckpt_path_tests_its_weights(tiny_corpus, bundle, tmp_path):
    last, model_ckpt = bundle
    assert "pytorch-lightning_version" not in torch.load(model_ckpt, weights_only=True)
    untrained = _test_loss(tiny_corpus, tmp_path)  # no checkpoint: the initial weights
    trained = _test_loss(tiny_corpus, tmp_path, last)
    from_bundle = _test_loss(tiny_corpus, tmp_path, model_ckpt)
    assert from_bundle == pytest.approx(trained, rel=0.01)  # fp16 weights
    assert abs(untrained - trained) > 0.05  # so the weights were the bundle's
    assert _test_loss(tiny_corpus, tmp_path, model_ckpt.parent) == from_bundle  # its folder


def test_ckpt_paths_that_cannot_be_used(tiny_corpus, bundle, tmp_path):
    _, model_ckpt = bundle
    with pytest.raises(CheckpointError, match="bundle.*--model.init_args.init_weights"):
        make_cli(DEBUG, _overrides(tiny_corpus, tmp_path, 3, "--ckpt_path", str(model_ckpt)))
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint\n")
    with pytest.raises(CheckpointError, match="notes.txt is not a checkpoint"):
        make_cli(DEBUG, ["--ckpt_path", str(text)], subcommand="test")
    with pytest.raises(CheckpointError, match="missing.ckpt: no such file"):
        make_cli(DEBUG, ["--ckpt_path", str(tmp_path / "missing.ckpt")], subcommand="validate")


def test_quiet_lightning_drops_the_noise_and_keeps_real_warnings():
    seen = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    log = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    handler = Keep()
    log.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with quiet_lightning():
                warnings.warn("LightningCLI's args parameter is intended to run from within "
                              "Python", UserWarning, stacklevel=1)
                warnings.warn("The 'train_dataloader' does not have many workers", UserWarning,
                              stacklevel=1)
                warnings.warn("resuming from X restores its model settings", UserWarning,
                              stacklevel=1)
                log.warning("💡 Tip: For seamless cloud logging, try installing litlogger")
                log.warning("GPU available: False, used: False")
                log.warning("GPU available: True (cuda), used: True")
            warnings.warn("The 'val_dataloader' does not have many workers", UserWarning,
                          stacklevel=1)  # the filters end with the command
    finally:
        log.removeHandler(handler)
    assert [str(w.message)[:20] for w in caught] == ["resuming from X rest",
                                                     "The 'val_dataloader'"]
    assert seen == ["GPU available: True (cuda), used: True"]


def test_speechzoo_train_prints_no_tips(tiny_corpus, tmp_path):
    args = [sys.executable, "-m", "speechzoo.cli", "train", str(DEBUG),
            "--data.init_args.root", str(tiny_corpus), "--trainer.max_steps", "2",
            "--trainer.logger", "false", "--trainer.enable_progress_bar", "false",
            "--trainer.default_root_dir", str(tmp_path), "--data.init_args.num_workers", "1",
            "--trainer.callbacks", "lightning.pytorch.callbacks.ModelCheckpoint",
            "--trainer.callbacks.dirpath", str(tmp_path / "ckpt")]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    for noise in ("LightningCLI's args", "Tip:", "does not have many workers", "TPU available",
                  "LeafSpec", "GPU available: False"):
        assert noise not in done.stderr, done.stderr
    assert "Seed set to 0" in done.stderr  # information still shows


def test_unknown_values_name_the_key_in_one_line(capsys):
    with pytest.raises(SystemExit):
        main(["train", str(DEBUG), "--data.init_args.batch_size", "x"])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "data.init_args.batch_size" in err[0], err
    assert "Expected a <class 'int'>. Got value: x" in err[0]


def test_validate_and_test_commands_score_the_same_weights(tiny_corpus, bundle, tmp_path,
                                                           capsys):
    """`speechzoo validate` and `speechzoo test` print the dev and test metrics of a bundle;
    the test split's loss is the one the API-level run above measures."""
    _, model_ckpt = bundle
    common = [str(DEBUG), "--data.init_args.root", str(tiny_corpus), "--trainer.logger",
              "false", "--trainer.enable_progress_bar", "false",
              "--trainer.default_root_dir", str(tmp_path), "--ckpt_path", str(model_ckpt)]
    main(["validate", *common])
    out = capsys.readouterr().out
    assert "val/wer" in out and "val/loss" in out
    main(["test", *common])
    out = capsys.readouterr().out
    assert "test/wer" in out
    loss = float(re.search(r"test/loss\W+([0-9.]+)", out).group(1))
    assert loss == pytest.approx(_test_loss(tiny_corpus, tmp_path, model_ckpt), rel=1e-3)
