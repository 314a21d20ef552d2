"""WaveNet vocoder (van den Oord et al. 2016, arXiv 1609.03499), locally conditioned on the
log-mel frames of the text-to-speech front end, as the teacher of Parallel WaveNet
(arXiv 1711.10433: 16-bit discretized mixture of logistics) or Deep Voice's vocoder
(arXiv 1702.07825: 256-way mu-law softmax)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from speechzoo.kernels import MOL, MULAW
from speechzoo.layers.distributions import (
    categorical_sample,
    mol_log_prob,
    mol_sample,
    mulaw_decode,
    mulaw_encode,
)
from speechzoo.layers.wavenet import ConditionUpsampler, WaveNetStack
from speechzoo.models import constructor_args

OUTPUTS = ("mol", "mulaw")
_BLOCK = 4096  # samples generated between progress updates


class AutoregressiveWaveNet(nn.Module):
    """What every autoregressive WaveNet of the zoo shares, whatever it is conditioned on: the
    dilated stack over one conditioning vector per sample, the output distribution (its
    log-likelihood and sampling) and sample-by-sample generation. Subclasses build the
    conditioning network (:meth:`_build` makes the rest).

    Args of :meth:`_build`:
        cond_channels: channels of the conditioning, one vector per sample.
        layers, stacks, residual_channels, gate_channels, skip_channels, kernel_size: the
            dilated stack (``layers`` blocks in ``stacks`` cycles of dilations 1, 2, 4, ...).
        output: ``"mol"`` (discretized mixture of logistics, ``mixtures`` components over
            ``2**bits`` levels) or ``"mulaw"`` (softmax over ``classes`` mu-law levels; the
            input is then the mu-law-quantised signal, as generation feeds it).
        log_scale_min: lower bound of the mixture's log scales.
    """

    kernel: str = "auto"  # generation's default path (speechzoo.kernels); a plain attribute

    def _build(self, cond_channels: int, layers: int, stacks: int, residual_channels: int,
               gate_channels: int, skip_channels: int, kernel_size: int, output: str,
               mixtures: int, bits: int, classes: int, log_scale_min: float) -> None:
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        self.output, self.bits, self.classes = output, bits, classes
        self.log_scale_min, self.mixtures = log_scale_min, mixtures
        out = 3 * mixtures if output == "mol" else classes
        self.stack = WaveNetStack(1, out, cond_channels, layers, stacks, residual_channels,
                                  gate_channels, skip_channels, kernel_size)
        self._levels = mulaw_decode(torch.arange(classes), classes).float().numpy()
        self._kind = MULAW if output == "mulaw" else MOL

    @property
    def receptive_field(self) -> int:
        return self.stack.receptive_field

    def _input(self, audio: torch.Tensor) -> torch.Tensor:
        if self.output == "mulaw":
            audio = mulaw_decode(mulaw_encode(audio, self.classes), self.classes)
        return audio.unsqueeze(1)

    def _stack(self, audio: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Output parameters (B, P, T) of audio (B, T) over conditioning (B, C, T)."""
        if cond.shape[-1] != audio.shape[-1]:
            raise ValueError(f"audio has {audio.shape[-1]} samples; the conditioning gives "
                             f"{cond.shape[-1]}")
        return self.stack(self._input(audio), cond)

    def log_prob(self, params: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """Log-likelihood of each sample. Shape: (B, P, T), (B, T) -> (B, T)."""
        if self.output == "mol":
            return mol_log_prob(params, audio, self.bits, self.log_scale_min)
        target = mulaw_encode(audio, self.classes)
        return -F.cross_entropy(params, target, reduction="none")

    def sample(self, params: np.ndarray, u: np.ndarray) -> np.ndarray:
        """One sample per row from output parameters and uniforms drawn beforehand (see
        :meth:`uniforms`). Shape: params (B, P), u (B, U) -> (B,), NumPy."""
        if self.output == "mol":
            return mol_sample(params, u, self.log_scale_min)
        return self._levels[categorical_sample(params, u)]

    def uniforms(self, steps: int, batch: int,
                 generator: torch.Generator | None = None) -> np.ndarray:
        """The random numbers of ``steps`` samples, drawn at once. Shape: (steps, B, U)."""
        width = self.mixtures + 1 if self.output == "mol" else self.classes
        u = torch.rand(steps, batch, width, generator=generator)
        return u.clamp(1e-6, 1 - 1e-6).numpy()

    @torch.no_grad()
    def generate_from(self, cond: torch.Tensor, generator: torch.Generator | None = None,
                      naive: bool = False, progress: bool = False,
                      kernel: str | None = None) -> torch.Tensor:
        """Audio drawn sample by sample over conditioning ``cond`` (one vector per sample).

        Incremental (one step per layer per sample, batched over utterances) through the
        path ``kernel`` picks (``speechzoo.kernels``: ``"auto"``, ``"triton"``, ``"cpu"``,
        ``"reference"``; default the model's ``kernel`` attribute); ``naive`` instead
        recomputes the whole network over everything generated so far at each step (the
        baseline they are timed against). The same
        generator gives the same audio every way, to float rounding. ``progress`` shows a bar
        of samples.

        Shape: cond (B, cond_channels, T) -> (B, T).
        """
        from tqdm.auto import tqdm

        from speechzoo.kernels import kernel_path

        batch, total = cond.shape[0], cond.shape[-1]
        u = self.uniforms(total, batch, generator)
        path = "naive" if naive else kernel_path(kernel or self.kernel, cond.device)
        if path == "triton":
            from speechzoo.kernels.wavenet_triton import generate as triton_generate

            return triton_generate(self, cond, u)
        out = np.zeros((batch, total), np.float32)
        state = None if naive else self.stack.state(batch, cond)
        prev = np.zeros(batch, np.float32)
        with tqdm(total=total, desc="samples", disable=not progress, unit_scale=True,
                  mininterval=0.5) as bar:
            for t in range(0, total, _BLOCK):
                n = min(_BLOCK, total - t)
                if path == "cpu":
                    out[:, t:t + n] = state.run(prev, u[t:t + n], self._kind, self._levels,
                                                self.log_scale_min).T
                else:
                    self._steps(cond, state, out, t, n, u)
                bar.update(n)
        return torch.from_numpy(out).to(cond.device)

    def _steps(self, cond: torch.Tensor, state, out: np.ndarray, t0: int, n: int,
               u: np.ndarray) -> None:
        """Samples ``t0 .. t0 + n - 1`` one at a time: the reference step, or (``state``
        None) the naive full recomputation."""
        for t in range(t0, t0 + n):
            if state is None:
                past = self._input(torch.from_numpy(out[:, :t + 1]).to(cond.device))
                params = self.stack(past, cond[..., :t + 1])[..., -1].float().cpu().numpy()
            else:
                prev = out[:, t - 1:t] if t else np.zeros((len(out), 1), np.float32)
                params = state.step(prev)  # mu-law draws are levels already: _input keeps them
            out[:, t] = self.sample(params, u[t])


class WaveNet(AutoregressiveWaveNet):
    """Autoregressive waveform model ``p(x_t | x_<t, mel)``.

    Args:
        n_mels, sample_rate, hop_length: the conditioning mel (``features.TTS_MEL``): one
            frame per ``hop_length`` samples.
        cond_channels: channels of the upsampled conditioning.
        upsample_scales: transposed-convolution factors, product ``hop_length``.
        layers, ..., log_scale_min: the stack and output (:class:`AutoregressiveWaveNet`).

    Shape: forward(audio (B, T), mel (B, n_mels, F)) with T = F * hop_length -> output
    parameters (B, P, T), where output t depends on audio before t only.
    """

    def __init__(self, n_mels: int = 80, sample_rate: int = 22050, hop_length: int = 256,
                 layers: int = 20, stacks: int = 2, residual_channels: int = 64,
                 gate_channels: int = 128, skip_channels: int = 128, kernel_size: int = 2,
                 cond_channels: int = 80, upsample_scales: Sequence[int] = (16, 16),
                 output: str = "mol", mixtures: int = 10, bits: int = 16, classes: int = 256,
                 log_scale_min: float = -9.0) -> None:
        self.config = constructor_args(locals())
        super().__init__()
        self.upsample = ConditionUpsampler(n_mels, cond_channels, upsample_scales, hop_length)
        self.n_mels, self.sample_rate, self.hop_length = n_mels, sample_rate, hop_length
        self._build(cond_channels, layers, stacks, residual_channels, gate_channels,
                    skip_channels, kernel_size, output, mixtures, bits, classes, log_scale_min)

    def forward(self, audio: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        return self._stack(audio, self.upsample(mel))

    @torch.no_grad()
    def generate(self, mel: torch.Tensor, generator: torch.Generator | None = None,
                 naive: bool = False, progress: bool = False,
                 kernel: str | None = None) -> torch.Tensor:
        """Audio of mels (:meth:`AutoregressiveWaveNet.generate_from`).

        Shape: mel (B, n_mels, F) -> (B, F * hop_length).
        """
        return self.generate_from(self.upsample(mel), generator, naive, progress, kernel)


def wavenet_small(**kwargs) -> WaveNet:
    """The size that trains on two CPU cores: 20 layers in 2 cycles of 1 to 512 (receptive
    field 2,047 samples, 93 ms), 32 residual channels."""
    args = {"layers": 20, "stacks": 2, "residual_channels": 32, "gate_channels": 64,
            "skip_channels": 64, **kwargs}
    return WaveNet(**args)


def wavenet_paper(**kwargs) -> WaveNet:
    """Parallel WaveNet's teacher: 30 layers in 3 cycles of 1 to 512, 512 skip channels."""
    args = {"layers": 30, "stacks": 3, "residual_channels": 64, "gate_channels": 128,
            "skip_channels": 512, "kernel_size": 3, **kwargs}
    return WaveNet(**args)
