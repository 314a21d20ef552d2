import math

import pytest
import torch

from speechzoo.layers.distributions import logistic_log_prob
from speechzoo.losses import distillation_kl, power_loss


def student(seed: int = 0, batch: int = 2, steps: int = 50):
    """A per-step logistic: locations in [-0.5, 0.5], log scales in [-3, -1]."""
    g = torch.Generator().manual_seed(seed)
    mean = torch.rand(batch, steps, generator=g, dtype=torch.float64) - 0.5
    log_scale = -3 + 2 * torch.rand(batch, steps, generator=g, dtype=torch.float64)
    return mean, log_scale


def gaussian(centre: torch.Tensor | float, sigma: float):
    """A teacher whose cross-entropy with a logistic has a closed form."""
    def log_prob(x: torch.Tensor) -> torch.Tensor:
        return -0.5 * ((x - centre) / sigma) ** 2 - math.log(sigma * math.sqrt(2 * math.pi))
    return log_prob


def test_entropy_is_the_logistic_closed_form_averaged_over_steps():
    mean, log_scale = student()
    _, _, entropy = distillation_kl(mean, log_scale, gaussian(0.0, 1.0), samples=1,
                                    generator=torch.Generator().manual_seed(0))
    # H(Logistic(mu, s)) = log s + 2, averaged over utterances and steps
    torch.testing.assert_close(entropy, (log_scale + 2).mean().float())


def test_self_distillation_has_zero_kl():
    mean, log_scale = student()
    kl, cross_entropy, entropy = distillation_kl(
        mean, log_scale, lambda x: logistic_log_prob(x, mean, log_scale), samples=400,
        generator=torch.Generator().manual_seed(0))
    # the cross-entropy with itself is a Monte Carlo estimate of -E[log p_S] = the entropy
    # (sd of -log p of a logistic about 1.8 over 40,000 draws: 0.01)
    assert cross_entropy.item() == pytest.approx(entropy.item(), abs=0.04)
    assert abs(kl.item()) < 0.04
    torch.testing.assert_close(kl, cross_entropy - entropy)


def test_cross_entropy_with_a_gaussian_teacher():
    mean, log_scale = student()
    centre, sigma = 0.2, 0.5
    kl, cross_entropy, entropy = distillation_kl(
        mean, log_scale, gaussian(centre, sigma), samples=400,
        generator=torch.Generator().manual_seed(1))
    # -E[log N(x; m, sigma)] with E[(x - m)^2] = s^2 pi^2 / 3 + (mu - m)^2 for a logistic
    second = log_scale.exp() ** 2 * math.pi**2 / 3 + (mean - centre) ** 2
    expected = (math.log(sigma * math.sqrt(2 * math.pi)) + second / (2 * sigma**2)).mean()
    assert cross_entropy.item() == pytest.approx(expected.item(), rel=0.01)
    assert kl.item() == pytest.approx((expected - (log_scale + 2).mean()).item(), rel=0.01)
    assert kl > 0


def logistic_kl(shift: float) -> float:
    """KL(Logistic(0, 1) || Logistic(shift, 1)) by quadrature (any scale, shift in scales)."""
    z = torch.linspace(-60, 60, 200001, dtype=torch.float64)
    zero = torch.zeros(())
    p = logistic_log_prob(z, zero, zero)
    q = logistic_log_prob(z, torch.tensor(shift, dtype=torch.float64), zero)
    return torch.trapezoid(p.exp() * (p - q), z).item()


@pytest.mark.parametrize("shift", [0.5, 2.0])
def test_shifted_teacher(shift):
    mean, log_scale = student()
    teacher = lambda x: logistic_log_prob(x, mean + shift * log_scale.exp(), log_scale)  # noqa: E731
    kl, _, _ = distillation_kl(mean, log_scale, teacher, samples=400,
                               generator=torch.Generator().manual_seed(2))
    expected = logistic_kl(shift)
    assert expected > 0.01
    assert kl.item() == pytest.approx(expected, rel=0.1, abs=0.01)


def test_distillation_is_reproducible_and_differentiable():
    mean, log_scale = student(steps=20)
    mean = (mean + 1.0).requires_grad_(True)  # all above the teacher's centre
    log_scale = (log_scale - 1.0).requires_grad_(True)  # much narrower than the teacher
    teacher = gaussian(0.0, 1.0)
    kl, _, _ = distillation_kl(mean, log_scale, teacher, samples=400,
                               generator=torch.Generator().manual_seed(3))
    again, _, _ = distillation_kl(mean, log_scale, teacher, samples=400,
                                  generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(kl, again)
    kl.backward()
    assert torch.isfinite(mean.grad).all() and torch.isfinite(log_scale.grad).all()
    # reparameterised draws: moving towards the teacher, and widening, both lower the KL
    assert (mean.grad > 0).all() and (log_scale.grad < 0).all()


def sine(amplitude: float = 0.5, steps: int = 4096) -> torch.Tensor:
    t = torch.arange(steps, dtype=torch.float32)
    return amplitude * torch.sin(2 * math.pi * 440 * t / 16000).unsqueeze(0)


def test_power_loss_orders_mismatches():
    target = sine()
    assert power_loss(target, target, n_fft=256, hop=64) == 0
    silence = power_loss(torch.zeros_like(target), target, n_fft=256, hop=64)
    scaled = power_loss(0.95 * target, target, n_fft=256, hop=64)
    assert silence > scaled > 0
    # the power scales with the amplitude squared: (1 - 0.95^2)^2 of silence's loss
    assert scaled.item() == pytest.approx(silence.item() * (1 - 0.95**2) ** 2, rel=1e-3)


@pytest.mark.parametrize("n_fft", [256, 1024])
def test_power_of_white_noise_is_its_variance(n_fft):
    # |STFT|^2 / sum(w^2) of white noise of variance v is about exponential with mean v, so
    # against silence the loss is E[P^2] = 2 v^2 whatever n_fft
    variance = 0.04
    noise = variance**0.5 * torch.randn(1, 64000, generator=torch.Generator().manual_seed(0))
    loss = power_loss(noise, torch.zeros_like(noise), n_fft=n_fft, hop=n_fft // 4)
    assert loss.item() == pytest.approx(2 * variance**2, rel=0.1)
