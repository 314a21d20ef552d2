"""Deep Voice's grapheme-to-phoneme model (arXiv 1702.07825, section 3.2, after Yao and Zweig
2015): an encoder-decoder without attention.

* Encoder: letter embeddings -> a stack of bidirectional GRU layers.
* Decoder: phoneme embeddings -> a stack of unidirectional GRU layers of the encoder's size;
  each decoder layer starts from the final hidden state of the *forward* direction of the
  encoder layer at the same depth (the whole word reaches the decoder only through them).
* Trained with teacher forcing; decoded by beam search (width 5 in the paper).
* Dropout after each recurrent layer (the paper keeps 95% of the units: ``dropout=0.05``).

The paper's size is 3 layers of 1024 units on both sides (:func:`g2p_paper`); :func:`g2p_small`
is the CPU size the shipped bundle uses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from speechzoo.models import constructor_args


class GraphemeToPhoneme(nn.Module):
    """Letters -> phonemes.

    Ids follow the tokenizers of ``speechzoo.tasks.g2p``: ``pad`` marks padding of the
    decoder's inputs and targets (and never is predicted), ``end`` both starts the decoder
    (its first input) and ends a pronunciation (its last target).

    Args:
        n_graphemes: letter classes (padding included; 28 for CMUdict's letters).
        n_phonemes: phoneme classes (``pad``, ``end`` and any other special included; 72
            for CMUdict's ARPAbet with the phoneme tokenizer's three specials).
        embed_size: letter and phoneme embedding width.
        hidden_size: GRU units per layer and direction.
        layers: GRU layers of the encoder, and of the decoder.
        dropout: after each recurrent layer.
        pad, end: the special phoneme ids.
        blocked: further phoneme ids never predicted (the phoneme tokenizer's CTC blank).

    Shape:
        graphemes: (B, S) letter ids; lengths: (B,); decoder_input: (B, U) phoneme ids, ``end``
        first. Returns logits (B, U, n_phonemes).
    """

    def __init__(self, n_graphemes: int = 28, n_phonemes: int = 72, embed_size: int = 256,
                 hidden_size: int = 1024, layers: int = 3, dropout: float = 0.05,
                 pad: int = 0, end: int = 2, blocked: tuple[int, ...] = (1,)) -> None:
        self.config = constructor_args(locals())
        super().__init__()
        if layers < 1 or hidden_size < 1:
            raise ValueError(f"layers and hidden_size must be positive, got {layers}, "
                             f"{hidden_size}")
        self.pad, self.end, self.n_phonemes = pad, end, n_phonemes
        self.never = sorted({pad, *blocked})
        self.letters = nn.Embedding(n_graphemes, embed_size)
        self.phonemes = nn.Embedding(n_phonemes, embed_size, padding_idx=pad)
        inner = dropout if layers > 1 else 0.0
        self.encoder = nn.GRU(embed_size, hidden_size, layers, batch_first=True,
                              bidirectional=True, dropout=inner)
        self.decoder = nn.GRU(embed_size, hidden_size, layers, batch_first=True, dropout=inner)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, n_phonemes)

    def encode(self, graphemes: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The decoder's initial state: each encoder layer's final forward state.

        Shape: (B, S), (B,) -> (layers, B, hidden_size).
        """
        x = self.dropout(self.letters(graphemes))
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h = self.encoder(packed)
        # h is (layers * 2, B, H), layer-major with the forward direction first: at each
        # sequence's true end, since the input was packed.
        return h[0::2].contiguous()

    def forward(self, graphemes: torch.Tensor, lengths: torch.Tensor,
                decoder_input: torch.Tensor) -> torch.Tensor:
        h = self.encode(graphemes, lengths)
        out, _ = self.decoder(self.dropout(self.phonemes(decoder_input)), h)
        return self.out(self.dropout(out))

    def _step_log_probs(self, token: torch.Tensor, h: torch.Tensor):
        out, h = self.decoder(self.phonemes(token)[:, None], h)
        logp = F.log_softmax(self.out(out[:, 0]).float(), dim=-1)
        logp[:, self.never] = float("-inf")
        return logp, h

    @torch.no_grad()
    def beam_search(self, graphemes: torch.Tensor, lengths: torch.Tensor, beam_size: int = 5,
                    max_length: int | None = None) -> list[list[int]]:
        """The most probable pronunciation of each word that a beam of ``beam_size`` finds
        (1: greedy), without the final ``end``; scores are summed log-probabilities, with no
        length normalisation (the paper states none).

        Args:
            max_length: most phonemes per word (default: letters + 10; no CMUdict word has
                more than letters + 3).

        Shape: (B, S), (B,) -> B lists of phoneme ids.
        """
        if beam_size < 1:
            raise ValueError(f"beam_size must be positive, got {beam_size}")
        b, k, v = len(lengths), beam_size, self.n_phonemes
        h = self.encode(graphemes, lengths).repeat_interleave(k, dim=1)
        steps = max_length if max_length is not None else int(lengths.max()) + 10
        scores = torch.full((b, k), float("-inf"), device=h.device)
        scores[:, 0] = 0.0  # the k beams start as one
        token = torch.full((b * k,), self.end, dtype=torch.long, device=h.device)
        history = torch.empty((b * k, 0), dtype=torch.long, device=h.device)
        done = torch.zeros(b * k, dtype=torch.bool, device=h.device)
        rows = torch.arange(b, device=h.device)[:, None] * k
        for _ in range(steps):
            logp, h = self._step_log_probs(token, h)
            # A finished pronunciation stays as it is: it extends only by padding, at no cost.
            logp[done] = float("-inf")
            logp[done, self.pad] = 0.0
            scores, flat = (scores.reshape(-1, 1) + logp).view(b, k * v).topk(k, dim=1)
            origin = (flat // v + rows).view(-1)
            token = (flat % v).view(-1)
            h, history = h[:, origin], torch.cat([history[origin], token[:, None]], dim=1)
            done = done[origin] | (token == self.end)
            if bool(done.all()):
                break
        best = history.view(b, k, -1)[:, 0]  # topk sorts: beam 0 scores highest
        return [_until_end(row, self.end) for row in best.tolist()]


def _until_end(ids: list[int], end: int) -> list[int]:
    return ids[:ids.index(end)] if end in ids else ids


def g2p_paper(**kwargs) -> GraphemeToPhoneme:
    """The paper's size: 3 bidirectional encoder layers and 3 decoder layers of 1024 units."""
    return GraphemeToPhoneme(**{"hidden_size": 1024, "layers": 3, **kwargs})


def g2p_small(**kwargs) -> GraphemeToPhoneme:
    """A CPU size: 2 layers of 384 units on both sides."""
    return GraphemeToPhoneme(**{"embed_size": 128, "hidden_size": 384, "layers": 2, **kwargs})
