import pytest
import torch
from torch import nn
from torch.autograd.functional import jacobian

from speechzoo.models.parallel_wavenet import ParallelWaveNet, parallel_wavenet_small

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (recipe_runs.torch_threads)


def tiny(randomise: bool = True, **kw) -> ParallelWaveNet:
    """Three flows of 2 layers. ``randomise`` replaces the identity initialisation (each flow's
    last convolution is zero) by random weights, so the flows do something."""
    torch.manual_seed(0)
    args = dict(n_mels=6, hop_length=4, upsample_scales=(2, 2), flows=(2, 2, 2), cycle=2,
                residual_channels=8, gate_channels=12, skip_channels=10, kernel_size=3,
                cond_channels=5)
    model = ParallelWaveNet(**{**args, **kw}).double()
    if randomise:
        with torch.no_grad():
            for p in model.parameters():
                nn.init.normal_(p, std=0.1)
    return model


def inputs(frames: int = 4, batch: int = 1, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, frames * 4, generator=g, dtype=torch.float64)
    return z, torch.randn(batch, 6, frames, generator=g, dtype=torch.float64)


def test_shapes_and_the_affine_form():
    model = tiny()
    z, mel = inputs(batch=2)
    x, mean, log_scale = model(z, mel)
    assert x.shape == mean.shape == log_scale.shape == (2, 16)
    # one logistic per step given z_<t: x = z . s_tot + mu_tot
    torch.testing.assert_close(x, z * log_scale.exp() + mean)
    assert (log_scale != 0).any() and (mean != 0).any()
    with pytest.raises(ValueError, match="mel frames"):
        model(z[:, :-1], mel)
    with pytest.raises(ValueError, match="hop_length"):
        tiny(hop_length=8)


def test_flows_are_inverse_autoregressive():
    model = tiny()
    z, mel = inputs()
    jac = [j[0, :, 0, :] for j in jacobian(lambda v: model(v, mel), z)]  # (T, T) each
    d_x, d_mean, d_log_scale = jac
    # mean_t and log_scale_t depend on z_<t only; x_t on z_<=t
    lower = torch.ones(16, 16, dtype=torch.bool).tril()
    assert (d_mean[~lower.tril(-1)] == 0).all() and (d_log_scale[~lower.tril(-1)] == 0).all()
    assert (d_x[~lower] == 0).all()
    # ... and they do depend on the past (three flows of receptive field 7 each)
    assert (d_mean.tril(-1).abs() > 0).sum() > 16 and (d_log_scale.tril(-1).abs() > 0).sum() > 16
    assert d_x[15, 14] != 0 and d_x[15, 0] != 0


def test_log_scale_is_the_log_determinant():
    model = tiny()
    z, mel = inputs()
    _, _, log_scale = model(z, mel)
    d_x = jacobian(lambda v: model(v, mel)[0], z)[0, :, 0, :]
    # lower triangular: the determinant is the product of the diagonal, exp(log_scale)
    torch.testing.assert_close(d_x.diagonal(), log_scale[0].exp())
    log_det = torch.linalg.slogdet(d_x).logabsdet
    torch.testing.assert_close(log_scale.sum(), log_det)


def test_each_flow_log_scale_is_bounded():
    model = tiny(log_scale_min=-3.0)
    with torch.no_grad():
        for flow in model.flows:
            flow.head[-1].bias[1] = -100.0  # every flow's log scale far below the bound
    z, mel = inputs(batch=2)
    x, mean, log_scale = model(z, mel)
    # the bound is per flow (the paper's per-IAF scale), so the total is flows x bound
    torch.testing.assert_close(log_scale, torch.full_like(log_scale, 3 * -3.0))
    torch.testing.assert_close(x, z * log_scale.exp() + mean)


def test_identity_initialisation():
    model = tiny(randomise=False)
    z, mel = inputs(batch=2)
    x, mean, log_scale = model(z, mel)
    assert torch.equal(x, z)
    assert (mean == 0).all() and (log_scale == 0).all()


def test_generate():
    model = tiny().float()
    _, mel = inputs(frames=5, batch=2)
    mel = mel.float()
    audio = model.generate(mel, torch.Generator().manual_seed(1))
    assert audio.shape == (2, 20) and audio.dtype == torch.float32
    assert audio.min() >= -1 and audio.max() <= 1
    torch.testing.assert_close(audio, model.generate(mel, torch.Generator().manual_seed(1)))
    assert not torch.equal(audio, model.generate(mel, torch.Generator().manual_seed(2)))
    # the noise is what forward turns into that audio
    z = model.noise(mel, torch.Generator().manual_seed(1))
    assert z.shape == (2, 20)
    torch.testing.assert_close(audio, model(z, mel)[0].clamp(-1, 1))


def test_small_size():
    model = parallel_wavenet_small(n_mels=6, hop_length=4, upsample_scales=(2, 2))
    assert len(model.flows) == 4
    assert all(flow.receptive_field == 1 + 2 * 255 for flow in model.flows)
