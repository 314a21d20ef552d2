"""Deep Voice's audio synthesis model (arXiv 1702.07825, section 3.4): a WaveNet conditioned on
phonemes, durations and F0 rather than on a spectrogram.

* Conditioning network: per frame (``hop_length`` samples) the phoneme it falls in
  (embedded) and four numbers, voiced, F0, position within the phoneme and the phoneme's
  length (``speechzoo.data.prosody.frame_conditioning``), encoded by a stack of bidirectional
  recurrent layers and then **upsampled by repetition** to the sample rate, which the paper
  found better, faster and smaller than WaveNet's transposed convolutions. The paper's layers
  are QRNNs; here they are GRUs, as torch has a fused bidirectional GRU and no QRNN, and the
  conditioning runs at the frame rate, where its cost is negligible beside the sample-rate
  stack.
* Autoregressive network: the WaveNet stack of ``speechzoo.layers.wavenet`` (2x1
  convolutions, gated tanh units, residual and skip connections, two 1x1 layers with ReLU),
  over a **256-way mu-law softmax** (section 3.4: ``P(y)`` over 8-bit samples).

The same stack runs sample by sample through ``StackState`` for generation.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from speechzoo.data.prosody import FRAME_FEATURES
from speechzoo.models import constructor_args
from speechzoo.models.wavenet import AutoregressiveWaveNet


class DeepVoiceSynthesis(AutoregressiveWaveNet):
    """``p(x_t | x_<t, phonemes, durations, F0)``.

    Args:
        n_tokens: phoneme classes (the TTS phoneme tokenizer's).
        sample_rate, hop_length: audio rate and samples per conditioning frame.
        embedding: phoneme embedding size.
        rnn_size, rnn_layers: the bidirectional recurrent conditioning stack.
        cond_channels: conditioning channels per sample.
        f0_reference_hz: the F0 feature is ``log2(f0 / f0_reference_hz)``.
        layers, stacks, residual_channels, gate_channels, skip_channels, kernel_size, output,
            mixtures, bits, classes, log_scale_min: the WaveNet stack and output
            (``AutoregressiveWaveNet``); the paper's output is ``"mulaw"``.

    Shape: condition(tokens (B, F), features (B, F, 4), lengths (B,)) -> (B, cond_channels, F);
    forward(audio (B, F' * hop_length), cond (B, cond_channels, F')) -> parameters
    (B, P, F' * hop_length), output t seeing audio before t only.
    """

    def __init__(self, n_tokens: int = 61, sample_rate: int = 22050, hop_length: int = 256,
                 embedding: int = 64, rnn_size: int = 64, rnn_layers: int = 2,
                 cond_channels: int = 64, f0_reference_hz: float = 100.0, layers: int = 20,
                 stacks: int = 2, residual_channels: int = 32, gate_channels: int = 64,
                 skip_channels: int = 64, kernel_size: int = 2, output: str = "mulaw",
                 mixtures: int = 10, bits: int = 16, classes: int = 256,
                 log_scale_min: float = -9.0) -> None:
        self.config = constructor_args(locals())
        super().__init__()
        self.sample_rate, self.hop_length = sample_rate, hop_length
        self.f0_reference_hz = f0_reference_hz
        self.embed = nn.Embedding(n_tokens, embedding, padding_idx=0)
        self.rnn = nn.GRU(embedding + FRAME_FEATURES, rnn_size, rnn_layers, batch_first=True,
                          bidirectional=True)
        self.project = nn.Conv1d(2 * rnn_size, cond_channels, 1)
        self._build(cond_channels, layers, stacks, residual_channels, gate_channels,
                    skip_channels, kernel_size, output, mixtures, bits, classes, log_scale_min)

    def condition(self, tokens: torch.Tensor, features: torch.Tensor,
                  lengths: torch.Tensor) -> torch.Tensor:
        """Frame-rate conditioning of whole utterances (the recurrence reads each one in
        full, so a segment cut from it later still knows its context); padded frames are
        zero and do not reach the valid ones."""
        x = torch.cat([self.embed(tokens), features.to(self.embed.weight.dtype)], -1)
        packed = pack_padded_sequence(x, lengths.cpu().clamp_min(1), batch_first=True,
                                      enforce_sorted=False)
        h, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True,
                                   total_length=x.shape[1])
        return self.project(h.transpose(1, 2))

    def upsample(self, cond: torch.Tensor) -> torch.Tensor:
        """Repetition to the sample rate. Shape: (B, C, F) -> (B, C, F * hop_length)."""
        return cond.repeat_interleave(self.hop_length, -1)

    def forward(self, audio: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self._stack(audio, self.upsample(cond))

    @torch.no_grad()
    def generate(self, cond: torch.Tensor, generator: torch.Generator | None = None,
                 naive: bool = False, progress: bool = False,
                 kernel: str | None = None) -> torch.Tensor:
        """Audio drawn sample by sample (``AutoregressiveWaveNet.generate_from``).

        Shape: cond (B, cond_channels, F) from :meth:`condition` -> (B, F * hop_length).
        """
        return self.generate_from(self.upsample(cond), generator, naive, progress, kernel)
