"""Onsets and Frames (Hawthorne et al. 2017, arXiv 1710.11153, section 3) with the MAESTRO
paper's changes (Hawthorne et al. 2018, arXiv 1810.12247, section 4).

Log-mel frames -> one acoustic stack per head (Kelz et al. 2016's convolutions + a fully
connected layer) ->

* onset (and offset) head: bidirectional LSTM -> 88 logits;
* velocity head: 88 outputs straight from its acoustic stack (a regression towards
  velocity / 127, trained on onset frames only);
* frame head: 88 sigmoid activations from its acoustic stack, joined by the onset (and offset)
  probabilities with their gradient stopped (the frame loss does not train the onset and
  offset detectors) -> bidirectional LSTM -> 88 logits.

Every head returns logits; the sigmoid and the onset-gated note rule are
``speechzoo.decoding.notes``'s. Padding never changes a valid frame: the convolutions see
zeros past each length, their BatchNorm pools only valid frames, and the LSTMs run on packed
sequences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from speechzoo.layers.normalization import SequenceBatchNorm, length_mask
from speechzoo.models import constructor_args
from speechzoo.models.deepspeech2 import _normalise
from speechzoo.music import N_KEYS


@dataclass
class OnsetsFramesOutput:
    """The heads' outputs, each (B, T, n_keys): logits for onset, offset and frame (offset
    None without an offset head), the raw velocity regression (None without a velocity head).
    Frames past a sequence's length hold arbitrary values."""

    onset: torch.Tensor
    offset: torch.Tensor | None
    frame: torch.Tensor
    velocity: torch.Tensor | None


class AcousticStack(nn.Module):
    """Kelz et al. (2016)'s convolutional acoustic model, as Onsets and Frames uses it
    (1710.11153 section 3; 1810.12247 section 4 widens it): conv 3x3 + BN + ReLU; conv + BN +
    ReLU, max-pool 2 over frequency, dropout; conv + BN + ReLU, max-pool 2, dropout; fully
    connected + ReLU, dropout.

    Args:
        n_mels: input bins.
        channels: output channels of the three convolutions.
        fc_size: width of the fully connected layer.
        dropout: after each pooling (Kelz: 0.25; Magenta's code keeps 0.25 instead).
        fc_dropout: after the fully connected layer (Kelz, Magenta: 0.5).

    Shape: mels (B, n_mels, T), frames (B,) -> (B, T, fc_size).
    """

    def __init__(self, n_mels: int, channels: Sequence[int], fc_size: int, dropout: float,
                 fc_dropout: float) -> None:
        super().__init__()
        if len(channels) != 3:
            raise ValueError(f"conv_channels needs three entries, got {list(channels)}")
        cin = [1, *channels[:2]]
        self.convs = nn.ModuleList(nn.Conv2d(i, o, 3, padding=1, bias=False)
                                   for i, o in zip(cin, channels, strict=True))
        self.convs.to(memory_format=torch.channels_last)
        self.norms = nn.ModuleList(SequenceBatchNorm(o) for o in channels)
        self.pool = (False, True, True)
        self.dropout = nn.Dropout(dropout, inplace=True)
        self.fc = nn.Linear(channels[2] * (n_mels // 4), fc_size)
        self.fc_dropout = nn.Dropout(fc_dropout)

    def forward(self, mels: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        # Every convolution sees zeros past each length (the input masked here, then
        # SequenceBatchNorm's zeroed padding): a valid frame near the end sees what the clip
        # alone would see (zero padding), whatever the batch's padding.
        mask = length_mask(frames, mels.shape[-1])[:, None, :].to(mels.dtype)  # (B, 1, T)
        padded = bool((frames < mels.shape[-1]).any())
        # channels-last: torch's CPU convolutions run about 3x faster on it
        x = (mels * mask).unsqueeze(1).contiguous(memory_format=torch.channels_last)
        # In place where autograd allows (nothing saved is overwritten): a fresh large tensor
        # costs more than the arithmetic on CPU (page faults on first touch).
        for conv, norm, pool in zip(self.convs, self.norms, self.pool, strict=True):
            x = F.relu(_batch_norm(norm, conv(x), frames, padded), inplace=True)
            if pool:
                x = self.dropout(F.max_pool2d(x, (2, 1)))
        x = x.permute(0, 3, 1, 2).flatten(2)  # (B, T, C * F / 4)
        return self.fc_dropout(F.relu(self.fc(x), inplace=True))


def _batch_norm(norm: SequenceBatchNorm, x: torch.Tensor, frames: torch.Tensor,
                padded: bool) -> torch.Tensor:
    """``norm(x, frames)``, through torch's fused kernel where that gives the same: in
    evaluation (then zeroing the padding), and in training when no clip is ``padded`` (the
    usual training batch of equal crops). Shape: x (B, C, F, T), frames (B,) -> x's shape."""
    if norm.training and padded:
        return norm(x, frames)
    y = _normalise(norm, x)
    return y * length_mask(frames, x.shape[-1])[:, None, None, :].to(y.dtype) if padded else y


class BiLSTM(nn.Module):
    """A bidirectional LSTM over packed sequences: each direction starts and ends at the
    sequence's own ends, so padding cannot reach a valid frame.

    Shape: x (B, T, input_size), frames (B,) -> (B, T, 2 * hidden_size), zero past a length.
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, batch_first=True, bidirectional=True)

    def forward(self, x: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        # The cuDNN/CPU LSTM kernels take one dtype: run them in the weights' (fp32 under
        # autocast, whose LSTM support differs between devices).
        dtype = x.dtype
        with torch.autocast(x.device.type, enabled=False):
            packed = pack_padded_sequence(x.to(self.lstm.weight_ih_l0.dtype),
                                          frames.cpu().clamp_min(1), batch_first=True,
                                          enforce_sorted=False)
            out, _ = self.lstm(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return out.to(dtype)


class OnsetsAndFrames(nn.Module):
    """Onsets and Frames piano transcription network.

    Args:
        n_mels: log-mel bins of the input (the papers: 229, ``music.PIANO_MEL``).
        n_keys: output pitches (88, MIDI 21..108).
        conv_channels: the acoustic stacks' three convolutions (2017: 32, 32, 64; MAESTRO:
            48, 48, 96).
        fc_size: the acoustic stacks' fully connected width (2017: 512; MAESTRO: 768).
        lstm_size: units per direction of every BiLSTM (2017: 128; MAESTRO: 256).
        dropout: after the acoustic stacks' poolings; fc_dropout: after their fully connected
            layer (Kelz et al.: 0.25 and 0.5).
        offset_head: an offset detector whose probabilities also feed the frame head
            (MAESTRO, 1810.12247 section 4).
        velocity_head: a velocity stack (both papers: 1710.11153's velocity estimation,
            1810.12247 section 4).

    The input is the log-mel as it comes (the papers do not normalise it further; each
    convolution's BatchNorm sets the scale).

    Shape:
        mels: (B, n_mels, T) log-mel frames; frames: (B,) valid frames per clip.
        Returns :class:`OnsetsFramesOutput`, each head (B, T, n_keys).
    """

    def __init__(self, n_mels: int = 229, n_keys: int = N_KEYS,
                 conv_channels: Sequence[int] = (48, 48, 96), fc_size: int = 768,
                 lstm_size: int = 256, dropout: float = 0.25, fc_dropout: float = 0.5,
                 offset_head: bool = True, velocity_head: bool = True) -> None:
        self.config = constructor_args(locals())
        super().__init__()
        if n_mels < 4:
            raise ValueError(f"n_mels must be at least 4 (two poolings by 2), got {n_mels}")

        def stack() -> AcousticStack:
            return AcousticStack(n_mels, conv_channels, fc_size, dropout, fc_dropout)

        self.onset_stack, self.onset_lstm = stack(), BiLSTM(fc_size, lstm_size)
        self.onset_fc = nn.Linear(2 * lstm_size, n_keys)
        self.offset_stack = stack() if offset_head else None
        self.offset_lstm = BiLSTM(fc_size, lstm_size) if offset_head else None
        self.offset_fc = nn.Linear(2 * lstm_size, n_keys) if offset_head else None
        self.velocity_stack = stack() if velocity_head else None
        self.velocity_fc = nn.Linear(fc_size, n_keys) if velocity_head else None
        self.frame_stack, self.activation_fc = stack(), nn.Linear(fc_size, n_keys)
        inputs = (3 if offset_head else 2) * n_keys
        self.frame_lstm = BiLSTM(inputs, lstm_size)
        self.frame_fc = nn.Linear(2 * lstm_size, n_keys)

    def forward(self, mels: torch.Tensor, frames: torch.Tensor) -> OnsetsFramesOutput:
        onset = self.onset_fc(self.onset_lstm(self.onset_stack(mels, frames), frames))
        # The frame head reads the onset and offset detectors' probabilities but does not
        # train them (stopped gradient, 1710.11153 section 3; 1810.12247 section 4).
        detected = [torch.sigmoid(onset).detach()]
        offset = None
        if self.offset_stack is not None:
            h = self.offset_lstm(self.offset_stack(mels, frames), frames)
            offset = self.offset_fc(h)
            detected.append(torch.sigmoid(offset).detach())
        velocity = None
        if self.velocity_stack is not None:
            velocity = self.velocity_fc(self.velocity_stack(mels, frames))
        activation = torch.sigmoid(self.activation_fc(self.frame_stack(mels, frames)))
        joined = torch.cat([detected[0], activation, *detected[1:]], dim=-1)
        frame = self.frame_fc(self.frame_lstm(joined, frames))
        return OnsetsFramesOutput(onset, offset, frame, velocity)


def onsets_frames_small(**kwargs) -> OnsetsAndFrames:
    """A CPU-sized MAESTRO-style model: all four heads, a third of the convolution and fully
    connected widths, a quarter of the LSTMs' (about a ninth of the MAESTRO size's
    computation per frame)."""
    args = dict(conv_channels=(16, 16, 32), fc_size=256, lstm_size=64)
    return OnsetsAndFrames(**{**args, **kwargs})


def onsets_frames_2017(**kwargs) -> OnsetsAndFrames:
    """The 2017 paper's model (1710.11153: section 3, and its velocity estimation):
    convolutions of 32, 32, 64 channels, a 512-wide fully connected layer, 128-unit BiLSTMs;
    onset, frame and velocity stacks, no offset head (the frame head reads the onset
    probabilities only)."""
    args = dict(conv_channels=(32, 32, 64), fc_size=512, lstm_size=128, offset_head=False,
                velocity_head=True)
    return OnsetsAndFrames(**{**args, **kwargs})


def onsets_frames_maestro(**kwargs) -> OnsetsAndFrames:
    """The MAESTRO paper's model (1810.12247, section 4): convolutions of 48, 48, 96 channels,
    a 768-wide fully connected layer, 256-unit BiLSTMs, onset, offset, velocity and frame
    heads (about 23M parameters)."""
    return OnsetsAndFrames(**kwargs)
