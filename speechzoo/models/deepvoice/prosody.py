"""Deep Voice's duration and F0 model (arXiv 1702.07825, section 3.3): one network that reads
a phoneme sequence and predicts, per phoneme, its duration, the probability that it is voiced
and 20 F0 values spread uniformly over its duration.

* Phoneme ids (stress marks are symbols of their own in the eSpeak inventory) -> two
  fully-connected layers of 256 units (the first is the embedding: a one-hot input times a
  weight matrix) -> dropout -> two unidirectional GRU layers of 128 units -> dropout -> a
  fully-connected output layer (section 3.3).
* Durations, ``duration="crf"``: log-scaled buckets labelled jointly by a linear-chain CRF
  (Deep Voice 2, arXiv 1705.08947, section 3.1: a phoneme's duration depends on its
  neighbours'), decoded by Viterbi to the buckets' centres. ``duration="regression"``: the
  original paper's direct estimate, here of ``log(1 + frames)`` with an L1 loss. Both are
  kept so one can be measured against the other (``benchmarks/deepvoice.py``).
* F0 in octaves relative to ``f0_reference_hz`` (``log2(f0 / ref)``): a scale-free target of
  order one for any voice.

Durations are counted in frames of the corpus' hop (256 samples at 22,050 Hz for Piper).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from speechzoo.layers.crf import LinearChainCRF
from speechzoo.layers.normalization import length_mask
from speechzoo.models import constructor_args

DURATION_MODES = ("crf", "regression")


def duration_buckets(n_buckets: int, max_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Bucket 0 holds zero frames; buckets 1.. split ``[0.5, max_frames + 0.5)`` evenly on a
    log scale (the last also takes anything longer).

    Returns: edges (n_buckets - 1,) between buckets 1.., centres (n_buckets,) in frames
    (geometric centres; 0 for bucket 0).
    """
    if n_buckets < 3 or max_frames < 2:
        raise ValueError(f"need n_buckets >= 3 and max_frames >= 2, got {n_buckets}, "
                         f"{max_frames}")
    edges = torch.logspace(math.log10(0.5), math.log10(max_frames + 0.5), n_buckets)
    centres = torch.cat([torch.zeros(1), (edges[:-1] * edges[1:]).sqrt()])
    return edges[1:-1], centres


class DurationF0Model(nn.Module):
    """Phonemes -> per-phoneme duration, voicing and F0.

    Args:
        n_tokens: phoneme classes (the TTS tokenizer's: pad 0, blank 1, end 2, then symbols).
        fc_size: units of the two fully-connected layers (the paper's 256).
        rnn_size, rnn_layers: the GRU stack (the paper's 2 x 128).
        bidirectional: read the sequence both ways (the paper reads it forward only).
        dropout: after the fully-connected layers and after the last recurrent layer.
        duration: ``"crf"`` (log buckets + CRF) or ``"regression"``.
        n_buckets, max_frames: the CRF's duration buckets (:func:`duration_buckets`).
        f0_points: F0 values per phoneme (the paper's 20).
        f0_reference_hz: the F0 that the output's zero stands for.
        pad: the padding id.

    Shape: tokens (B, N), lengths (B,) -> ``forward``: dict of ``duration`` (B, N, n_buckets)
    CRF emissions or (B, N) ``log(1 + frames)``, ``voiced`` (B, N) logits, ``f0`` (B, N,
    f0_points) octaves.
    """

    def __init__(self, n_tokens: int, fc_size: int = 256, rnn_size: int = 128,
                 rnn_layers: int = 2, bidirectional: bool = False, dropout: float = 0.2,
                 duration: str = "crf", n_buckets: int = 48, max_frames: int = 100,
                 f0_points: int = 20, f0_reference_hz: float = 100.0, pad: int = 0) -> None:
        self.config = constructor_args(locals())
        super().__init__()
        if duration not in DURATION_MODES:
            raise ValueError(f"duration must be one of {DURATION_MODES}, got {duration!r}")
        self.mode, self.f0_points, self.f0_reference_hz = duration, f0_points, f0_reference_hz
        self.embed = nn.Embedding(n_tokens, fc_size, padding_idx=pad)
        self.fc = nn.Linear(fc_size, fc_size)
        self.dropout = nn.Dropout(dropout)
        self.rnn = nn.GRU(fc_size, rnn_size, rnn_layers, batch_first=True,
                          bidirectional=bidirectional)
        n_duration = n_buckets if duration == "crf" else 1
        self.out = nn.Linear(rnn_size * (2 if bidirectional else 1), n_duration + 1 + f0_points)
        self.n_duration = n_duration
        if duration == "crf":
            edges, centres = duration_buckets(n_buckets, max_frames)
            self.register_buffer("edges", edges, persistent=False)
            self.register_buffer("centres", centres, persistent=False)
            self.crf = LinearChainCRF(n_buckets)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.dropout(F.relu(self.fc(F.relu(self.embed(tokens)))))
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        h, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True,
                                   total_length=tokens.shape[1])
        y = self.out(self.dropout(h))
        duration, voiced, f0 = y.split([self.n_duration, 1, self.f0_points], dim=-1)
        return {"duration": duration if self.mode == "crf" else duration[..., 0],
                "voiced": voiced[..., 0], "f0": f0}

    def bucket(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames -> bucket labels. Shape: any -> same, long."""
        labels = torch.bucketize(frames.float(), self.edges, right=True) + 1
        return torch.where(frames > 0.5, labels, torch.zeros_like(labels))

    def duration_loss(self, out: dict[str, torch.Tensor], frames: torch.Tensor,
                      lengths: torch.Tensor) -> torch.Tensor:
        """Mean per phoneme: the CRF's negative log-likelihood of the true buckets, or the L1
        error of ``log(1 + frames)``. Shape: frames (B, N), lengths (B,) -> scalar."""
        mask = length_mask(lengths, frames.shape[1])
        if self.mode == "crf":
            return self.crf.nll(out["duration"], self.bucket(frames), mask).sum() / mask.sum()
        error = (out["duration"].float() - torch.log1p(frames.float())).abs()
        return error.masked_select(mask).mean()

    @torch.no_grad()
    def predict(self, tokens: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        """Durations in frames (B, N), voicing probability (B, N), F0 in Hz (B, N,
        f0_points); padding positions are 0."""
        out = self(tokens, lengths)
        mask = length_mask(lengths, tokens.shape[1])
        if self.mode == "crf":
            frames = self.centres[self.crf.decode(out["duration"], mask)]
        else:
            frames = torch.expm1(out["duration"].float()).clamp_min(0)
        hz = self.f0_reference_hz * torch.exp2(out["f0"].float())
        return {"frames": frames * mask, "voiced": torch.sigmoid(out["voiced"].float()) * mask,
                "f0_hz": hz * mask[..., None]}


def duration_f0_paper(n_tokens: int, duration: str = "crf") -> DurationF0Model:
    """The paper's size (section 3.3): 2 x 256 fully connected, 2 x 128 GRU, forward only."""
    return DurationF0Model(n_tokens, 256, 128, 2, False, 0.2, duration)
