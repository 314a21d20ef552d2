"""DSD and gradual pruning: masks, schedules, resume, and the re-dense phase."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch import nn

from speechzoo.errors import ConfigError
from speechzoo.tasks.pruning import DSD, GradualPruning
from speechzoo.training.sparsity import (
    cubic_sparsity,
    magnitude_mask,
    narang_theta,
    narang_threshold,
    quantile_of_magnitude,
    sparsity_of,
)


class _Tiny(L.LightningModule):
    """A feed-forward matrix and a recurrent-shaped one (named like DS2's), regressing noise."""

    def __init__(self, lr: float = 1e-2) -> None:
        super().__init__()
        self.lr = lr
        self.proj = nn.Linear(64, 64, bias=False)
        self.recurrent = nn.Parameter(torch.randn(2, 32, 64) * 0.1)
        self.small = nn.Linear(8, 8)  # below min_size: stays dense

    def training_step(self, batch, batch_idx):
        (x,) = batch
        h = self.proj(x)
        y = torch.einsum("bh,dhg->bg", h[:, :32], self.recurrent) + self.small(x[:, :8]).sum()
        return (y - x).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.lr)


def _data(n: int = 32) -> torch.utils.data.DataLoader:
    g = torch.Generator().manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(n, 64, generator=g))
    return torch.utils.data.DataLoader(data, batch_size=4)


def _fit(module, callback, steps, tmp_path=None, ckpt_path=None, checkpoint_every=None):
    callbacks = [callback]
    if checkpoint_every:
        callbacks.append(L.pytorch.callbacks.ModelCheckpoint(
            dirpath=tmp_path, every_n_train_steps=checkpoint_every, save_top_k=-1,
            filename="{step}"))
    trainer = L.Trainer(max_steps=steps, accelerator="cpu", logger=False,
                        enable_checkpointing=bool(checkpoint_every), enable_progress_bar=False,
                        enable_model_summary=False, callbacks=callbacks,
                        default_root_dir=tmp_path)
    trainer.fit(module, _data(), ckpt_path=ckpt_path)
    return trainer


def test_magnitude_mask_keeps_the_largest_and_prunes_whole_blocks():
    w = torch.arange(1.0, 101.0).view(10, 10) * torch.tensor([1.0, -1.0]).repeat(50).view(10, 10)
    mask = magnitude_mask(w, 0.9)
    assert mask.sum() == 10 and mask.view(-1)[-10:].all()
    blocks = magnitude_mask(torch.randn(32, 48), 0.5, block=(16, 16))
    tiles = blocks.view(2, 16, 3, 16)
    assert sparsity_of(blocks) == pytest.approx(0.5)
    assert all(tiles[i, :, j].all() or not tiles[i, :, j].any() for i in range(2) for j in range(3))
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        magnitude_mask(w, 1.0)


def test_schedules_reach_their_targets():
    assert cubic_sparsity(100, 0.9, 100, 500) == 0.0
    assert cubic_sparsity(300, 0.9, 100, 500) == pytest.approx(0.9 * (1 - 0.5**3))
    assert cubic_sparsity(900, 0.9, 100, 500) == pytest.approx(0.9)
    # Narang et al.: theta from q makes the threshold reach q at the end, 1.5x steeper after ramp
    theta = narang_theta(0.2, start=100, ramp=300, end=500, freq=10)
    assert narang_threshold(50, theta, 100, 300, 500, 10) == 0.0
    assert narang_threshold(500, theta, 100, 300, 500, 10) == pytest.approx(0.2, rel=0.02)
    assert narang_threshold(10_000, theta, 100, 300, 500, 10) == \
        narang_threshold(500, theta, 100, 300, 500, 10)
    slope_before = narang_threshold(200, theta, 100, 300, 500, 10) - \
        narang_threshold(199, theta, 100, 300, 500, 10)
    slope_after = narang_threshold(400, theta, 100, 300, 500, 10) - \
        narang_threshold(399, theta, 100, 300, 500, 10)
    assert slope_after == pytest.approx(1.5 * slope_before)
    assert quantile_of_magnitude(torch.arange(-10.0, 11.0), 0.5) == pytest.approx(5.0)


def test_cubic_pruning_is_at_the_scheduled_sparsity_at_each_update(tmp_path):
    torch.manual_seed(0)
    module = _Tiny()
    cb = GradualPruning(start=2, end=10, freq=4, schedule="cubic", recurrent_sparsity=0.8,
                        feedforward_sparsity=0.5)
    seen = {}

    class Spy(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, *args):
            seen[trainer.global_step] = (sparsity_of(pl_module.recurrent),
                                         sparsity_of(pl_module.proj.weight))

    trainer = L.Trainer(max_steps=12, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[cb, Spy()])
    trainer.fit(module, _data())
    # masks are set at the start of steps 2, 6 and 10 and hold between updates
    for after, expect in [(3, 0.0), (6, 0.0), (7, 0.8 * (1 - 0.5**3)), (11, 0.8), (12, 0.8)]:
        assert seen[after][0] == pytest.approx(expect, abs=1e-3)
    assert seen[12] == pytest.approx((0.8, 0.5), abs=1e-3)
    assert sparsity_of(module.small.weight) == 0.0  # below min_size


def test_narang_pruning_ends_near_its_target_and_pruned_weights_stay_zero():
    torch.manual_seed(0)
    module = _Tiny(lr=1e-6)  # weights barely move: q, taken at start, is where they end
    cb = GradualPruning(start=0, ramp=100, end=200, freq=20, recurrent_sparsity=0.9,
                        feedforward_sparsity=0.6)
    _fit(module, cb, 205)
    assert sparsity_of(module.recurrent) == pytest.approx(0.9, abs=0.03)
    assert sparsity_of(module.proj.weight) == pytest.approx(0.6, abs=0.03)
    for name, mask in cb.masks.items():
        weight = dict(module.named_parameters())[name]
        assert (weight[~mask] == 0).all()


def test_masks_survive_save_and_resume(tmp_path):
    torch.manual_seed(0)
    first = GradualPruning(start=0, end=12, freq=2, schedule="cubic", recurrent_sparsity=0.7)
    _fit(_Tiny(), first, 16, tmp_path, checkpoint_every=8)  # an epoch is 8 steps
    saved = torch.load(tmp_path / "step=8.ckpt", weights_only=True)["callbacks"]
    (state,) = [v for k, v in saved.items() if k.startswith("GradualPruning")]
    again = GradualPruning(start=0, end=12, freq=2, schedule="cubic", recurrent_sparsity=0.7)
    module = _Tiny()
    _fit(module, again, 16, tmp_path, ckpt_path=tmp_path / "step=8.ckpt")
    for name, mask in state["masks"].items():
        assert (again.masks[name] <= mask).all()  # pruned at step 8 -> still pruned
        assert torch.equal(again.masks[name], first.masks[name])  # the same run, resumed
    assert sparsity_of(module.recurrent) == pytest.approx(0.7, abs=1e-3)


def test_dsd_prunes_then_releases_weights_from_zero_at_a_lower_rate():
    torch.manual_seed(0)
    module = _Tiny()
    cb = DSD(sparse_start=3, dense_start=8, sparsity=0.5, recurrent_sparsity=0.3,
             redense_lr_scale=0.1)
    record = {}

    class Spy(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if trainer.global_step == 8:  # after DSD released its masks (it runs first)
                opt = trainer.optimizers[0]
                record["lr"] = opt.param_groups[0]["lr"]
                record["pruned"] = (pl_module.recurrent == 0).clone()
                record["moments"] = opt.state[pl_module.recurrent]["exp_avg"][record["pruned"]]

        def on_train_batch_end(self, trainer, pl_module, *args):
            if trainer.global_step == 7:
                record["sparse"] = (sparsity_of(pl_module.recurrent),
                                    sparsity_of(pl_module.proj.weight))

    trainer = L.Trainer(max_steps=10, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[cb, Spy()])
    trainer.fit(module, _data())
    assert record["sparse"] == pytest.approx((0.3, 0.5), abs=1e-3)
    assert record["lr"] == pytest.approx(1e-3)
    assert (record["moments"] == 0).all()
    assert cb.released and not cb.masks
    # re-dense: the pruned weights train again, starting from zero
    assert (module.recurrent[record["pruned"]] != 0).float().mean() > 0.9


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="in order"):
        DSD(sparse_start=10, dense_start=5)
    with pytest.raises(ConfigError, match="schedule"):
        GradualPruning(start=0, end=10, schedule="linear")
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        GradualPruning(start=0, end=10, recurrent_sparsity=1.5)


def test_masks_hold_on_the_fp32_masters_under_master_weights_fp16():
    from speechzoo.tasks.precision import MasterWeightsPrecision

    torch.manual_seed(0)
    module = _Tiny()
    cb = GradualPruning(start=0, end=6, freq=2, schedule="cubic", recurrent_sparsity=0.8,
                        feedforward_sparsity=0.5)
    trainer = L.Trainer(max_steps=10, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[cb],
                        plugins=[MasterWeightsPrecision(init_scale=256)])
    trainer.fit(module, _data())
    # after fit the module holds the masters again: had they not been masked, the optimiser's
    # later steps would have brought the pruned weights back
    assert sparsity_of(module.recurrent) == pytest.approx(0.8, abs=1e-3)
    assert sparsity_of(module.proj.weight) == pytest.approx(0.5, abs=1e-3)
    assert module.recurrent.dtype == torch.float32
