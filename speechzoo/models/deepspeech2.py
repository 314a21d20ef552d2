"""Deep Speech 2 (Amodei et al., arXiv 1512.02595).

Spectrogram -> 2-D convolutions with clipped ReLU -> stacked recurrent layers with
sequence-wise BatchNorm on the input-to-hidden product -> (unidirectional models) lookahead
row convolution -> fully connected -> per-frame character log-probabilities for CTC.

Every layer masks what lies beyond a sequence's length, so padding never changes an output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from speechzoo.features import Spectrogram
from speechzoo.kernels import recurrent as recurrent_kernels
from speechzoo.layers.normalization import SequenceBatchNorm, length_mask
from speechzoo.layers.recurrence import GATES, fused_recurrence
from speechzoo.models import constructor_args

CLIP = 20.0  # sigma(x) = min(max(x, 0), 20), section 3.1
_GATES = GATES  # gates per cell type: rnn 1, gru 3 (r, z, n), lstm 4 (i, f, g, o)


def clipped_relu(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(0.0, CLIP)


class _ConvBlock(nn.Module):
    """Conv2d over (frequency, time) + sequence-wise BN + clipped ReLU."""

    def __init__(self, cin: int, cout: int, kernel: Sequence[int], stride: Sequence[int]) -> None:
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)
        pad = (self.kernel[0] // 2, self.kernel[1] // 2)
        self.conv = nn.Conv2d(cin, cout, self.kernel, self.stride, pad, bias=False)
        self.norm = SequenceBatchNorm(cout)

    def out_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        k, s, p = self.kernel[1], self.stride[1], self.kernel[1] // 2
        return torch.div(lengths + 2 * p - k, s, rounding_mode="floor") + 1

    def forward(self, x: torch.Tensor, lengths: torch.Tensor):
        lengths = self.out_lengths(lengths)
        return clipped_relu(self.norm(self.conv(x), lengths)), lengths


class _RecurrentLayer(nn.Module):
    """h_t = f(B(W x_t) + U h_{t-1}) (eq. 4), for simple RNN, GRU or LSTM cells.

    W x_t for all frames is one matrix product followed by sequence-wise BN; only the
    recurrence U h_{t-1} runs frame by frame. Both directions of a bidirectional layer run
    together; the backward one reads each sequence reversed within its own length.
    Bidirectional outputs are summed (section 3.1).

    Two implementations of the same maths: the fused recurrence
    (``speechzoo.layers.recurrence``, hand-written backward; the default) and the plain
    autograd loop over ``_step`` (the reference it is tested against). Set ``fused = False``
    on a layer, or on the class, to run the loop. It is a plain attribute, not a constructor
    argument or a buffer, so configs and state dicts are the same either way. The loop's one
    matrix product per frame is ``_recurrent_product``, which a layer may run another way
    (``speechzoo.layers.sparse``: through sparse kernels) with the same cell maths.
    """

    fused: bool = True
    # the path of inference without gradients (``speechzoo.kernels``; "reference": the fused
    # recurrence, "auto": the fastest kernel that runs here, which on one idle CPU thread beat
    # the fused recurrence at every size measured: benchmarks/results/kernels.json); a plain
    # attribute too
    kernel: str = "auto"

    def __init__(self, input_size: int, hidden_size: int, cell: str, bidirectional: bool) -> None:
        super().__init__()
        self.cell, self.hidden = cell, hidden_size
        self.dirs = 2 if bidirectional else 1
        gates = _GATES[cell] * hidden_size
        self.input = nn.Linear(input_size, self.dirs * gates, bias=False)
        self.norm = SequenceBatchNorm(self.dirs * gates)
        self.recurrent = nn.Parameter(torch.empty(self.dirs, hidden_size, gates))
        self.bias = nn.Parameter(torch.zeros(self.dirs, 1, gates))
        nn.init.uniform_(self.recurrent, -hidden_size**-0.5, hidden_size**-0.5)

    def _recurrent_product(self, h: torch.Tensor) -> torch.Tensor:
        """U h_{t-1} + b of every direction: h (D, B, H) -> (D, B, gates)."""
        return torch.baddbmm(self.bias, h, self.recurrent)

    def _step(self, pre: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        rec = self._recurrent_product(h)  # (D, B, gates)
        if self.cell == "rnn":
            return clipped_relu(pre + rec), c
        if self.cell == "gru":
            xr, xz, xn = pre.chunk(3, -1)
            hr, hz, hn = rec.chunk(3, -1)
            r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
            n = torch.tanh(xn + r * hn)
            return (1 - z) * n + z * h, c
        i, f, g, o = (pre + rec).chunk(4, -1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """x: (B, T, input_size) -> (B, T, hidden_size), zero beyond each length."""
        out = self._fused(x, lengths) if self.fused else self._loop(x, lengths)
        return out * length_mask(lengths, x.shape[1]).unsqueeze(-1).to(out.dtype)

    def _loop(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The reference: autograd through ``_step`` frame by frame."""
        b, t, _ = x.shape
        pre = self.norm(self.input(x).transpose(1, 2), lengths).transpose(1, 2)
        pre = pre.reshape(b, t, self.dirs, -1).permute(2, 1, 0, 3)  # (D, T, B, gates)
        if self.dirs == 2:
            rev = _reverse_index(lengths, t)  # (B, T)
            backward = pre[1].gather(0, rev.t().unsqueeze(-1).expand(-1, -1, pre.shape[-1]))
            pre = torch.stack([pre[0], backward])
        h = x.new_zeros(self.dirs, b, self.hidden)
        c = torch.zeros_like(h)
        outs = []
        for frame in pre.unbind(1):  # unbind, not indexing: its backward is one stack, not T
            h, c = self._step(frame, h, c)
            outs.append(h)
        out = torch.stack(outs, 2)  # (D, B, T, H)
        if self.dirs == 2:
            idx = _reverse_index(lengths, t).unsqueeze(-1).expand(-1, -1, self.hidden)
            return out[0] + out[1].gather(1, idx)
        return out[0]

    def _fused(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The same maths through ``fused_recurrence``; padding frames come out arbitrary."""
        b, t, _ = x.shape
        rows, index = _frame_rows(lengths, t, self.dirs)
        if rows.numel() < 1 + self.training:  # no frame to read, or BN statistics of one
            return self._loop(x, lengths)
        # W x and its BN only on valid frames: BN's statistics are exactly theirs, and
        # torch's batch_norm kernel (fused forward and backward) computes them.
        pre = _normalise(self.norm, self.input(x.reshape(b * t, -1).index_select(0, rows)))
        # Frame-major (D, T, B, gates), direction 1 reversed within each length; a padding
        # frame reads any valid row: it follows its sequence's valid frames in both
        # directions and a recurrence only looks back, so it cannot reach a valid output
        # (and, forward() masking its output, it sends back exactly zero gradient).
        frames = pre.view(-1, pre.shape[1] // self.dirs).index_select(0, index)
        frames = frames.view(self.dirs, t, b, -1)
        # Run in the dtype of the loop's state: pre's (the autocast dtype under autocast),
        # promoted for GRU/LSTM with a zero initial state like x (inside DS2 both are the
        # same; the simple RNN's state is pre + U h alone).
        if self.cell != "rnn":
            frames = frames.to(torch.promote_types(frames.dtype, x.dtype))
        if torch.is_grad_enabled() or self.kernel == "reference":
            hs = fused_recurrence(frames, self.recurrent, self.bias, self.cell, CLIP)
        else:
            hs = recurrent_kernels.run(self, frames.float(), kernel=self.kernel, clip=CLIP)[0]
        out = hs[0].transpose(0, 1)  # (B, T, H)
        if self.dirs == 2:
            rev = _reverse_index(lengths, t).unsqueeze(-1).expand(-1, -1, self.hidden)
            out = out + hs[1].transpose(0, 1).gather(1, rev)
        return out


def _frame_rows(lengths: torch.Tensor, t: int, dirs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each direction's frames lie among the valid frames.

    Returns rows (N,): the valid (b, t) of a (B * T)-row batch, in order; and index
    (D * T * B,): for direction d, frame t, sequence b, the row ``D * n + d`` of the (N * D)
    per-direction rows, n the valid frame it reads (direction 1: frame ``rev[b, t]``,
    ``_reverse_index``); padding frames read row d.
    """
    mask = length_mask(lengths, t)  # (B, T)
    rows = mask.flatten().nonzero().squeeze(1)
    position = mask.flatten().cumsum(0).view(mask.shape) - 1  # (B, T) valid row of (b, t)
    steps = torch.arange(t, device=lengths.device).expand_as(mask)
    sources = [steps, _reverse_index(lengths, t)][:dirs]
    index = [torch.where(mask, position.gather(1, s), 0) * dirs + d
             for d, s in enumerate(sources)]
    return rows, torch.stack(index).transpose(1, 2).flatten()


def _normalise(norm: SequenceBatchNorm, y: torch.Tensor) -> torch.Tensor:
    """``norm`` (sequence-wise BN, section 3.2) on the valid frames y: (N, C) -> (N, C).

    The same statistics, running-average updates (momentum, unbiased variance) and fp32
    arithmetic as ``SequenceBatchNorm``, which sees the padded batch and masks.
    """
    # torch's kernel takes bf16/fp16 input with fp32 parameters and accumulates in fp32:
    # SequenceBatchNorm's upcast without its two full-size copies
    x = y if y.dtype in (torch.bfloat16, torch.float16) else y.float()
    with torch.autocast(y.device.type, enabled=False):
        out = F.batch_norm(x, norm.running_mean, norm.running_var, norm.weight, norm.bias,
                           norm.training, norm.momentum, norm.eps)
    if norm.training:
        norm.num_batches_tracked.add_(1)
    return out.to(y.dtype)


def _reverse_index(lengths: torch.Tensor, t: int) -> torch.Tensor:
    """(B, T) indices that reverse each sequence within its length (padding stays put)."""
    steps = torch.arange(t, device=lengths.device)[None, :]
    rev = lengths[:, None] - 1 - steps
    return torch.where(rev >= 0, rev, steps)


class _Lookahead(nn.Module):
    """Row convolution (section 3.5): r_{t,i} = sum_{j=1}^{tau+1} W_{i,j} h_{t+j-1,i}."""

    def __init__(self, channels: int, context: int) -> None:
        super().__init__()
        self.context = context
        self.conv = nn.Conv1d(channels, channels, context + 1, groups=channels, bias=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """h: (B, T, C), zero beyond each length -> (B, T, C)."""
        return self.conv(F.pad(h.transpose(1, 2), (0, self.context))).transpose(1, 2)


# (spectrogram (B, F, T), frames (B,)) -> spectrogram (B, F, T)
FeatureAugment = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class DeepSpeech2(nn.Module):
    """Deep Speech 2 acoustic model.

    Args:
        num_classes: output classes, the CTC blank (id 0) included.
        sample_rate: rate of the input waveforms.
        window_ms, hop_ms: spectrogram window and stride (the paper: 20 and 10).
        conv_channels: output channels of each 2-D convolution.
        conv_kernels: (frequency, time) kernel of each convolution.
        conv_strides: (frequency, time) stride of each convolution.
        rnn_type: ``"rnn"`` (clipped-ReLU simple RNN), ``"gru"`` or ``"lstm"``.
        rnn_hidden: hidden units per recurrent layer.
        rnn_layers: number of recurrent layers.
        bidirectional: bidirectional recurrences; otherwise a lookahead row convolution
            follows the last one.
        lookahead: future frames the row convolution sees (unidirectional models only).
        normalize: normalise the spectrogram per utterance (section 3); a streaming model
            cannot see the whole utterance, so it takes the log spectrogram as it is and
            leaves the scaling to the first convolution's BatchNorm.

    Shape:
        waveforms: (B, samples) at ``sample_rate``, lengths: (B,) samples; ``augment``
        as in :meth:`conv_features`.
        Returns log-probabilities (B, T', num_classes) and frame lengths (B,).
    """

    def __init__(self, num_classes: int = 29, sample_rate: int = 16000, window_ms: float = 20.0,
                 hop_ms: float = 10.0, conv_channels: Sequence[int] = (32, 32),
                 conv_kernels: Sequence[Sequence[int]] = ((41, 11), (21, 11)),
                 conv_strides: Sequence[Sequence[int]] = ((2, 2), (2, 1)),
                 rnn_type: str = "gru", rnn_hidden: int = 256, rnn_layers: int = 3,
                 bidirectional: bool = True, lookahead: int = 20,
                 normalize: bool = True) -> None:
        self.config = constructor_args(locals())
        super().__init__()
        if rnn_type not in _GATES:
            raise ValueError(f"rnn_type must be one of {sorted(_GATES)}, got {rnn_type!r}")
        if not len(conv_channels) == len(conv_kernels) == len(conv_strides):
            raise ValueError("conv_channels, conv_kernels and conv_strides need one entry per "
                             "convolution")
        self.num_classes, self.sample_rate = num_classes, sample_rate
        # Log power spectrogram of 20 ms windows every 10 ms, normalised per utterance and
        # frequency (sections 3 and 3.1).
        self.features = Spectrogram(sample_rate, window_ms, hop_ms, normalize=normalize)
        freq, cin = self.features.bins, 1
        self.convs = nn.ModuleList()
        for cout, kernel, stride in zip(conv_channels, conv_kernels, conv_strides, strict=True):
            self.convs.append(_ConvBlock(cin, cout, kernel, stride))
            freq = (freq + 2 * (kernel[0] // 2) - kernel[0]) // stride[0] + 1
            cin = cout
        size = cin * freq
        self.rnns = nn.ModuleList()
        for _ in range(rnn_layers):
            self.rnns.append(_RecurrentLayer(size, rnn_hidden, rnn_type, bidirectional))
            size = rnn_hidden
        self.lookahead = None if bidirectional or lookahead <= 0 else _Lookahead(size, lookahead)
        self.norm = SequenceBatchNorm(size)
        self.fc = nn.Linear(size, num_classes)

    def output_lengths(self, samples: torch.Tensor) -> torch.Tensor:
        """Frames out for waveforms of ``samples`` samples."""
        n = self.features.frames(samples)
        for conv in self.convs:
            n = conv.out_lengths(n)
        return n

    def conv_features(self, waveforms: torch.Tensor, lengths: torch.Tensor,
                      augment: FeatureAugment | None = None):
        """The convolutions' output, what the recurrent layers read (also Parallel
        WaveNet's perceptual features); ``augment(spectrogram, frames)`` alters the
        spectrogram first (training augmentation such as SpecAugment).
        Shape: (B, samples), (B,) -> (B, T', C * F'), (B,)."""
        x, n = self.features(waveforms, lengths)
        if augment is not None:
            x = augment(x, n)
        if not self.features.normalize:  # frames past a length are zero, as normalised ones
            x = x * length_mask(n, x.shape[-1]).unsqueeze(1).to(x.dtype)
        x = x.unsqueeze(1)  # (B, 1, F, T)
        for conv in self.convs:
            x, n = conv(x, n)
        return x.flatten(1, 2).transpose(1, 2), n

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor,
                augment: FeatureAugment | None = None):
        x, n = self.conv_features(waveforms, lengths, augment)
        for rnn in self.rnns:
            x = rnn(x, n)
        if self.lookahead is not None:
            x = clipped_relu(self.lookahead(x))
        x = self.norm(x.transpose(1, 2), n).transpose(1, 2)
        return F.log_softmax(self.fc(x).float(), dim=-1), n

    @property
    def frame_seconds(self) -> float:
        """Seconds between output frames: the spectrogram hop times the convolutions' time
        strides (20 ms for a 10 ms hop and strides 2, 1)."""
        stride = self.features.hop
        for conv in self.convs:
            stride *= conv.stride[1]
        return stride / self.sample_rate

    def frame_centre(self, frame: int | torch.Tensor) -> float | torch.Tensor:
        """The time (seconds) of output frame ``frame`` (an int, array or tensor): the centre of
        the spectrogram window at the middle of its receptive field. Output ``j`` of a
        convolution sees inputs ``j * s - p`` to ``j * s - p + k - 1``, centred on ``j * s``
        for the odd kernels used here."""
        scale, offset = 1, 0.0
        for conv in self.convs:
            k, s = conv.kernel[1], conv.stride[1]
            offset += scale * ((k - 1) / 2 - k // 2)
            scale *= s
        hop, win = self.features.hop, self.features.win
        return ((frame * scale + offset) * hop + win / 2) / self.sample_rate


def deepspeech2_small(num_classes: int = 29, **kwargs) -> DeepSpeech2:
    """A CPU-sized model (about 3M parameters) that trains in minutes on the embedded corpus."""
    args = dict(conv_channels=(16, 16), rnn_type="gru", rnn_hidden=256, rnn_layers=3,
                bidirectional=True)
    return DeepSpeech2(num_classes, **{**args, **kwargs})


def deepspeech2_paper(num_classes: int = 29, **kwargs) -> DeepSpeech2:
    """The paper's largest English configuration (sections 3.1-3.3, Tables 1-2): 3
    convolutions, 7 bidirectional GRU layers of 1280 units (about 144M parameters here, as
    each direction has its own input-to-hidden matrix)."""
    args = dict(conv_channels=(32, 32, 96), conv_kernels=((41, 11), (21, 11), (21, 11)),
                conv_strides=((2, 2), (2, 1), (2, 1)), rnn_type="gru", rnn_hidden=1280,
                rnn_layers=7, bidirectional=True)
    return DeepSpeech2(num_classes, **{**args, **kwargs})
