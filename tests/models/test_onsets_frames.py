import pytest
import torch
import torch.nn.functional as F

from speechzoo.checkpoints import build_network, network_spec
from speechzoo.models.onsets_frames import (
    OnsetsAndFrames,
    onsets_frames_2017,
    onsets_frames_maestro,
    onsets_frames_small,
)

HEADS = ("onset", "offset", "frame", "velocity")


def tiny(**kw) -> OnsetsAndFrames:
    args = dict(n_mels=20, conv_channels=(4, 4, 8), fc_size=16, lstm_size=8)
    return OnsetsAndFrames(**{**args, **kw})


def no_dropout(model: OnsetsAndFrames) -> OnsetsAndFrames:
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    return model


@pytest.mark.parametrize(("factory", "offset", "velocity"), [
    (onsets_frames_small, True, True), (onsets_frames_2017, False, True),
    (onsets_frames_maestro, True, True)])
def test_named_sizes_shapes(factory, offset, velocity):
    torch.manual_seed(0)
    model = factory().eval()
    with torch.no_grad():
        out = model(torch.randn(2, 229, 6), torch.tensor([6, 4]))
    assert out.onset.shape == out.frame.shape == (2, 6, 88)
    assert (out.offset is not None) == offset and (out.velocity is not None) == velocity
    for v in (out.offset, out.velocity):
        assert v is None or v.shape == (2, 6, 88)
    # the config rebuilds the same architecture (what a bundle stores)
    rebuilt = build_network(network_spec(model))
    assert rebuilt.state_dict().keys() == model.state_dict().keys()


def test_papers_widths():
    assert onsets_frames_2017().config["conv_channels"] == [32, 32, 64]
    maestro = onsets_frames_maestro().config
    assert (maestro["conv_channels"], maestro["fc_size"], maestro["lstm_size"]) == (
        [48, 48, 96], 768, 256)


def _assert_valid_equal(a, b, frames, atol=1e-5):
    for k in HEADS:
        for i, n in enumerate(frames.tolist()):
            torch.testing.assert_close(getattr(a, k)[i, :n], getattr(b, k)[i, :n], atol=atol,
                                       rtol=1e-4)


def test_padding_does_not_change_valid_frames_in_training():
    torch.manual_seed(0)
    model = no_dropout(tiny()).train()
    x, frames = torch.randn(2, 20, 24), torch.tensor([24, 15])
    out = model(x, frames)
    # more padding, filled with garbage: every valid frame is unchanged
    more = torch.cat([x, torch.full((2, 20, 9), 7.0)], -1)
    _assert_valid_equal(out, model(more, frames), frames)
    # a batch without padding (torch's fused BatchNorm) against the same clips padded (the
    # masked statistics): the same valid frames
    full = torch.tensor([24, 24])
    _assert_valid_equal(model(x, full), model(F.pad(x, (0, 5)), full), full)


def test_padded_batch_matches_each_clip_alone_in_evaluation():
    torch.manual_seed(0)
    model = tiny()
    with torch.no_grad():  # running statistics away from their initial values
        model.train()(torch.randn(3, 20, 20) * 3 + 1, torch.tensor([20, 20, 20]))
    model.eval()
    a, b = torch.randn(20, 30), torch.randn(20, 13)
    batch = torch.stack([a, F.pad(b, (0, 17), value=-3.0)])
    frames = torch.tensor([30, 13])
    with torch.no_grad():
        out = model(batch, frames)
        for i, clip in enumerate((a, b)):
            alone = model(clip[None], frames[i:i + 1])
            for k in HEADS:
                torch.testing.assert_close(getattr(out, k)[i, :frames[i]],
                                           getattr(alone, k)[0], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("offset_head", [True, False])
def test_frame_loss_does_not_train_onset_or_offset_stacks(offset_head):
    torch.manual_seed(0)
    model = tiny(offset_head=offset_head).train()
    out = model(torch.randn(2, 20, 12), torch.tensor([12, 9]))
    out.frame.sum().backward()
    stopped = [model.onset_stack, model.onset_lstm, model.onset_fc]
    if offset_head:
        stopped += [model.offset_stack, model.offset_lstm, model.offset_fc]
    assert all(p.grad is None for m in stopped for p in m.parameters())
    trained = [model.frame_stack, model.activation_fc, model.frame_lstm, model.frame_fc]
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for m in trained for p in m.parameters())
    # ...while the onset loss does reach the onset stack
    model.zero_grad()
    model(torch.randn(2, 20, 12), torch.tensor([12, 9])).onset.sum().backward()
    assert all(p.grad is not None for p in model.onset_stack.parameters())


def test_frame_head_reads_onset_probabilities():
    torch.manual_seed(0)
    model = tiny().eval()
    x, frames = torch.randn(1, 20, 10), torch.tensor([10])
    with torch.no_grad():
        before = model(x, frames).frame
        model.onset_fc.bias += 3.0  # the onset head only
        after = model(x, frames).frame
    assert not torch.allclose(before, after)


def test_finite_logits_under_bfloat16_autocast():
    torch.manual_seed(0)
    model = tiny().train()
    x, frames = torch.randn(2, 20, 16), torch.tensor([16, 11])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, frames)
        loss = sum(getattr(out, k).float()[1, :11].mean() for k in HEADS)
    loss.backward()
    for k in HEADS:
        assert torch.isfinite(getattr(out, k)[1, :11]).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="three"):
        tiny(conv_channels=(4, 8))
    with pytest.raises(ValueError, match="n_mels"):
        tiny(n_mels=3)
