"""The fused recurrence (speechzoo.layers.recurrence) against the plain autograd loop."""

import copy

import pytest
import torch

from speechzoo.layers.recurrence import fused_recurrence
from speechzoo.models.deepspeech2 import CLIP, DeepSpeech2, _RecurrentLayer

CELLS = ["rnn", "gru", "lstm"]
LENGTHS = [9, 7, 4, 1]  # padded batch, one sequence of a single frame


def layer_pair(cell: str, bidirectional: bool, training: bool):
    """A layer with non-trivial BN, bias and recurrent weights, and its loop twin."""
    torch.manual_seed(0)
    fused = _RecurrentLayer(10, 12, cell, bidirectional).train(training)
    with torch.no_grad():
        fused.bias.normal_()
        fused.recurrent.mul_(2.0)
        fused.norm.weight.uniform_(0.5, 2.0)
        fused.norm.bias.normal_()
        fused.norm.running_mean.normal_()
        fused.norm.running_var.uniform_(0.5, 2.0)
        if cell == "rnn":  # push pre-activations past both ends of the clip
            fused.norm.weight.mul_(15.0)
    loop = copy.deepcopy(fused)
    loop.fused = False
    return fused, loop


def run(layer: _RecurrentLayer, x: torch.Tensor, grad: torch.Tensor):
    x = x.clone().requires_grad_()
    out = layer(x, torch.tensor(LENGTHS))
    out.backward(grad)
    return out.detach(), x.grad, {n: p.grad for n, p in layer.named_parameters()}


def test_fused_is_the_default_and_changes_no_state(monkeypatch):
    layer = _RecurrentLayer(10, 12, "gru", True)
    assert layer.fused and "fused" not in DeepSpeech2().config
    monkeypatch.setattr(_RecurrentLayer, "fused", False)  # the class-wide switch
    assert not layer.fused
    assert sorted(layer.state_dict()) == ["bias", "input.weight", "norm.bias",
                                          "norm.num_batches_tracked", "norm.running_mean",
                                          "norm.running_var", "norm.weight", "recurrent"]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("training", [True, False])
def test_fused_equals_loop(cell, bidirectional, training):
    """Outputs, the input's and every parameter's gradient, and BN's running statistics."""
    fused, loop = layer_pair(cell, bidirectional, training)
    x = torch.randn(len(LENGTHS), max(LENGTHS), 10)
    grad = torch.randn(len(LENGTHS), max(LENGTHS), 12)
    out, dx, grads = run(fused, x, grad)
    out_ref, dx_ref, grads_ref = run(loop, x, grad)
    torch.testing.assert_close(out, out_ref, atol=2e-5, rtol=1e-5)
    torch.testing.assert_close(dx, dx_ref, atol=2e-5, rtol=1e-4)
    for name, g in grads_ref.items():
        torch.testing.assert_close(grads[name], g, atol=2e-5, rtol=1e-4, msg=name)
    for name, buf in loop.norm.named_buffers():
        torch.testing.assert_close(getattr(fused.norm, name), buf, msg=name)
    if cell == "rnn" and not bidirectional:  # the clip really was exercised
        assert out_ref.max() == CLIP and (out_ref[0] == 0).any()


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("training", [True, False])
def test_padding_changes_nothing(cell, training):
    """Garbage in and beyond the padding of a batch changes no valid output, and the
    backward direction of a sequence does not depend on its batch-mates' lengths."""
    fused, _ = layer_pair(cell, True, training)
    x = torch.randn(len(LENGTHS), max(LENGTHS), 10)
    lengths = torch.tensor(LENGTHS)
    valid = (torch.arange(max(LENGTHS))[None, :] < lengths[:, None]).unsqueeze(-1)
    out = fused(x, lengths)
    longer = torch.cat([torch.where(valid, x, 1e3), torch.full((4, 5, 10), -1e3)], 1)
    more = fused(longer, lengths)
    torch.testing.assert_close(more[:, : out.shape[1]], out)
    assert (more[torch.arange(more.shape[1])[None, :] >= lengths[:, None]] == 0).all()
    if not training:  # alone, a sequence sees no batch-mates (training BN pools the batch)
        alone = fused(x[2:3, :4], lengths[2:3])
        torch.testing.assert_close(alone[0], out[2, :4], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dirs", [1, 2])
def test_hand_written_backward_against_finite_differences(cell, dirs):
    torch.manual_seed(0)
    b, t, h = 3, 5, 4
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[cell] * h
    scale = 8.0 if cell == "rnn" else 1.0  # clip engaged, but away from its kinks
    pre = (torch.randn(dirs, t, b, gates, dtype=torch.double) * scale).requires_grad_()
    rec = (torch.randn(dirs, h, gates, dtype=torch.double) * 0.5).requires_grad_()
    bias = torch.randn(dirs, 1, gates, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *a: fused_recurrence(*a, cell, 6.0),
                                    (pre, rec, bias))


@pytest.mark.parametrize("cell", CELLS)
def test_no_grad_path_equals_grad_path(cell):
    fused, _ = layer_pair(cell, True, False)
    fused.kernel = "reference"  # the fused recurrence's own no-grad path (kernels: tests/kernels)
    x = torch.randn(len(LENGTHS), max(LENGTHS), 10)
    with_grad = fused(x, torch.tensor(LENGTHS))
    with torch.inference_mode():
        without = fused(x, torch.tensor(LENGTHS))
    torch.testing.assert_close(without, with_grad.detach(), atol=0, rtol=0)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_bf16_autocast_close_to_loop(cell, dtype):
    """Under autocast the loop's state is bfloat16 for bfloat16 inputs (as inside DS2: the
    convolutions' outputs are) and float32 for float32 ones; the fused recurrence runs in
    that dtype. They round differently, so only closeness is asked for."""
    fused, loop = layer_pair(cell, True, True)
    if cell == "rnn":
        for layer in (fused, loop):
            layer.norm.weight.data.div_(15.0)
    x = torch.randn(len(LENGTHS), max(LENGTHS), 10).to(dtype)
    grad = torch.randn(len(LENGTHS), max(LENGTHS), 12)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _, grads = run(fused, x, grad.to(dtype))
        out_ref, _, grads_ref = run(loop, x, grad.to(dtype))
    assert out.dtype == out_ref.dtype == (dtype if cell != "rnn" else torch.bfloat16)
    assert close_in_bf16(out.float(), out_ref.float())
    for name, g in grads_ref.items():
        assert grads[name].dtype == g.dtype == torch.float32
        assert close_in_bf16(grads[name], g), name


def close_in_bf16(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Within a few bfloat16 roundings (8-bit mantissa) of the largest value, per frame."""
    return bool((a - b).abs().max() <= 0.06 * b.abs().max())


def test_whole_model_fused_equals_loop():
    torch.manual_seed(0)
    model = DeepSpeech2(conv_channels=(4, 4), rnn_hidden=16, rnn_layers=2).train()
    wav, lengths = torch.randn(3, 8000), torch.tensor([8000, 6000, 4000])
    results = []
    for fused in (True, False):
        for rnn in model.rnns:
            rnn.fused = fused
        model.zero_grad()
        log_probs, frames = model(wav, lengths)
        log_probs[0, : frames[0]].sum().backward()
        results.append((log_probs.detach(), [p.grad.clone() for p in model.parameters()]))
    (a, ga), (b, gb) = results
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    for x, y in zip(ga, gb, strict=True):
        torch.testing.assert_close(x, y, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("training", [True, False])
def test_single_frame_batch(training):
    """One valid frame in all: BN statistics of one frame are the loop's own edge case."""
    fused, loop = layer_pair("gru", True, training)
    x, lengths = torch.randn(2, 3, 10), torch.tensor([1, 0])
    torch.testing.assert_close(fused(x, lengths), loop(x, lengths))
