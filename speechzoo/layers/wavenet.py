"""WaveNet's building blocks (arXiv 1609.03499 section 2), shared by the WaveNet vocoder, the
Parallel WaveNet student's flows and Deep Voice's vocoder.

A :class:`WaveNetStack` is the dilated causal convolution stack with gated units, residual
and skip connections; :class:`ConditionUpsampler` stretches mel frames to the sample rate
(learned transposed convolutions). The stack runs two ways with the same weights: over a
whole sequence (training, parallel flows) and one sample at a time (:class:`StackState`),
where each layer keeps a queue of its past inputs, so a new sample costs one matrix product
per layer rather than a convolution over the past (Paine et al. 2016, "Fast WaveNet").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def dilations(layers: int, stacks: int) -> list[int]:
    """WaveNet's dilation pattern: ``stacks`` cycles of 1, 2, 4, ... (section 2.1)."""
    if layers < 1 or stacks < 1 or layers % stacks:
        raise ValueError(f"layers ({layers}) must be a positive multiple of stacks ({stacks})")
    return [2 ** i for i in range(layers // stacks)] * stacks


def gated(h: torch.Tensor, dim: int) -> torch.Tensor:
    """``tanh(a) . sigmoid(b)`` of the two halves of ``h`` along ``dim`` (section 2.3); tanh is
    written through the sigmoid so the Triton kernels compute the same expression."""
    a, b = h.chunk(2, dim)
    return (2 * torch.sigmoid(2 * a) - 1) * torch.sigmoid(b)


class ResidualBlock(nn.Module):
    """One gated residual unit (sections 2.3-2.5):
    ``z = tanh(W_f * x + V_f y) . sigmoid(W_g * x + V_g y)``, then 1x1 convolutions to the
    residual (added to the input) and to the skip output.

    Args:
        channels: residual channels.
        gate_channels: channels of the filter and gate together (halved by the gate).
        skip_channels: skip output channels.
        kernel_size, dilation: the causal convolution.

    The conditioning term ``V y`` is computed outside (:meth:`WaveNetStack.condition`, all
    layers in one product) and passed in.

    Shape: x (B, channels, T), cond (B, gate_channels, T) -> residual out (B, channels, T),
    skip (B, skip_channels, T).
    """

    def __init__(self, channels: int, gate_channels: int, skip_channels: int,
                 kernel_size: int, dilation: int) -> None:
        super().__init__()
        if gate_channels % 2:
            raise ValueError(f"gate_channels must be even, got {gate_channels}")
        self.channels, self.kernel_size, self.dilation = channels, kernel_size, dilation
        self.conv = nn.Conv1d(channels, gate_channels, kernel_size, dilation=dilation)
        self.out = nn.Conv1d(gate_channels // 2, channels + skip_channels, 1)

    @property
    def receptive_field(self) -> int:
        return (self.kernel_size - 1) * self.dilation

    def forward(self, x: torch.Tensor, cond: torch.Tensor):
        h = self.conv(F.pad(x, (self.receptive_field, 0))) + cond
        z = gated(h, 1)
        res, skip = self.out(z).split([self.channels, self.out.out_channels - self.channels], 1)
        # the residual sum scaled by sqrt(1/2) keeps its variance from growing with depth
        return (x + res) * math.sqrt(0.5), skip


class WaveNetStack(nn.Module):
    """Causal input convolution, residual blocks, and the skip head
    ``relu -> 1x1 -> relu -> 1x1`` to ``out_channels`` (section 2.4).

    The input is shifted by one sample, so output ``t`` depends on inputs before ``t`` only
    (what an autoregressive model and an inverse autoregressive flow both need).

    Args:
        in_channels, out_channels: input features per sample and outputs per sample.
        cond_channels: channels of the upsampled conditioning.
        layers, stacks: residual blocks and dilation cycles.
        residual_channels, gate_channels, skip_channels, kernel_size: block sizes.

    Shape: x (B, in_channels, T), cond (B, cond_channels, T) -> (B, out_channels, T).
    """

    def __init__(self, in_channels: int, out_channels: int, cond_channels: int, layers: int,
                 stacks: int, residual_channels: int, gate_channels: int, skip_channels: int,
                 kernel_size: int = 2) -> None:
        super().__init__()
        self.input = nn.Conv1d(in_channels, residual_channels, 1)
        self.blocks = nn.ModuleList(
            ResidualBlock(residual_channels, gate_channels, skip_channels, kernel_size, d)
            for d in dilations(layers, stacks))
        self.cond = nn.Conv1d(cond_channels, gate_channels * layers, 1)
        self.head = nn.Sequential(nn.ReLU(), nn.Conv1d(skip_channels, skip_channels, 1),
                                  nn.ReLU(), nn.Conv1d(skip_channels, out_channels, 1))

    @property
    def receptive_field(self) -> int:
        """Past samples an output sees (the shift included)."""
        return 1 + sum(b.receptive_field for b in self.blocks)

    def condition(self, cond: torch.Tensor) -> torch.Tensor:
        """Every layer's ``V y``, in one product. Shape: (B, cond_channels, T) ->
        (B, layers * gate_channels, T)."""
        return self.cond(cond)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.input(F.pad(x, (1, -1)))
        skips = 0
        for block, c in zip(self.blocks, self.condition(cond).chunk(len(self.blocks), 1),
                            strict=True):
            h, s = block(h, c)
            skips = skips + s
        return self.head(skips)

    def state(self, batch: int, cond: torch.Tensor) -> StackState:
        """The incremental generator over upsampled conditioning ``cond`` (B, C, T)."""
        return StackState(self, batch, cond)


_CHUNK = 4096  # steps of conditioning StackState computes at a time


def _numpy(x: torch.Tensor) -> np.ndarray:
    # row-major whatever the tensor's strides (a transposed weight stays transposed through
    # torch's elementwise ops): the compiled kernel's products vectorise along rows only
    return np.ascontiguousarray(x.detach().float().cpu().numpy())


class StackState:
    """Sample-by-sample evaluation of a :class:`WaveNetStack`: ``step(x_prev)`` returns the
    outputs at the next time step given the previous input sample, what the parallel forward
    pass gives there. Each layer keeps a ring buffer of its last ``receptive_field`` inputs,
    so a step is one product per tap and one for the residual and skip outputs per layer.

    This is the CPU fast path: it runs in NumPy on the CPU whatever device the stack is on, as
    a step is a few products of a few dozen channels, where a torch call's dispatch (or a GPU
    kernel launch) costs more than the arithmetic; the conditioning of every layer is
    computed in parallel, :data:`_CHUNK` steps at a time.

    Shape: cond (B, cond_channels, T); step: x_prev (B, in_channels) -> (B, out_channels),
    NumPy float32 arrays.
    """

    def __init__(self, stack: WaveNetStack, batch: int, cond: torch.Tensor) -> None:
        self.t, blocks = 0, list(stack.blocks)
        self.dilations = [b.dilation for b in blocks]
        self.spans = [b.receptive_field for b in blocks]
        self.channels = [b.channels for b in blocks]
        # sigmoid(g) = (1 + tanh(g / 2)) / 2: the gate half of every pre-activation is halved
        # in its weights, so one tanh serves filter and gate, and the remaining 1/2 goes into
        # the output weights
        g = blocks[0].conv.out_channels // 2
        gate = torch.cat([torch.ones(g), torch.full((g,), 0.5)])
        # every layer's conditioning term, computed a chunk of steps at a time in one parallel
        # product (all of it at once would be layers x gates floats per sample), with the
        # layers' convolution biases and the gate halving folded into its weights; written
        # (B, steps, L, G), the order a step reads it in
        scale = gate.repeat(len(blocks)).to(cond.device)
        with torch.no_grad():
            self._cond_w = (stack.cond.weight[:, :, 0] * scale[:, None]).T.contiguous()
            biases = torch.cat([b.conv.bias for b in blocks])
            self._cond_b = (stack.cond.bias + biases) * scale
        self._upsampled = cond
        # conv weight (G, C, K) -> one (C, G) matrix per tap, oldest first
        self.taps = [[_numpy(w.T * gate) for w in b.conv.weight.unbind(2)] for b in blocks]
        self.res = [(_numpy(b.out.bias[:b.channels]), _numpy(b.out.weight[:b.channels, :, 0].T / 2))
                    for b in blocks]
        # the skip outputs of all layers in one product at the end of the step
        self.skip_bias = _numpy(sum(b.out.bias[b.channels:] for b in blocks))
        self.skip = _numpy(torch.cat([b.out.weight[b.channels:, :, 0].T / 2 for b in blocks]))
        self.input = (_numpy(stack.input.bias), _numpy(stack.input.weight[:, :, 0].T))
        self.head = [(_numpy(m.bias), _numpy(m.weight[:, :, 0].T)) for m in stack.head
                     if isinstance(m, nn.Conv1d)]
        # one ring buffer per layer, all of the longest span (a layer uses its own first rows)
        self.queues = np.zeros((len(blocks), max(max(1, n) for n in self.spans), batch,
                                self.channels[0]), np.float32)
        self.gates = np.zeros((batch, len(blocks), g), np.float32)

    @torch.no_grad()
    def conditioning(self, start: int, steps: int = _CHUNK) -> torch.Tensor:
        """Every layer's conditioning term of steps ``start ... start + steps - 1``, with the
        convolution bias and the gate halving in, on the stack's device, computed in parallel.
        Shape: (B, steps, L, G)."""
        x = self._upsampled[..., start:start + steps].transpose(1, 2)  # (B, steps, C)
        c = torch.addmm(self._cond_b, x.reshape(-1, x.shape[-1]), self._cond_w)
        return c.view(x.shape[0], x.shape[1], len(self.taps), -1)

    def _condition(self, start: int) -> None:
        self.cond = np.ascontiguousarray(_numpy(self.conditioning(start)))

    def run(self, prev: np.ndarray, u: np.ndarray, kind: int, levels: np.ndarray,
            log_scale_min: float) -> np.ndarray:
        """The next ``len(u)`` samples drawn by the compiled CPU kernel
        (``speechzoo.kernels.wavenet_cpu``), each fed back as the next input, sampling
        inside the kernel: what ``step`` and the model's ``sample`` give one at a time.

        Shape: prev (B,) the sample before (updated), u (n, B, U) -> (n, B) NumPy.
        """
        from speechzoo.kernels.wavenet_cpu import generate_chunk, noise

        packed = self.packed()
        out = np.zeros(u.shape[:2], np.float32)
        done = 0
        while done < len(u):
            if self.t % _CHUNK == 0:
                self._condition(self.t)
            at = self.t % _CHUNK
            n = min(len(u) - done, _CHUNK - at)
            generate_chunk(self.t, prev, self.cond[:, at:at + n], noise(u[done:done + n], kind),
                           out[done:done + n], *packed, self.queues, kind, levels,
                           np.float32(log_scale_min))
            self.t += n
            done += n
        return out

    def packed(self) -> tuple[np.ndarray, ...]:
        """The weights stacked over layers, as ``kernels.wavenet_cpu.generate_chunk`` takes
        them (after ``u, out``, before the queues)."""
        if not hasattr(self, "_packed"):
            g = self.taps[0][0].shape[1] // 2
            self._packed = (
                np.stack([np.stack(t) for t in self.taps]),
                np.array(self.spans, np.int64), np.array(self.dilations, np.int64),
                np.stack([w for _, w in self.res]), np.stack([b for b, _ in self.res]),
                np.ascontiguousarray(self.skip.reshape(len(self.taps), g, -1)),
                self.skip_bias, self.input[1][0], self.input[0],
                self.head[0][1], self.head[0][0], self.head[1][1], self.head[1][0])
        return self._packed

    def step(self, x_prev: np.ndarray) -> np.ndarray:
        """Shape: x_prev (B, in_channels), zeros at t = 0 -> outputs (B, out_channels)."""
        t, half = self.t, np.float32(math.sqrt(0.5))
        h = x_prev @ self.input[1] + self.input[0]
        if t % _CHUNK == 0:
            self._condition(t)
        for i, taps in enumerate(self.taps):
            queue, d, n = self.queues[i], self.dilations[i], self.spans[i]
            slot = t % max(1, n)
            a = h @ taps[-1] + self.cond[:, t % _CHUNK, i]
            for j, w in enumerate(taps[:-1]):
                a += queue[(slot + j * d) % n] @ w
            a = np.tanh(a)
            z = self.gates[:, i]
            np.multiply(a[:, :z.shape[1]], 1 + a[:, z.shape[1]:], out=z)
            if n:
                queue[slot] = h
            h = (h + z @ self.res[i][1] + self.res[i][0]) * half
        skips = self.gates.reshape(len(h), -1) @ self.skip + self.skip_bias
        for bias, weight in self.head:
            skips = np.maximum(skips, 0) @ weight + bias
        self.t += 1
        return skips


class ConditionUpsampler(nn.Module):
    """Mel frames -> one conditioning vector per sample: a context convolution over frames,
    then a transposed convolution per factor of the hop (kernel twice the factor), with a
    leaky ReLU between (the learned upsampling of WaveNet's local conditioning, section 2.5).

    Args:
        n_mels: mel bands in.
        channels: conditioning channels out.
        scales: upsampling factors whose product is the hop.
        hop: the hop they must multiply to, if given (the model's ``hop_length``).

    Shape: mel (B, n_mels, F) -> (B, channels, F * prod(scales)).
    """

    def __init__(self, n_mels: int, channels: int, scales: Sequence[int],
                 hop: int | None = None) -> None:
        super().__init__()
        if any(s < 2 or s % 2 for s in scales):
            raise ValueError(f"upsampling scales must be even and at least 2, got {scales}")
        if hop is not None and math.prod(scales) != hop:
            raise ValueError(f"upsample_scales {list(scales)} multiply to {math.prod(scales)}, "
                             f"not hop_length {hop}")
        self.context = nn.Conv1d(n_mels, channels, 3, padding=1)
        self.ups = nn.ModuleList(nn.ConvTranspose1d(channels, channels, 2 * s, stride=s,
                                                    padding=s // 2) for s in scales)
        self.hop = math.prod(scales)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        h = self.context(mel)
        for up in self.ups:
            h = up(F.leaky_relu(h, 0.4))
        return h
