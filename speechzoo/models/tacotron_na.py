"""Non-Attentive Tacotron (Shen et al., arXiv 2010.04301).

Tacotron 2 with its attention replaced by explicit durations (section 3): phoneme
embeddings -> 3 convolutions + a BiLSTM (the Tacotron 2 encoder) -> a duration predictor
and a range predictor (BiLSTMs + projections) -> Gaussian upsampling of the encoder outputs
to frames (section 3.2) with the sinusoidal position of each frame within its token
concatenated -> an autoregressive LSTM decoder fed [pre-net(previous frame), upsampled
features] that emits ``reduction`` frames per step -> a residual 5-convolution post-net.
The length comes from the durations, so there is no stop token.

Durations are in frames throughout. In training the upsampling uses the target durations
(teacher forcing, section 3.1); without them (section 4) a fine-grained VAE (FVAE) encodes a
latent per token from the target mels, concatenated to the encoder outputs, and the
upsampling uses the predicted durations, which an utterance-level duration loss ties to the
true length. At inference the latent is the prior mean, zero.

Every layer masks what lies beyond a sequence's length (BiLSTMs through packed sequences,
convolutions through zeroed padding and sequence-wise BatchNorm, the decoder by causality),
so padding never changes an output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from speechzoo.errors import ConfigError, DataError
from speechzoo.layers.normalization import SequenceBatchNorm, length_mask
from speechzoo.layers.upsampling import (
    GaussianUpsampling,
    frame_lengths_of,
    sinusoidal_embedding,
    token_positions,
)
from speechzoo.losses import kl_loss
from speechzoo.models import constructor_args

DURATION_MODES = ("supervised", "semi", "unsupervised")
# The duration predictor starts out predicting a typical phoneme's length, so that the first
# unsupervised alignments and free-running syntheses span the utterance rather than a frame.
INITIAL_DURATION_SECONDS = 0.06
PACE_RANGE = (0.1, 10.0)  # beyond it speech is unintelligible: surely a mistaken argument


@dataclass
class NATOutput:
    """What a teacher-forced forward pass gives.

    Attributes:
        mel: (B, n_mels, T) decoder output before the post-net.
        mel_post: (B, n_mels, T) after the residual post-net.
        predicted_durations: (B, N) the duration predictor's output, frames (the target of
            the duration losses; zero on padded tokens).
        durations: (B, N) the durations the upsampling used, frames.
        ranges: (B, N) the predicted Gaussian ranges sigma, frames.
        weights: (B, T, N) upsampling weights.
        mel_lengths: (B,) valid frames.
        kl: KL term of the FVAE latents (scalar), None without an FVAE.
    """

    mel: torch.Tensor
    mel_post: torch.Tensor
    predicted_durations: torch.Tensor
    durations: torch.Tensor
    ranges: torch.Tensor
    weights: torch.Tensor
    mel_lengths: torch.Tensor
    kl: torch.Tensor | None


@dataclass
class NATInference:
    """What synthesis gives: mel_post (B, n_mels, T), mel_lengths (B,), durations (B, N)
    float frames after pace control, weights (B, T, N)."""

    mel_post: torch.Tensor
    mel_lengths: torch.Tensor
    durations: torch.Tensor
    weights: torch.Tensor


class _ConvBlock(nn.Module):
    """Conv1d + sequence-wise BatchNorm + activation + dropout; zero beyond each length
    (BN zeroes the padding and every activation used keeps zero at zero)."""

    def __init__(self, cin: int, cout: int, kernel: int, activation: str, dropout: float) -> None:
        super().__init__()
        if kernel % 2 == 0:
            raise ConfigError(f"convolution kernels must be odd to keep lengths, got {kernel}")
        self.conv = nn.Conv1d(cin, cout, kernel, padding=kernel // 2)
        self.norm = SequenceBatchNorm(cout)
        self.activation = {"relu": torch.relu, "tanh": torch.tanh, "none": lambda x: x}[activation]
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T), zero beyond each length -> (B, cout, T)."""
        return self.dropout(self.activation(self.norm(self.conv(x), lengths)))


class _BiLSTM(nn.Module):
    """Bidirectional LSTM over packed sequences: (B, N, D) -> (B, N, 2 * hidden), zero beyond
    each length, the backward direction starting at each sequence's own end."""

    def __init__(self, input_size: int, hidden: int, layers: int = 1) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden, layers, batch_first=True, bidirectional=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        return pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]


class _Encoder(nn.Module):
    """The Tacotron 2 encoder (section 3): embeddings -> 3 x (conv 5, BN, ReLU, dropout 0.5)
    -> BiLSTM."""

    def __init__(self, n_symbols: int, embedding: int, channels: int, kernel: int, convs: int,
                 lstm: int, dropout: float) -> None:
        super().__init__()
        self.embedding = nn.Embedding(n_symbols, embedding, padding_idx=0)
        sizes = [embedding] + [channels] * convs
        self.convs = nn.ModuleList(_ConvBlock(a, b, kernel, "relu", dropout)
                                   for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.lstm = _BiLSTM(sizes[-1], lstm)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """tokens: (B, N) ids -> (B, N, 2 * lstm)."""
        mask = length_mask(lengths, tokens.shape[1])
        x = (self.embedding(tokens) * mask[..., None]).transpose(1, 2)
        for conv in self.convs:
            x = conv(x, lengths)
        return self.lstm(x.transpose(1, 2), lengths)


class _Predictor(nn.Module):
    """BiLSTM stack + projection to one value per token (the duration and range predictors
    of section 3.1): (B, N, D) -> (B, N), zero on padded tokens."""

    def __init__(self, input_size: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.lstm = _BiLSTM(input_size, hidden, layers)
        self.proj = nn.Linear(2 * hidden, 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out = self.proj(self.lstm(x, lengths)).squeeze(-1).float()
        return out * length_mask(lengths, x.shape[1])


class _PreNet(nn.Module):
    """Two ReLU layers with dropout that stays on at inference, as in Tacotron 2: it is what
    lets the decoder run on its own, imperfect, previous frames."""

    def __init__(self, n_mels: int, dim: int, dropout: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(n_mels, dim), nn.Linear(dim, dim)])
        self.p = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = F.dropout(torch.relu(layer(x)), self.p, training=True)
        return x


class _Decoder(nn.Module):
    """Autoregressive decoder without attention (section 3): per step, the LSTM stack reads
    [pre-net(last frame of the previous step), the upsampled features of the step's
    ``reduction`` frames, stacked]; a projection of [LSTM output, those features] gives the
    step's frames. As no attention feeds back, teacher forcing runs the LSTM in one call."""

    def __init__(self, n_mels: int, context: int, prenet: int, prenet_dropout: float, lstm: int,
                 layers: int, dropout: float, reduction: int) -> None:
        super().__init__()
        self.n_mels, self.r = n_mels, reduction
        self.prenet = _PreNet(n_mels, prenet, prenet_dropout)
        self.lstm = nn.LSTM(prenet + reduction * context, lstm, layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.proj = nn.Linear(lstm + reduction * context, reduction * n_mels)

    def _steps(self, context: torch.Tensor) -> torch.Tensor:
        """(B, T, C) frame features -> (B, ceil(T / r), r * C), zero-padded."""
        b, t, c = context.shape
        steps = -(-t // self.r)
        return F.pad(context, (0, 0, 0, steps * self.r - t)).reshape(b, steps, self.r * c)

    def _frames(self, out: torch.Tensor, steps: torch.Tensor, t: int) -> torch.Tensor:
        """LSTM outputs (B, S, H) and step features (B, S, r * C) -> (B, n_mels, t) frames."""
        y = self.proj(torch.cat([out, steps], -1))
        return y.reshape(y.shape[0], -1, self.n_mels)[:, :t].transpose(1, 2)

    def forward(self, context: torch.Tensor, mels: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: context (B, T, C), target mels (B, n_mels, T) -> (B, n_mels, T).
        Step k reads target frame k * r - 1 (a zero frame for k = 0)."""
        t = context.shape[1]
        steps = self._steps(context)
        prev = mels[:, :, self.r - 1::self.r][:, :, : steps.shape[1] - 1]
        prev = F.pad(prev, (1, 0)).transpose(1, 2).to(steps.dtype)  # (B, S, n_mels)
        out, _ = self.lstm(torch.cat([self.prenet(prev), steps], -1))
        return self._frames(out, steps, t)

    def infer(self, context: torch.Tensor) -> torch.Tensor:
        """Free running, step by step: context (B, T, C) -> (B, n_mels, T)."""
        t = context.shape[1]
        steps = self._steps(context)
        prev = steps.new_zeros(steps.shape[0], 1, self.n_mels)
        state, frames = None, []
        for step in steps.split(1, 1):
            out, state = self._lstm_step(torch.cat([self.prenet(prev), step], -1)[:, 0], state)
            y = self._frames(out[:, None], step, self.r)  # (B, n_mels, r)
            frames.append(y)
            prev = y[:, :, -1:].transpose(1, 2)
        return torch.cat(frames, -1)[:, :, :t]

    def _lstm_step(self, x: torch.Tensor, state: list | None):
        """One step of ``self.lstm`` (eval mode) as cells: (B, D) -> (B, H), the new state.
        A one-frame ``nn.LSTM`` call costs ~2 ms of oneDNN set-up on a CPU, a cell ~20 us."""
        lstm, new = self.lstm, []
        for k in range(lstm.num_layers):
            if state is None:
                zeros = x.new_zeros(x.shape[0], lstm.hidden_size)
                hc = (zeros, zeros)
            else:
                hc = state[k]
            h, c = torch._VF.lstm_cell(x, hc, getattr(lstm, f"weight_ih_l{k}"),
                                       getattr(lstm, f"weight_hh_l{k}"),
                                       getattr(lstm, f"bias_ih_l{k}"),
                                       getattr(lstm, f"bias_hh_l{k}"))
            new.append((h, c))
            x = h
        return x, new


class _PostNet(nn.Module):
    """Tacotron 2 post-net: convolutions with BN, tanh on all but the last, dropout; its output
    is added to the decoder's mels (residual)."""

    def __init__(self, n_mels: int, channels: int, kernel: int, convs: int,
                 dropout: float) -> None:
        super().__init__()
        sizes = [n_mels] + [channels] * (convs - 1) + [n_mels]
        acts = ["tanh"] * (convs - 1) + ["none"]
        self.convs = nn.ModuleList(_ConvBlock(a, b, kernel, act, dropout)
                                   for a, b, act in zip(sizes[:-1], sizes[1:], acts, strict=True))

    def forward(self, mel: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """mel: (B, n_mels, T), zero beyond each length -> residual (B, n_mels, T)."""
        x = mel
        for conv in self.convs:
            x = conv(x, lengths)
        return x


class _FVAE(nn.Module):
    """Fine-grained VAE encoder (section 4.1): one latent per token from the target mels.

    Two convolutions turn the mels into frame features; an attention whose queries are the
    encoder outputs and whose keys and values are those features aligns them to the tokens
    (no durations needed); a projection of [aligned features, encoder output] gives each
    token's posterior mean and log-variance. Training samples the latent, evaluation takes the
    posterior mean.
    """

    def __init__(self, n_mels: int, query: int, channels: int, latent: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList([_ConvBlock(n_mels, channels, 3, "relu", 0.0),
                                    _ConvBlock(channels, channels, 3, "relu", 0.0)])
        self.query = nn.Linear(query, channels)
        self.key = nn.Linear(channels, channels)
        self.out = nn.Linear(channels + query, 2 * latent)

    def forward(self, h: torch.Tensor, mels: torch.Tensor, mel_lengths: torch.Tensor):
        """h: (B, N, D), mels: (B, n_mels, T) -> latents, means, log-variances (B, N, Z)."""
        frames = length_mask(mel_lengths, mels.shape[-1])  # (B, T)
        x = mels * frames[:, None].to(mels.dtype)
        for conv in self.convs:
            x = conv(x, mel_lengths)
        x = x.transpose(1, 2)  # (B, T, C)
        scores = self.query(h) @ self.key(x).transpose(1, 2) / math.sqrt(x.shape[-1])
        scores = scores.float().masked_fill(~frames[:, None], -math.inf)
        aligned = torch.softmax(scores, -1).to(x.dtype) @ x  # (B, N, C)
        mu, logvar = self.out(torch.cat([aligned, h], -1)).float().chunk(2, -1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        return z, mu, logvar


class NonAttentiveTacotron(nn.Module):
    """Non-Attentive Tacotron acoustic model (defaults: the paper's sizes, Appendix).

    Args:
        n_symbols: input vocabulary, pad id 0 included (61 for
            ``speechzoo.text.phonemes.tokenizer()``).
        n_mels, sample_rate, hop_length: the mel frames predicted and their rate.
        embedding_dim: phoneme embedding size.
        encoder_channels, encoder_kernel, encoder_convs, encoder_dropout: the encoder's
            convolutions; encoder_lstm: units per direction of its BiLSTM.
        duration_lstm, duration_layers: the duration predictor's BiLSTMs (units per
            direction, layers); range_lstm, range_layers: the range predictor's.
        min_sigma: lower bound of the predicted ranges (softplus + min_sigma), frames.
        position_dim: channels of the within-token positional embedding.
        prenet_dim, prenet_dropout: the decoder pre-net (dropout kept at inference).
        decoder_lstm, decoder_layers, decoder_dropout: the decoder LSTM stack and the
            dropout between its layers (standing in for Tacotron 2's zoneout, which a fused
            ``nn.LSTM`` cannot do).
        reduction: frames the decoder emits per step.
        postnet_channels, postnet_kernel, postnet_convs, postnet_dropout: the post-net.
        duration_mode: ``"supervised"`` (target durations required), ``"semi"`` (target
            durations when given) or ``"unsupervised"`` (never used); the last two add the
            FVAE (section 4).
        latent_dim, fvae_channels: FVAE latent size per token and its convolution channels.

    Shape:
        forward: tokens (B, N), token_lengths (B,), mels (B, n_mels, T), mel_lengths (B,),
        durations (B, N) frames or None -> :class:`NATOutput`.
        infer: tokens (B, N), token_lengths (B,) -> :class:`NATInference`.
    """

    def __init__(self, n_symbols: int = 61, n_mels: int = 80, sample_rate: int = 22050,
                 hop_length: int = 256, embedding_dim: int = 512, encoder_channels: int = 512,
                 encoder_kernel: int = 5, encoder_convs: int = 3, encoder_lstm: int = 512,
                 encoder_dropout: float = 0.5, duration_lstm: int = 512,
                 duration_layers: int = 2, range_lstm: int = 512, range_layers: int = 2,
                 min_sigma: float = 0.1, position_dim: int = 32, prenet_dim: int = 256,
                 prenet_dropout: float = 0.5, decoder_lstm: int = 1024,
                 decoder_layers: int = 2, decoder_dropout: float = 0.1, reduction: int = 2,
                 postnet_channels: int = 512, postnet_kernel: int = 5, postnet_convs: int = 5,
                 postnet_dropout: float = 0.5, duration_mode: str = "supervised",
                 latent_dim: int = 8, fvae_channels: int = 256) -> None:
        self.config = constructor_args(locals())
        super().__init__()
        if duration_mode not in DURATION_MODES:
            raise ConfigError(f"duration_mode must be one of {DURATION_MODES}, got "
                              f"{duration_mode!r}")
        if reduction < 1 or position_dim % 2 or min_sigma <= 0:
            raise ConfigError("reduction must be >= 1, position_dim even and min_sigma "
                              f"positive; got {reduction}, {position_dim}, {min_sigma}")
        self.n_mels, self.sample_rate, self.hop_length = n_mels, sample_rate, hop_length
        self.duration_mode, self.min_sigma = duration_mode, min_sigma
        self.position_dim, self.latent_dim = position_dim, latent_dim
        self.encoder = _Encoder(n_symbols, embedding_dim, encoder_channels, encoder_kernel,
                                encoder_convs, encoder_lstm, encoder_dropout)
        features = 2 * encoder_lstm
        self.fvae = None
        if duration_mode != "supervised":
            self.fvae = _FVAE(n_mels, features, fvae_channels, latent_dim)
            features += latent_dim
        self.duration_predictor = _Predictor(features, duration_lstm, duration_layers)
        nn.init.constant_(self.duration_predictor.proj.bias,
                          INITIAL_DURATION_SECONDS * sample_rate / hop_length)
        self.range_predictor = _Predictor(features + 1, range_lstm, range_layers)
        self.upsampling = GaussianUpsampling(min_sigma)
        self.decoder = _Decoder(n_mels, features + position_dim, prenet_dim, prenet_dropout,
                                decoder_lstm, decoder_layers, decoder_dropout, reduction)
        self.postnet = _PostNet(n_mels, postnet_channels, postnet_kernel, postnet_convs,
                                postnet_dropout)

    @property
    def frame_seconds(self) -> float:
        """Seconds per mel frame (the paper's duration losses are in seconds)."""
        return self.hop_length / self.sample_rate

    def forward(self, tokens: torch.Tensor, token_lengths: torch.Tensor, mels: torch.Tensor,
                mel_lengths: torch.Tensor, durations: torch.Tensor | None = None) -> NATOutput:
        """Teacher-forced pass; see the class docstring for shapes.

        Upsampling uses the target durations when the mode takes them (teacher forcing,
        section 3.1), else the predicted ones (section 4), over the T frames of ``mels``.
        """
        _check_lengths(token_lengths, tokens.shape[1], "token")
        _check_lengths(mel_lengths, mels.shape[-1], "mel")
        if durations is None and self.duration_mode == "supervised":
            raise ConfigError("duration_mode='supervised' needs the target durations (batch key "
                              "'durations'); pass them, or build the model with "
                              "duration_mode='semi' or 'unsupervised' to learn without them")
        feats, kl = self._features(tokens, token_lengths, mels, mel_lengths)
        predicted = self.duration_predictor(feats, token_lengths)
        valid = length_mask(token_lengths, tokens.shape[1])
        if durations is not None and self.duration_mode != "unsupervised":
            used = durations.float() * valid
        else:
            # Without labels the predicted durations spread the tokens over the target's
            # frames, scaled to its length: the mel loss then teaches their proportions and
            # the utterance-level loss their total (section 4). Negative ones would reorder
            # the token centres.
            used = predicted.clamp_min(0.0) * valid
            total = used.sum(1, keepdim=True)
            used = torch.where(total > 0, used * mel_lengths[:, None] / total.clamp_min(1e-6),
                               valid * (mel_lengths / token_lengths)[:, None])
        mel, post, ranges, weights = self._synthesise(feats, used, token_lengths, mel_lengths,
                                                      mels)
        return NATOutput(mel, post, predicted, used, ranges, weights, mel_lengths, kl)

    @torch.no_grad()
    def infer(self, tokens: torch.Tensor, token_lengths: torch.Tensor,
              pace: float | torch.Tensor = 1.0) -> NATInference:
        """Synthesise mels from tokens (in the module's current mode; call ``eval()`` first).

        Args:
            pace: speaking rate, global (a number) or per token ((B, N) tensor, or anything
                that broadcasts to it): predicted durations are divided by it, so 2.0 is
                twice as fast (half the frames). Within [0.1, 10].

        Raises:
            ConfigError: for a pace that is not finite or lies outside [0.1, 10].
        """
        _check_lengths(token_lengths, tokens.shape[1], "token")
        pace = _pace(pace, token_lengths, tokens.shape[1])
        feats, _ = self._features(tokens, token_lengths)
        durations = self.duration_predictor(feats, token_lengths).clamp_min(0.0) / pace
        durations = durations * length_mask(token_lengths, tokens.shape[1])
        frames = frame_lengths_of(durations, token_lengths).clamp_min(1)
        _, post, _, weights = self._synthesise(feats, durations, token_lengths, frames)
        return NATInference(post, frames, durations, weights)

    def _features(self, tokens: torch.Tensor, token_lengths: torch.Tensor,
                  mels: torch.Tensor | None = None, mel_lengths: torch.Tensor | None = None):
        """Encoder outputs, with the FVAE latents concatenated (section 4.1): (B, N, F), KL."""
        h = self.encoder(tokens, token_lengths)
        if self.fvae is None:
            return h, None
        valid = length_mask(token_lengths, tokens.shape[1])
        if mels is None:  # inference: the prior mean
            z, kl = h.new_zeros(*h.shape[:2], self.latent_dim), None
        else:
            z, mu, logvar = self.fvae(h, mels, mel_lengths)
            kl = kl_loss(mu, logvar, valid)
        return torch.cat([h, z.to(h.dtype) * valid[..., None]], -1), kl

    def _synthesise(self, feats: torch.Tensor, durations: torch.Tensor,
                    token_lengths: torch.Tensor, frame_lengths: torch.Tensor,
                    mels: torch.Tensor | None = None):
        """Ranges, upsampling, positions, decoder (teacher-forced when mels are given) and
        post-net: -> mel, mel_post (B, n_mels, T), ranges (B, N), weights (B, T, N)."""
        # The range predictor sees the durations it spreads (section 3.1).
        x = torch.cat([feats, durations[..., None].to(feats.dtype)], -1)
        ranges = F.softplus(self.range_predictor(x, token_lengths)) + self.min_sigma
        frames = mels.shape[-1] if mels is not None else int(frame_lengths.max())
        upsampled, weights, _ = self.upsampling(feats, durations, ranges, token_lengths,
                                                frame_lengths, frames)
        positions = token_positions(durations, token_lengths, frames)
        mask = length_mask(frame_lengths, frames)  # (B, T)
        embedding = sinusoidal_embedding(positions, self.position_dim).to(upsampled.dtype)
        context = torch.cat([upsampled, embedding * mask[..., None]], -1)
        mel = self.decoder(context, mels) if mels is not None else self.decoder.infer(context)
        mel = mel * mask[:, None]
        post = (mel + self.postnet(mel, frame_lengths)) * mask[:, None]
        return mel, post, ranges * length_mask(token_lengths, feats.shape[1]), weights


def _check_lengths(lengths: torch.Tensor, size: int, what: str) -> None:
    if lengths.numel() and (int(lengths.min()) < 1 or int(lengths.max()) > size):
        raise DataError(f"{what} lengths must lie in [1, {size}] (the padded size), got "
                        f"{lengths.tolist()}: drop empty utterances and pass lengths that "
                        "match the padded batch")


def _pace(pace: float | torch.Tensor, token_lengths: torch.Tensor, n: int) -> torch.Tensor:
    """Validate a pace (a number, or a tensor that broadcasts to (B, N)) -> tensor."""
    lo, hi = PACE_RANGE
    try:
        p = torch.as_tensor(pace, dtype=torch.float32, device=token_lengths.device)
        p = p if p.dim() == 0 else p.expand(token_lengths.shape[0], n)
    except (TypeError, ValueError, RuntimeError):
        raise ConfigError(f"pace must be a number or a tensor that broadcasts to (batch, "
                          f"tokens) = ({token_lengths.shape[0]}, {n}), got {pace!r}") from None
    if p.dim():  # padded tokens may hold anything
        p = torch.where(length_mask(token_lengths, n), p, 1.0)
    if not (torch.isfinite(p).all() and (p >= lo).all() and (p <= hi).all()):
        raise ConfigError(f"pace must be finite and within [{lo}, {hi}] (1.0 = the model's own "
                          f"rate, 2.0 = twice as fast), got {pace!r}")
    return p


def nat_small(n_symbols: int = 61, **kwargs) -> NonAttentiveTacotron:
    """The CPU-sized model of ``recipes/nat.yaml``: 3.9M parameters, 8 MB in fp16 (its
    decoder LSTM and post-net a quarter of the paper's width)."""
    args = dict(embedding_dim=256, encoder_channels=256, encoder_lstm=128, duration_lstm=128,
                duration_layers=1, range_lstm=128, range_layers=1, decoder_lstm=256,
                decoder_layers=1, reduction=2, postnet_channels=128)
    return NonAttentiveTacotron(n_symbols, **{**args, **kwargs})


def nat_paper(n_symbols: int = 61, **kwargs) -> NonAttentiveTacotron:
    """The paper's sizes (Appendix): 512-channel encoder with a 2 x 512 BiLSTM, duration and
    range predictors of 2 BiLSTM layers of 2 x 512, 32-channel positional embedding, a
    2 x 256 pre-net, 2 decoder LSTM layers of 1024 and a 5 x 512 post-net."""
    return NonAttentiveTacotron(n_symbols, **kwargs)
