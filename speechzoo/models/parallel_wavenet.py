"""Parallel WaveNet's student (van den Oord et al. 2017, arXiv 1711.10433 section 2.2): a
stack of inverse autoregressive flows, each a WaveNet-like network, that turns logistic
noise into audio with every sample computed at once."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from speechzoo.layers.distributions import logistic_noise
from speechzoo.layers.wavenet import ConditionUpsampler, WaveNetStack
from speechzoo.models import constructor_args


class ParallelWaveNet(nn.Module):
    """Inverse autoregressive flows ``x = z . s(z_<t, mel) + mu(z_<t, mel)``, one after
    another, from ``z ~ Logistic(0, 1)``.

    Flow ``i`` maps its input ``x^(i-1)`` to ``x^(i) = x^(i-1) . s_i + mu_i`` with ``s_i``
    and ``mu_i`` at ``t`` computed from ``x^(i-1)_<t`` by a causal WaveNet stack, so the
    composition is one logistic per time step given ``z_<t`` (section 2.2):
    ``x_t = z_t . s_tot,t + mu_tot,t`` with ``s_tot = prod_i s_i`` and
    ``mu_tot = sum_i mu_i prod_{j>i} s_j``. ``forward`` returns that location and log scale,
    which the distillation loss needs (the entropy is ``sum_t log s_tot,t + 2 T``).

    Args:
        n_mels, sample_rate, hop_length: the conditioning mel (``features.TTS_MEL``).
        flows: residual layers of each flow (the paper's 10, 10, 10, 30).
        cycle: dilations restart every ``cycle`` layers (1, 2, ..., 2**(cycle-1)).
        residual_channels, gate_channels, skip_channels, kernel_size: each flow's stack.
        cond_channels, upsample_scales: the conditioning upsampler, shared by the flows.
        log_scale_min: lower bound of each flow's log scale (keeps the flows invertible
            and the entropy finite).

    Shape: forward(z (B, T), mel (B, n_mels, F)), T = F * hop_length -> audio, location,
    log scale, each (B, T).
    """

    def __init__(self, n_mels: int = 80, sample_rate: int = 22050, hop_length: int = 256,
                 flows: Sequence[int] = (10, 10, 10, 30), cycle: int = 10,
                 residual_channels: int = 64, gate_channels: int = 128,
                 skip_channels: int = 128, kernel_size: int = 3, cond_channels: int = 80,
                 upsample_scales: Sequence[int] = (16, 16),
                 log_scale_min: float = -7.0) -> None:
        self.config = constructor_args(locals())
        super().__init__()
        self.upsample = ConditionUpsampler(n_mels, cond_channels, upsample_scales, hop_length)
        self.n_mels, self.sample_rate, self.hop_length = n_mels, sample_rate, hop_length
        self.log_scale_min = log_scale_min
        self.flows = nn.ModuleList()
        for layers in flows:
            stacks = layers // cycle if layers % cycle == 0 else 1
            stack = WaveNetStack(1, 2, cond_channels, layers, stacks, residual_channels,
                                 gate_channels, skip_channels, kernel_size)
            # each flow starts as the identity (mu = 0, s = 1), so training starts from noise
            # of unit scale rather than from a random product of scales
            nn.init.zeros_(stack.head[-1].weight)
            nn.init.zeros_(stack.head[-1].bias)
            self.flows.append(stack)

    def forward(self, z: torch.Tensor, mel: torch.Tensor):
        cond = self.upsample(mel)
        if cond.shape[-1] != z.shape[-1]:
            raise ValueError(f"noise has {z.shape[-1]} samples; {mel.shape[-1]} mel frames "
                             f"need {cond.shape[-1]}")
        x = z
        mean = torch.zeros_like(z)
        log_scale = torch.zeros_like(z)
        for flow in self.flows:
            mu, log_s = flow(x.unsqueeze(1), cond).unbind(1)
            log_s = log_s.clamp_min(self.log_scale_min)
            scale = torch.exp(log_s)
            x = x * scale + mu
            mean = mean * scale + mu
            log_scale = log_scale + log_s
        return x, mean, log_scale

    def noise(self, mel: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Logistic noise for ``mel``'s samples. Shape: (B, n_mels, F) -> (B, F * hop)."""
        return logistic_noise((mel.shape[0], mel.shape[-1] * self.hop_length), generator,
                              mel.device)

    @torch.no_grad()
    def generate(self, mel: torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Audio for mels, all samples at once. Shape: (B, n_mels, F) -> (B, F * hop)."""
        return self(self.noise(mel, generator), mel)[0].clamp(-1, 1)


def parallel_wavenet_small(**kwargs) -> ParallelWaveNet:
    """Faster than real time on one CPU thread: 4 flows of 8 layers (dilations 1 to 128),
    24 residual channels, kernel 3."""
    args = {"flows": [8, 8, 8, 8], "cycle": 8, "residual_channels": 24, "gate_channels": 48,
            "skip_channels": 48, **kwargs}
    return ParallelWaveNet(**args)
