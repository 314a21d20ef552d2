import math

import pytest
import torch

from speechzoo.errors import ConfigError
from speechzoo.training.loss_scale import LossScaler


def _step(scaler: LossScaler, grads: list[torch.Tensor]) -> bool:
    _, norm = scaler.unscale(grads)
    finite = bool(torch.isfinite(norm))
    scaler.update(finite)
    return finite


def test_an_overflow_is_skipped_and_backs_off():
    scaler = LossScaler(init_scale=1024.0, growth_interval=3)
    assert _step(scaler, [torch.ones(3, dtype=torch.half)])
    assert not _step(scaler, [torch.ones(2, dtype=torch.half),
                              torch.tensor([1.0, math.inf], dtype=torch.half)])
    assert (scaler.value, scaler.skipped, scaler.good_steps) == (512.0, 1, 0)
    assert not _step(scaler, [torch.tensor([math.nan])])
    assert (scaler.value, scaler.skipped) == (256.0, 2)


def test_the_scale_grows_after_the_interval():
    scaler = LossScaler(init_scale=8.0, growth_interval=3, max_scale=32.0)
    values = []
    for _ in range(9):
        scaler.update(True)
        values.append(scaler.value)
    assert values == [8, 8, 16, 16, 16, 32, 32, 32, 32]  # capped at max_scale
    scaler.update(False)  # an overflow restarts the count
    scaler.update(True)
    scaler.update(True)
    assert (scaler.value, scaler.good_steps) == (16.0, 2)
    low = LossScaler(init_scale=2.0, min_scale=1.0)
    for _ in range(3):
        low.update(False)
    assert (low.value, low.skipped) == (1.0, 3)


def test_a_static_scale_never_changes_but_counts_skips():
    scaler = LossScaler(init_scale=128.0, dynamic=False, growth_interval=1)
    for finite in (True, True, False, True, False):
        scaler.update(finite)
        assert scaler.value == 128.0
    assert scaler.skipped == 2


def test_unscale_gives_fp32_gradients_divided_by_the_scale():
    scaler = LossScaler(init_scale=4.0)
    grads = [torch.tensor([4.0, -8.0], dtype=torch.half), torch.tensor([12.0])]
    unscaled, norm = scaler.unscale(grads)
    assert [g.dtype for g in unscaled] == [torch.float32, torch.float32]
    torch.testing.assert_close(unscaled[0], torch.tensor([1.0, -2.0]))
    torch.testing.assert_close(unscaled[1], torch.tensor([3.0]))
    assert grads[1].item() == 12.0  # inputs untouched
    assert norm.item() == pytest.approx(math.sqrt(1 + 4 + 9))
    assert scaler.scale(torch.tensor(2.0)).item() == 8.0


def test_state_round_trips():
    scaler = LossScaler(init_scale=64.0, growth_interval=2)
    for finite in (False, True):
        scaler.update(finite)
    other = LossScaler()
    other.load_state_dict(scaler.state_dict())
    assert other.state_dict() == scaler.state_dict() == {
        "value": 32.0, "skipped": 1, "good_steps": 1, "dynamic": True}
    static = LossScaler(init_scale=8.0, dynamic=False)
    static.load_state_dict(scaler.state_dict())
    assert (static.value, static.skipped) == (8.0, 1)  # the configured static scale wins


@pytest.mark.parametrize("kwargs", [{"init_scale": 0.0}, {"init_scale": math.inf},
                                    {"growth_factor": 1.0}, {"backoff_factor": 1.5},
                                    {"growth_interval": 0}, {"init_scale": 2.0**30}])
def test_bad_settings_raise(kwargs):
    with pytest.raises(ConfigError):
        LossScaler(**kwargs)
