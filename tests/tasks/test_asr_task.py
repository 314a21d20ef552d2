"""ASRTask pieces that need no Trainer: the learning-rate schedule and speed perturbation."""

import pytest
import torch

from speechzoo.errors import ConfigError
from speechzoo.models.deepspeech2 import DeepSpeech2
from speechzoo.tasks.asr import ASRTask


def _task(**kwargs) -> ASRTask:
    model = DeepSpeech2(conv_channels=[2], conv_kernels=[[21, 11]], conv_strides=[[4, 2]],
                        rnn_hidden=8, rnn_layers=1)
    return ASRTask(model, **kwargs)


def test_anneal_steps_decays_the_learning_rate_within_an_epoch():
    task = _task(lr=1.0, warmup_steps=1, anneal=2.0, anneal_steps=10)
    sched = task.configure_optimizers()["lr_scheduler"]["scheduler"]
    lrs = []
    for _ in range(21):
        lrs.append(sched.get_last_lr()[0])
        sched.optimizer.step()
        sched.step()
    assert lrs[0] == pytest.approx(1.0)
    assert lrs[10] == pytest.approx(0.5)
    assert lrs[20] == pytest.approx(0.25)
    assert all(a > b for a, b in zip(lrs, lrs[1:], strict=False))


def test_speed_perturb_reaches_the_model(monkeypatch):
    task = _task(speed_perturb=[1.25])
    seen = {}

    def loss(batch, augment=None):
        seen.update(batch)
        return torch.tensor(0.0), None, None

    monkeypatch.setattr(task, "_loss", loss)
    monkeypatch.setattr(task, "log", lambda *args, **kwargs: None)
    batch = {"audio": torch.randn(2, 10000), "audio_lengths": torch.tensor([10000, 6000]),
             "labels": torch.ones(2, 3, dtype=torch.long), "labels_lengths": torch.tensor([3, 3])}
    task.training_step(batch, 0)
    assert seen["audio_lengths"].tolist() == [8000, 4800]
    assert seen["audio"].shape == (2, 8000)


@pytest.mark.parametrize("kwargs", [{"speed_perturb": [0.9, 0.0]}, {"anneal_steps": 0}])
def test_bad_schedule_or_speed_is_a_config_error(kwargs):
    with pytest.raises(ConfigError):
        _task(**kwargs)


def test_ds2_recipe_anneals_by_1_2_per_epoch(monkeypatch):
    """recipes/ds2.yaml: linear warm-up, then the paper's per-epoch anneal (section 5)."""
    from pathlib import Path

    from speechzoo.tasks.recipes import make_cli

    recipe = Path(__file__).resolve().parents[2] / "recipes" / "ds2.yaml"
    task = make_cli(recipe, subcommand=None).model
    epoch = [0]
    monkeypatch.setattr(ASRTask, "current_epoch", property(lambda self: epoch[0]))
    sched = task.configure_optimizers()["lr_scheduler"]["scheduler"]
    factor = sched.lr_lambdas[0]
    assert factor(0) == pytest.approx(1 / 300) and factor(299) == pytest.approx(1.0)
    lrs = []
    for epoch[0] in range(3):
        lrs.append(task.hparams.lr * factor(5000))
    assert lrs == pytest.approx([0.002, 0.002 / 1.2, 0.002 / 1.44])
    assert factor(5001) == factor(5000)  # constant within an epoch
