import pytest
import torch

from speechzoo.models.deepspeech2 import DeepSpeech2, deepspeech2_paper, deepspeech2_small


def tiny(**kw) -> DeepSpeech2:
    args = dict(conv_channels=(4, 4), rnn_hidden=24, rnn_layers=2)
    return DeepSpeech2(**{**args, **kw})


@pytest.mark.parametrize("rnn_type", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_shapes_and_backward(rnn_type, bidirectional):
    torch.manual_seed(0)
    model = tiny(rnn_type=rnn_type, bidirectional=bidirectional, lookahead=3)
    wav, lengths = torch.randn(3, 8000), torch.tensor([8000, 6000, 4000])
    log_probs, frames = model(wav, lengths)
    assert log_probs.shape == (3, int(frames.max()), 29)
    assert frames.tolist() == model.output_lengths(lengths).tolist()
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(3, log_probs.shape[1]), atol=1e-4)
    log_probs[0, : frames[0]].sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    assert (model.lookahead is None) == bidirectional


@pytest.mark.parametrize(("bidirectional", "normalize"), [(True, True), (False, True),
                                                          (False, False)])
@pytest.mark.parametrize("training", [True, False])
def test_padding_does_not_change_outputs(bidirectional, normalize, training):
    torch.manual_seed(0)
    model = tiny(bidirectional=bidirectional, lookahead=4, normalize=normalize).train(training)
    a, b = torch.randn(6400), torch.randn(4000)
    batch = torch.stack([a, torch.nn.functional.pad(b, (0, 2400))])
    lengths = torch.tensor([6400, 4000])
    out, frames = model(batch, lengths)
    # The same batch with 1 s more padding: every valid frame must be unchanged.
    more, _ = model(torch.nn.functional.pad(batch, (0, 16000)), lengths)
    torch.testing.assert_close(more[:, : out.shape[1]], out, atol=1e-5, rtol=1e-5)
    if not training:  # alone, b sees no batch-mates (training-mode BN pools the batch)
        alone, n = model(b[None], lengths[1:])
        torch.testing.assert_close(alone[0, : n[0]], out[1, : frames[1]], atol=1e-5, rtol=1e-5)


def test_lookahead_sees_exactly_tau_future_frames():
    torch.manual_seed(0)
    model = tiny(bidirectional=False, lookahead=2).eval()
    h = torch.zeros(1, 10, 24)
    h[0, 6] = 1.0
    out = model.lookahead(h)
    changed = out[0].abs().sum(-1).nonzero().flatten().tolist()
    assert changed == [4, 5, 6]  # frames t with t <= 6 <= t + tau


def test_named_sizes():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert 2e6 < count(deepspeech2_small()) < 5e6
    assert count(deepspeech2_paper()) > 50e6


def test_bad_rnn_type():
    with pytest.raises(ValueError, match="rnn_type"):
        tiny(rnn_type="transformer")


def test_spec_rebuilds_the_same_model():
    """A bundle's network spec (class path + recorded arguments) rebuilds a model whose
    weights fit and whose outputs match; a spec whose arguments differ does not fit."""
    from speechzoo.checkpoints import build_network, network_spec

    torch.manual_seed(0)
    model = tiny(rnn_type="lstm", bidirectional=False, lookahead=3).eval()
    again = build_network(network_spec(model)).eval()
    again.load_state_dict(model.state_dict())
    wav, lengths = torch.randn(2, 6000), torch.tensor([6000, 4000])
    torch.testing.assert_close(again(wav, lengths)[0], model(wav, lengths)[0])
    other = network_spec(model)
    other["args"]["rnn_hidden"] = 16
    with pytest.raises(RuntimeError, match="size mismatch"):
        build_network(other).load_state_dict(model.state_dict())


def test_fp16_training_with_loss_scaling():
    """Mixed precision as on a GPU (arXiv 1710.03740): fp16 autocast + dynamic loss scaling."""
    from speechzoo.losses import ctc_loss

    torch.manual_seed(0)
    model = tiny()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12)
    wav, lengths = torch.randn(2, 8000) * 0.1, torch.tensor([8000, 7000])
    labels, label_lengths = torch.tensor([[8, 9, 1, 3], [2, 3, 0, 0]]), torch.tensor([4, 2])
    losses = []
    for _ in range(15):
        with torch.autocast("cpu", dtype=torch.float16):
            log_probs, frames = model(wav, lengths)
            assert model.fc(torch.zeros(1, 24)).dtype == torch.float16  # really fp16 inside
        loss = ctc_loss(log_probs, frames, labels, label_lengths)
        opt.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]
    assert all(torch.isfinite(p).all() for p in model.parameters())
