import math

import numpy as np
import pytest
import torch
from torch.distributions import AffineTransform, SigmoidTransform, TransformedDistribution, Uniform

from speechzoo.layers.distributions import (
    logistic_log_prob,
    logistic_noise,
    mol_log_prob,
    mol_sample,
    mulaw_decode,
    mulaw_encode,
)


def mixture(weights, means, scales) -> torch.Tensor:
    """MoL parameters (1, 3 K, 1) in float64: logits, means, log scales."""
    rows = [[math.log(w) for w in weights], list(means), [math.log(s) for s in scales]]
    return torch.tensor(sum(rows, []), dtype=torch.float64).view(1, -1, 1)


def direct_prob(x: float, weights, means, scales, bits: int) -> float:
    """The discretized mixture written out: bin [x - h, x + h], the edge bins open-ended; a
    middle bin whose mass is below 1e-5 is the density at its centre times its width (the
    PixelCNN++ fallback, for bins too narrow for float32 differences)."""
    h = 1.0 / (2**bits - 1)

    def cdf(v: float, m: float, s: float) -> float:
        return 1.0 / (1.0 + math.exp(-(v - m) / s))

    total = 0.0
    for w, m, s in zip(weights, means, scales, strict=True):
        upper = 1.0 if x >= 1 else cdf(x + h, m, s)
        lower = 0.0 if x <= -1 else cdf(x - h, m, s)
        mass = upper - lower
        if -1 < x < 1 and mass <= 1e-5:
            mass = cdf(x, m, s) * (1 - cdf(x, m, s)) / s * 2 * h
        total += w * mass
    return total


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("component", [
    ([1.0], [0.1], [0.05]),
    ([0.3, 0.7], [-0.4, 0.2], [0.1, 0.3]),
])
@pytest.mark.parametrize("x", [-1.0, -0.35, 0.0, 0.2, 0.73, 1.0])
def test_mol_log_prob_matches_the_formula(bits, component, x):
    weights, means, scales = component
    got = mol_log_prob(mixture(weights, means, scales), torch.tensor([[x]], dtype=torch.float64),
                       bits=bits)
    expected = math.log(direct_prob(x, weights, means, scales, bits))
    assert got.shape == (1, 1)
    assert got.item() == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_mol_narrow_bin_fallback_is_close_to_the_exact_mass():
    # bits 8, far in a tail: the bin's mass is under 1e-5, the density times width stands in
    x = torch.tensor([[0.73]], dtype=torch.float64)
    got = mol_log_prob(mixture([1.0], [0.1], [0.05]), x, bits=8).exp().item()
    edges = (0.73 + torch.tensor([1, -1], dtype=torch.float64) / 255 - 0.1) / 0.05
    exact = (torch.sigmoid(edges[0]) - torch.sigmoid(edges[1])).item()
    assert exact < 1e-5
    assert got == pytest.approx(exact, rel=2e-3)


def test_mol_log_prob_edge_bins_take_the_tails():
    # one component far below -1: the low edge bin holds almost all the mass, the top none
    params = mixture([1.0], [-3.0], [0.2])
    x = torch.tensor([[-1.0]], dtype=torch.float64)
    assert mol_log_prob(params, x, bits=8).exp().item() == pytest.approx(1.0, abs=1e-4)
    params = mixture([1.0], [3.0], [0.2])
    assert mol_log_prob(params, -x, bits=8).exp().item() == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("scale", [1e-4, 0.01, 0.5])
def test_mol_bin_probabilities_sum_to_one(bits, scale):
    levels = 2**bits
    centres = -1 + 2 * torch.arange(levels, dtype=torch.float32) / (levels - 1)
    params = mixture([0.25, 0.75], [-0.3, 0.41], [scale, 2 * scale]).float()
    log_p = mol_log_prob(params.expand(-1, -1, levels), centres.view(1, -1), bits=bits)
    assert torch.isfinite(log_p).all() and (log_p <= 1e-6).all()
    # float32 sigmoid differences of 2**16 tiny bins: a relative error of a few 1e-3
    assert log_p.exp().sum().item() == pytest.approx(1.0, abs=1e-2 if bits == 16 else 1e-4)


def test_mol_log_scale_min_bounds_the_scales():
    x = torch.tensor([[0.2]], dtype=torch.float64)
    tiny = mol_log_prob(mixture([1.0], [0.2], [math.exp(-20)]), x, log_scale_min=-5)
    bounded = mol_log_prob(mixture([1.0], [0.2], [math.exp(-5)]), x, log_scale_min=-5)
    torch.testing.assert_close(tiny, bounded)


def sample_many(weights, means, scales, n: int = 20000, seed: int = 0) -> np.ndarray:
    params = mixture(weights, means, scales)[..., 0].numpy().repeat(n, 0)
    u = np.random.default_rng(seed).uniform(1e-6, 1 - 1e-6, (n, len(weights) + 1))
    return mol_sample(params, u)


def test_mol_sample_of_one_logistic():
    x = sample_many([1.0], [0.3], [0.01])
    assert x.shape == (20000,)
    assert abs(x.mean() - 0.3) < 1e-3
    assert x.std() == pytest.approx(0.01 * math.pi / math.sqrt(3), rel=0.03)  # logistic's sd


def test_mol_sample_picks_components_by_weight():
    x = sample_many([0.3, 0.7], [-0.5, 0.5], [0.01, 0.01])
    near_low, near_high = np.abs(x + 0.5) < 0.2, np.abs(x - 0.5) < 0.2
    assert (near_low | near_high).all()
    assert near_low.mean() == pytest.approx(0.3, abs=0.015)
    assert near_high.mean() == pytest.approx(0.7, abs=0.015)


def test_mol_sample_is_clipped_and_bounds_scales():
    x = sample_many([1.0], [0.9], [1.0])
    assert x.min() >= -1 and x.max() <= 1 and (x == 1).any()
    # a log scale far below the bound samples as the bound
    params = mixture([1.0], [0.0], [math.exp(-30)])[..., 0].numpy()
    u = np.array([[0.5, 0.9]])
    assert mol_sample(params, u, log_scale_min=-2)[0] == pytest.approx(
        math.exp(-2) * math.log(9))


def test_logistic_log_prob_matches_torch_distributions():
    torch.manual_seed(0)
    mean = torch.randn(3, 5, dtype=torch.float64)
    log_scale = torch.randn(3, 5, dtype=torch.float64) - 1
    x = mean + torch.randn(3, 5, dtype=torch.float64)
    reference = TransformedDistribution(
        Uniform(torch.zeros_like(mean), torch.ones_like(mean)),
        [SigmoidTransform().inv, AffineTransform(mean, log_scale.exp())])
    torch.testing.assert_close(logistic_log_prob(x, mean, log_scale), reference.log_prob(x))


def test_logistic_noise_is_standard_logistic():
    g = torch.Generator().manual_seed(0)
    z = logistic_noise((200000,), g)
    assert z.shape == (200000,)
    assert abs(z.mean().item()) < 0.02
    assert z.var().item() == pytest.approx(math.pi**2 / 3, rel=0.02)
    # its CDF at a few points is the sigmoid
    for v in (-2.0, 0.0, 1.0):
        assert (z < v).float().mean().item() == pytest.approx(torch.sigmoid(
            torch.tensor(v)).item(), abs=0.005)
    torch.testing.assert_close(z, logistic_noise((200000,), torch.Generator().manual_seed(0)))


def test_mulaw_round_trip_within_one_step():
    x = torch.linspace(-1, 1, 20001)
    ids = mulaw_encode(x)
    assert ids.dtype == torch.long and ids.min() == 0 and ids.max() == 255
    assert (ids.diff() >= 0).all()  # monotonic
    levels = mulaw_decode(torch.arange(256))
    assert levels[0] == -1 and levels[-1] == 1 and (levels.diff() > 0).all()
    # the nearest level in the companded domain: x lies between its two neighbours
    low = levels[(ids - 1).clamp(min=0)]
    high = levels[(ids + 1).clamp(max=255)]
    assert ((low <= x + 1e-6) & (x <= high + 1e-6)).all()
    # in the companded domain (WaveNet eq. 1) the error is at most half a step, 1 / 255
    def compand(v):
        return torch.sign(v) * torch.log1p(255 * v.abs()) / math.log(256)

    assert ((compand(mulaw_decode(ids)) - compand(x)).abs() <= 1 / 255 + 1e-6).all()
    # levels are bin centres: encode(decode(ids)) is the identity
    assert (mulaw_encode(levels) == torch.arange(256)).all()
    # out-of-range samples take the edge classes
    assert mulaw_encode(torch.tensor([-3.0, 3.0])).tolist() == [0, 255]


def test_mulaw_other_class_counts():
    ids = torch.arange(16)
    assert (mulaw_encode(mulaw_decode(ids, 16), 16) == ids).all()
    assert mulaw_encode(torch.tensor([-1.0, 0.0, 1.0]), 16).tolist() == [0, 8, 15]
