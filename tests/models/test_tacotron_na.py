from pathlib import Path

import pytest
import torch
import yaml

from speechzoo.errors import ConfigError, DataError
from speechzoo.losses import duration_loss, mel_loss, utterance_duration_loss
from speechzoo.models.tacotron_na import NonAttentiveTacotron, nat_paper, nat_small

MODES = ["supervised", "semi", "unsupervised"]


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (recipe_runs.torch_threads)


def tiny(**kw) -> NonAttentiveTacotron:
    args = dict(n_symbols=20, n_mels=10, embedding_dim=16, encoder_channels=16, encoder_lstm=8,
                duration_lstm=8, duration_layers=1, range_lstm=8, range_layers=2,
                position_dim=4, prenet_dim=16, decoder_lstm=32, decoder_layers=2,
                postnet_channels=16, latent_dim=2, fvae_channels=8)
    return NonAttentiveTacotron(**{**args, **kw})


def deterministic(**kw) -> NonAttentiveTacotron:
    """No dropout anywhere (the pre-net's included), so outputs can be compared."""
    return tiny(encoder_dropout=0.0, prenet_dropout=0.0, decoder_dropout=0.0,
                postnet_dropout=0.0, **kw)


def batch(seed: int = 0):
    """Two utterances of 7 and 4 tokens, durations 0-4 frames, random mels."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(1, 20, (2, 7), generator=g)
    lengths = torch.tensor([7, 4])
    durations = torch.randint(1, 5, (2, 7), generator=g)
    durations[0, 2] = 0
    tokens[1, 4:], durations[1, 4:] = 0, 0
    mel_lengths = durations.sum(1)
    mels = torch.randn(2, 10, int(mel_lengths.max()), generator=g)
    mels[1, :, int(mel_lengths[1]):] = 0
    return tokens, lengths, mels, mel_lengths, durations


def with_durations(model: NonAttentiveTacotron, frames: float = 4.0) -> NonAttentiveTacotron:
    """An untrained predictor says ~0 frames; make it say ~frames per token."""
    with torch.no_grad():
        model.duration_predictor.proj.weight.mul_(0.01)
        model.duration_predictor.proj.bias.fill_(frames)
    return model


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reduction", [1, 2, 3])
def test_shapes_and_backward(mode, reduction):
    torch.manual_seed(0)
    model = tiny(duration_mode=mode, reduction=reduction)
    tokens, lengths, mels, mel_lengths, durations = batch()
    out = model(tokens, lengths, mels, mel_lengths, durations)
    t = mels.shape[-1]
    assert out.mel.shape == out.mel_post.shape == (2, 10, t)
    assert out.weights.shape == (2, t, 7)
    assert out.predicted_durations.shape == out.durations.shape == out.ranges.shape == (2, 7)
    assert (out.mel_post[1, :, int(mel_lengths[1]):] == 0).all()
    assert (out.ranges[0] >= model.min_sigma).all() and (out.ranges[1, 4:] == 0).all()
    if mode == "unsupervised":  # its own predictions, scaled to the target's length
        used = out.predicted_durations.clamp_min(0)
        scale = mel_lengths / used.sum(1)
        torch.testing.assert_close(out.durations, used * scale[:, None])
        torch.testing.assert_close(out.durations.sum(1), mel_lengths.float())
    else:
        torch.testing.assert_close(out.durations, durations.float())
    assert (out.kl is None) == (mode == "supervised")
    loss = mel_loss(out.mel, mels, mel_lengths) + mel_loss(out.mel_post, mels, mel_lengths)
    loss = loss + duration_loss(out.predicted_durations, durations, lengths)
    if out.kl is not None:
        loss = loss + out.kl
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_supervised_needs_durations_and_modes_are_checked():
    tokens, lengths, mels, mel_lengths, _ = batch()
    with pytest.raises(ConfigError, match="durations"):
        tiny()(tokens, lengths, mels, mel_lengths)
    with pytest.raises(ConfigError, match="duration_mode"):
        tiny(duration_mode="attention")
    with pytest.raises(DataError, match="lengths"):
        tiny()(tokens, torch.tensor([7, 0]), mels, mel_lengths, batch()[4])
    out = tiny(duration_mode="semi")(tokens, lengths, mels, mel_lengths)  # semi: optional
    assert torch.isfinite(out.mel_post).all()


def test_pace_scales_the_length():
    torch.manual_seed(0)
    model = with_durations(tiny()).eval()
    tokens, lengths = batch()[:2]
    base = model.infer(tokens, lengths)
    assert (base.mel_lengths > 10).all()
    torch.testing.assert_close(base.mel_lengths, base.durations.sum(1).round().long())
    slow, fast = model.infer(tokens, lengths, pace=0.5), model.infer(tokens, lengths, pace=2.0)
    assert ((slow.mel_lengths - 2 * base.mel_lengths).abs() <= 1).all()
    assert ((2 * fast.mel_lengths - base.mel_lengths).abs() <= 1).all()
    assert slow.mel_post.shape[-1] == int(slow.mel_lengths.max())
    # per token: only the tokens given pace 2 get half their frames
    pace = torch.ones(2, 7)
    pace[:, :2] = 2.0
    pace[1, 4:] = 0.0  # padding: not checked
    per_token = model.infer(tokens, lengths, pace=pace)
    torch.testing.assert_close(per_token.durations[:, :2], base.durations[:, :2] / 2)
    torch.testing.assert_close(per_token.durations[:, 2:], base.durations[:, 2:])


@pytest.mark.parametrize("pace", [0.0, -1.0, float("inf"), float("nan"), 20.0, 0.05, "fast",
                                  torch.tensor([[1.0, 0.0]]), torch.ones(3, 7)])
def test_bad_pace(pace):
    tokens, lengths = batch()[:2]
    with pytest.raises(ConfigError, match="pace"):
        tiny().eval().infer(tokens, lengths, pace=pace)


@pytest.mark.parametrize("mode", MODES)
def test_forward_padding_invariance(mode):
    torch.manual_seed(0)
    model = deterministic(duration_mode=mode).eval()
    tokens, lengths, mels, mel_lengths, durations = batch()
    out = model(tokens, lengths, mels, mel_lengths, durations)
    n, t = int(lengths[1]), int(mel_lengths[1])
    alone = model(tokens[1:, :n], lengths[1:], mels[1:, :, :t], mel_lengths[1:],
                  durations[1:, :n])
    torch.testing.assert_close(alone.mel_post[0], out.mel_post[1, :, :t], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(alone.predicted_durations[0], out.predicted_durations[1, :n])
    torch.testing.assert_close(alone.weights[0], out.weights[1, :t, :n])


def test_training_mode_statistics_ignore_padding():
    torch.manual_seed(0)
    model = deterministic().train()
    tokens, lengths, mels, mel_lengths, durations = batch()
    out = model(tokens, lengths, mels, mel_lengths, durations)
    pad = torch.nn.functional.pad
    more = model(pad(tokens, (0, 3)), lengths, pad(mels, (0, 5), value=3.0), mel_lengths,
                 pad(durations, (0, 3)))
    torch.testing.assert_close(more.mel_post[..., : mels.shape[-1]], out.mel_post, atol=1e-5,
                               rtol=1e-5)


@pytest.mark.parametrize("mode", ["supervised", "unsupervised"])
def test_infer_padding_invariance(mode):
    torch.manual_seed(0)
    model = with_durations(deterministic(duration_mode=mode)).eval()
    tokens, lengths = batch()[:2]
    out = model.infer(tokens, lengths)
    n, t = int(lengths[1]), int(out.mel_lengths[1])
    alone = model.infer(tokens[1:, :n], lengths[1:])
    assert int(alone.mel_lengths[0]) == t
    torch.testing.assert_close(alone.mel_post[0], out.mel_post[1, :, :t], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(alone.durations[0], out.durations[1, :n])
    assert (out.mel_post[1, :, t:] == 0).all()


def test_free_running_decoder_matches_teacher_forcing_on_its_own_output():
    """Step k of inference reads the frame teacher forcing feeds it: the last of step k-1."""
    torch.manual_seed(0)
    for reduction in (1, 2, 3):
        decoder = deterministic(reduction=reduction).decoder
        features = (decoder.lstm.input_size - 16) // reduction  # less the pre-net's 16
        context = torch.randn(2, 11, features)
        generated = decoder.infer(context)
        torch.testing.assert_close(decoder(context, generated), generated, atol=1e-5, rtol=1e-5)


def test_prenet_dropout_stays_on_at_inference():
    torch.manual_seed(0)
    model = with_durations(tiny()).eval()
    tokens, lengths = batch()[:2]
    a, b = model.infer(tokens, lengths), model.infer(tokens, lengths)
    assert torch.equal(a.mel_lengths, b.mel_lengths)
    assert not torch.allclose(a.mel_post, b.mel_post)


def train(model, steps: int, loss_fn) -> list[float]:
    """Adam steps on loss_fn(model) -> (total loss, mel loss); returns the mel losses."""
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    mels = []
    for _ in range(steps):
        opt.zero_grad()
        loss, mel = loss_fn(model)
        loss.backward()
        opt.step()
        mels.append(mel.item())
    return mels


def spectrogram_loss(out, mels, mel_lengths):
    return mel_loss(out.mel, mels, mel_lengths) + mel_loss(out.mel_post, mels, mel_lengths)


def test_supervised_overfits_a_tiny_batch():
    torch.manual_seed(0)
    tokens, lengths, mels, mel_lengths, durations = batch()

    def loss_fn(model):
        out = model(tokens, lengths, mels, mel_lengths, durations)
        mel = spectrogram_loss(out, mels, mel_lengths)
        return mel + 2.0 * duration_loss(out.predicted_durations, durations, lengths), mel

    losses = train(deterministic().train(), 60, loss_fn)
    assert sum(losses[-5:]) / 5 < 0.7 * losses[0]


def test_unsupervised_trains_with_the_fvae():
    torch.manual_seed(0)
    tokens, lengths, mels, mel_lengths, _ = batch()

    def loss_fn(model):
        out = model(tokens, lengths, mels, mel_lengths)
        assert torch.isfinite(out.kl) and out.kl >= 0
        mel = spectrogram_loss(out, mels, mel_lengths)
        total = utterance_duration_loss(out.predicted_durations, mel_lengths, lengths)
        return mel + total + 0.01 * out.kl, mel

    losses = train(deterministic(duration_mode="unsupervised").train(), 40, loss_fn)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-5:]) / 5 < 0.8 * losses[0]


def test_constructor_args_rebuild_the_model():
    from speechzoo.checkpoints import build_network, network_spec

    model = tiny(duration_mode="semi", reduction=3)
    again = type(model)(**model.config)
    assert [(k, v.shape) for k, v in again.state_dict().items()] == \
        [(k, v.shape) for k, v in model.state_dict().items()]
    rebuilt = build_network(network_spec(model))
    rebuilt.load_state_dict(model.state_dict())
    assert rebuilt.config == model.config


def test_named_sizes():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    small = nat_small(61)
    assert 3e6 < count(small) < 5e6 and small.n_mels == 80 and small.sample_rate == 22050
    recipe = Path(__file__).resolve().parents[2] / "recipes" / "nat.yaml"
    args = yaml.safe_load(recipe.read_text())["model"]["init_args"]["model"]["init_args"]
    assert {k: small.config[k] for k in args} == args  # nat_small is what nat.yaml trains
    assert count(nat_paper(61)) > 40e6
    assert small.frame_seconds == 256 / 22050
