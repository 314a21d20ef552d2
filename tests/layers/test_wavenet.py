import numpy as np
import pytest
import torch

from speechzoo.layers.wavenet import (
    ConditionUpsampler,
    ResidualBlock,
    WaveNetStack,
    dilations,
    gated,
)


def stack(kernel_size: int = 2, in_channels: int = 1, layers: int = 6,
          stacks: int = 2) -> WaveNetStack:
    torch.manual_seed(0)
    return WaveNetStack(in_channels, 3, 4, layers=layers, stacks=stacks, residual_channels=8,
                        gate_channels=12, skip_channels=10, kernel_size=kernel_size)


def inputs(batch: int, channels: int, steps: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, channels, steps, generator=g), torch.randn(batch, 4, steps,
                                                                         generator=g)


def test_dilations():
    assert dilations(6, 2) == [1, 2, 4, 1, 2, 4]
    assert dilations(3, 1) == [1, 2, 4]
    for layers, stacks in [(5, 2), (0, 1), (4, 0)]:
        with pytest.raises(ValueError, match="multiple of stacks"):
            dilations(layers, stacks)


def test_gated_is_tanh_times_sigmoid():
    h = torch.randn(2, 6, 5, generator=torch.Generator().manual_seed(0))
    a, b = h.chunk(2, 1)
    torch.testing.assert_close(gated(h, 1), torch.tanh(a) * torch.sigmoid(b))
    with pytest.raises(ValueError, match="even"):
        ResidualBlock(4, 5, 4, 2, 1)


@pytest.mark.parametrize("kernel_size", [2, 3])
def test_stack_is_causal_with_the_stated_receptive_field(kernel_size):
    net = stack(kernel_size).double()
    assert net.receptive_field == 1 + (kernel_size - 1) * 2 * (1 + 2 + 4)
    steps, t0 = 60, 20
    x, cond = (v.double() for v in inputs(1, 1, steps))
    with torch.no_grad():
        y = net(x, cond)
        x2 = x.clone()
        x2[..., t0] += 1.0
        changed = (net(x2, cond) - y).abs().amax(1)[0] > 1e-9
    assert y.shape == (1, 3, steps)
    # the input is shifted by one: output t sees inputs t - receptive_field .. t - 1
    span = changed.nonzero()[:, 0].tolist()
    assert span == list(range(t0 + 1, t0 + 1 + net.receptive_field))


def test_conditioning_at_t_reaches_no_earlier_output():
    net = stack().double()
    x, cond = (v.double() for v in inputs(1, 1, 30))
    with torch.no_grad():
        y = net(x, cond)
        cond2 = cond.clone()
        cond2[..., 12] += 1.0
        changed = (net(x, cond2) - y).abs().amax(1)[0] > 1e-9
    # the first layer's conditioning at t enters the residual stream at t, which the later
    # layers carry forward (but never back)
    span = changed.nonzero()[:, 0].tolist()
    assert span[0] == 12 and span[-1] < 12 + net.receptive_field


@pytest.mark.parametrize("kernel_size", [2, 3])
@pytest.mark.parametrize("in_channels", [1, 2])
def test_incremental_steps_equal_the_parallel_pass(kernel_size, in_channels):
    net = stack(kernel_size, in_channels)
    steps = 2 * net.receptive_field + 5  # the ring buffers wrap around
    x, cond = inputs(2, in_channels, steps)
    with torch.no_grad():
        y = net(x, cond)
    state = net.state(2, cond)
    prev = np.zeros((2, in_channels), np.float32)
    outs = []
    for t in range(steps):
        outs.append(state.step(prev))
        prev = x[:, :, t].numpy()
    got = torch.from_numpy(np.stack(outs, -1))
    assert got.shape == y.shape
    torch.testing.assert_close(got, y, atol=1e-5, rtol=1e-4)


def test_incremental_steps_of_a_single_layer():
    net = stack(3, layers=1, stacks=1)
    x, cond = inputs(2, 1, 7)
    with torch.no_grad():
        y = net(x, cond)
    state = net.state(2, cond)
    prev = np.zeros((2, 1), np.float32)
    for t in range(7):
        torch.testing.assert_close(torch.from_numpy(state.step(prev)), y[..., t], atol=1e-5,
                                   rtol=1e-4)
        prev = x[:, :, t].numpy()


@pytest.mark.parametrize("scales", [(2, 2), (4,), (2, 4, 2), (16, 16)])
def test_condition_upsampler_length(scales):
    torch.manual_seed(0)
    up = ConditionUpsampler(5, 6, scales)
    hop = int(np.prod(scales))
    assert up.hop == hop
    for frames in (1, 3, 8):
        out = up(torch.randn(2, 5, frames))
        assert out.shape == (2, 6, frames * hop)
        assert torch.isfinite(out).all()


def test_condition_upsampler_rejects_odd_scales():
    for scales in [(3,), (2, 1)]:
        with pytest.raises(ValueError, match="even"):
            ConditionUpsampler(5, 6, scales)


def test_incremental_steps_cross_conditioning_chunks():
    """StackState computes the conditioning a chunk of steps at a time: past a chunk's end
    the steps still equal the parallel pass."""
    from speechzoo.layers.wavenet import _CHUNK

    torch.manual_seed(0)
    stack = WaveNetStack(1, 3, 2, layers=2, stacks=1, residual_channels=4, gate_channels=8,
                         skip_channels=4).eval()
    steps = _CHUNK + 50
    x, cond = torch.randn(1, 1, steps), torch.randn(1, 2, steps)
    with torch.no_grad():
        full = stack(x, cond)[0].numpy()
    state = stack.state(1, cond)
    prev, out = np.zeros((1, 1), np.float32), []
    for t in range(steps):
        out.append(state.step(prev)[0])
        prev = x[:, :, t].numpy()
    np.testing.assert_allclose(np.stack(out, 1), full, atol=1e-5)
