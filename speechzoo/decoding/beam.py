"""CTC beam search with an n-gram LM: flashlight's decoders (through torchaudio's
``CTCDecoder``), KenLM querying the ARPA files of :mod:`speechzoo.decoding.lm`.

The search maximises ``log p_ctc(y|x) + lm_weight * log p_lm(y) + word_score * words(y)``
(Deep Speech 2, section 3.8: alpha and beta). What is given picks the mode:

- a lexicon and a word LM: lexicon-constrained search (only lexicon words come out), the LM
  scoring each completed word; English.
- a character LM and no lexicon: lexicon-free search, the LM scoring every emitted character
  (flashlight queries the LM with each token's name, so the LM's words must be the alphabet's
  characters: ``build_lm(..., units="chars")``); Mandarin.
- no LM: beam search over CTC prefixes (flashlight's ZeroLM), with or without a lexicon.

A bundle folder names its LM in ``decoder.json`` (:meth:`BeamDecoder.from_folder`,
:func:`save_decoder_config`); :func:`tune` grid-searches the two weights on a dev set's
log-probabilities, computed once (``SpeechRecognizer.log_probs``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from flashlight.lib.text.decoder import (
    CriterionType,
    LexiconDecoderOptions,
    LexiconFreeDecoderOptions,
    ZeroLM,
)
from flashlight.lib.text.decoder.kenlm import KenLM
from flashlight.lib.text.dictionary import Dictionary
from torchaudio.models.decoder import CTCDecoder

from speechzoo.data.manifest import read_manifest
from speechzoo.decoding.ctc import greedy_transcripts
from speechzoo.decoding.lm import is_char_lm, open_text, read_arpa_header, token_names
from speechzoo.errors import CheckpointError, ConfigError
from speechzoo.files import atomic_path
from speechzoo.metrics import cer, wer
from speechzoo.text.tokenizers import BLANK, CharTokenizer

CONFIG = "decoder.json"
UNK = "<unk>"
# Tokens tried per frame: all of an English alphabet; the likeliest 64 of a large (Mandarin)
# one, where the rest are hopeless and trying each of thousands would dominate the time.
TOKENS_PER_FRAME = 64
_BOUNDARY_FRAME = -1e4  # log-prob of every non-boundary token in the appended last frame


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence what KenLM's C++ writes on file descriptor 2 (a progress bar and advice on
    every load); its errors still arrive as exceptions."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _read_lexicon(path: Path, tokens: Sequence[str]) -> dict[str, list[list[str]]]:
    if not path.is_file():
        raise CheckpointError(f"lexicon {path} does not exist; write one with "
                              "speechzoo.decoding.lm.write_lexicon")
    known, lexicon = set(tokens), {}
    try:
        with open_text(path) as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError, EOFError) as e:
        raise CheckpointError(f"cannot read lexicon {path} ({type(e).__name__}); write it "
                              "again") from None
    for n, line in enumerate(lines, 1):
        fields = line.split()
        if not fields:
            continue
        unknown = [t for t in fields[1:] if t not in known]
        if len(fields) < 2 or unknown:
            raise CheckpointError(f"{path}:{n}: {line[:60]!r} is not 'WORD t o k e n s |' in "
                                  f"the model's tokens {tokens[1:]} (unknown: {unknown}); "
                                  "write it with speechzoo.decoding.lm.write_lexicon")
        lexicon.setdefault(fields[0], []).append(fields[1:])
    if not lexicon:
        raise CheckpointError(f"lexicon {path} holds no words")
    return lexicon


def _load_kenlm(path: Path, words: list[str]) -> KenLM:
    """KenLM over ``path``, its user indices being the positions in ``words``."""
    read_arpa_header(path)
    try:
        with _quiet_stderr():
            return KenLM(str(path), Dictionary(words))
    except RuntimeError as e:
        reason = str(e).strip().splitlines()[-1]
        raise CheckpointError(f"cannot load language model {path}: {reason}; it is truncated "
                              "or corrupt, rebuild it (`speechzoo lm build`)") from None


class BeamDecoder:
    """CTC beam search, with an n-gram LM and a lexicon when given (module docstring).

    Args:
        tokenizer: the recogniser's characters (blank id 0).
        lm: an ARPA file (plain or ``.gz``), or None for no LM.
        lexicon: a flashlight lexicon (:func:`speechzoo.decoding.lm.write_lexicon`) for a word
            LM; None for lexicon-free decoding (a character LM, or no LM).
        beam_size: hypotheses kept per frame.
        lm_weight: alpha, the LM's weight.
        word_score: beta, added per word (lexicon) and offsetting the LM's pull to short
            hypotheses; unused without a lexicon.
        beam_threshold: hypotheses scoring this much below the best are dropped.
    """

    def __init__(self, tokenizer: CharTokenizer, lm: str | os.PathLike | None = None,
                 lexicon: str | os.PathLike | None = None, beam_size: int = 50,
                 lm_weight: float = 2.0, word_score: float = 0.0,
                 beam_threshold: float = 25.0) -> None:
        if beam_size < 1 or beam_threshold <= 0:
            raise ConfigError(f"beam_size {beam_size} / beam_threshold {beam_threshold}: both "
                              "must be positive")
        self.tokenizer = tokenizer
        self.lm = Path(lm) if lm is not None else None
        self.lexicon = Path(lexicon) if lexicon is not None else None
        self.beam_size, self.beam_threshold = int(beam_size), float(beam_threshold)
        self.lm_weight, self.word_score = float(lm_weight), float(word_score)
        self._tokens = token_names(tokenizer)
        # Without a space the blank doubles as flashlight's silence token, which starts and
        # ends every hypothesis.
        space = tokenizer.alphabet.find(" ")
        self._sil = self._tokens[1 + space] if space >= 0 else BLANK
        self._words: dict[str, list[list[str]]] | None = None
        if self.lexicon is not None:
            if space < 0:
                raise ConfigError("a lexicon needs a word boundary, and this alphabet has no "
                                  "space: decode with a character LM and no lexicon")
            self._words = _read_lexicon(self.lexicon, self._tokens)
        # flashlight's word indices: lexicon words, or the tokens themselves (lexicon-free
        # decoding scores token n as LM word n). A list keeps the order; torchaudio's
        # ctc_decoder builds them from a hash map, which misnumbers lexicon-free words.
        self._word_list = list(dict.fromkeys([*(self._words or self._tokens), UNK]))
        self._lm_model = self._check_lm() if self.lm is not None else None
        self._decoder = self._build()

    def _check_lm(self) -> KenLM:
        _, words = read_arpa_header(self.lm)
        char_lm = is_char_lm(words, self.tokenizer)
        if self._words is None and not char_lm:
            raise ConfigError(f"{self.lm} is a word LM (words such as {words[len(words) // 2]!r}"
                              "): decode it with a lexicon (speechzoo.decoding.lm.lexicon_for), "
                              "or build a character LM (build_lm(..., units='chars'))")
        if self._words is not None and char_lm:
            raise ConfigError(f"{self.lm} is a character LM: decode it without a lexicon")
        return _load_kenlm(self.lm, self._word_list)

    def _build(self) -> CTCDecoder:
        per_frame = min(len(self._tokens), TOKENS_PER_FRAME)
        # log_add: hypotheses that meet in one state add their probabilities (prefix beam
        # search, Hannun et al. 2014) rather than keep the better: a little lower WER for
        # ds2-en with a 3-gram on synth-en dev (0.166 vs 0.169, a one-off comparison).
        common = dict(beam_size=self.beam_size, beam_size_token=per_frame,
                      beam_threshold=self.beam_threshold, lm_weight=self.lm_weight,
                      sil_score=0.0, log_add=True, criterion_type=CriterionType.CTC)
        options = LexiconFreeDecoderOptions(**common) if self._words is None else \
            LexiconDecoderOptions(**common, word_score=self.word_score,
                                  unk_score=float("-inf"))
        word_dict = Dictionary(self._word_list)
        word_dict.set_default_index(self._word_list.index(UNK))
        return CTCDecoder(nbest=1, lexicon=self._words, word_dict=word_dict,
                          tokens_dict=Dictionary(self._tokens),
                          lm=self._lm_model if self._lm_model is not None else ZeroLM(),
                          decoder_options=options, blank_token=BLANK, sil_token=self._sil,
                          unk_word=UNK)

    def with_weights(self, lm_weight: float, word_score: float) -> BeamDecoder:
        """The same decoder (sharing its loaded LM) with other alpha and beta."""
        other = object.__new__(BeamDecoder)
        other.__dict__.update(self.__dict__, lm_weight=float(lm_weight),
                              word_score=float(word_score))
        other._decoder = other._build()
        return other

    def decode(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
        """The best hypothesis per utterance.

        Args:
            log_probs: (B, T, C) per-frame log-probabilities (C = len(tokenizer)).
            lengths: (B,) valid frames of each.

        Returns:
            Token ids per utterance, blanks removed and repeats merged (one id per emitted
            character, as :func:`speechzoo.decoding.ctc.ctc_greedy` gives them).
        """
        if log_probs.dim() != 3 or log_probs.shape[-1] != len(self._tokens):
            raise ConfigError(f"log_probs of shape {tuple(log_probs.shape)}: expected (B, T, "
                              f"{len(self._tokens)}) for this alphabet")
        emissions = log_probs.detach().to("cpu", torch.float32)
        lengths = lengths.detach().cpu().long()
        frames = lengths
        if self._words is not None:
            # The lexicon decoder emits a word once its boundary token is read; an utterance
            # rarely ends in a space, so one certain boundary frame ends each.
            emissions = torch.cat([emissions, emissions.new_zeros(len(emissions), 1,
                                                                  emissions.shape[-1])], 1)
            boundary = torch.full((emissions.shape[-1],), _BOUNDARY_FRAME)
            boundary[self._tokens.index(self._sil)] = 0.0
            emissions[torch.arange(len(lengths)), lengths] = boundary
            frames = lengths + 1
        hyps = self._decoder(emissions.contiguous(), frames)
        # Timestep 0 is the search's start state and T + 1 its end; neither is a frame.
        return [[int(t) for t, s in zip(h[0].tokens.tolist(), h[0].timesteps.tolist(),
                                        strict=True) if 1 <= s <= n] if h else []
                for h, n in zip(hyps, lengths.tolist(), strict=True)]

    def transcripts(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[str]:
        """Texts of :meth:`decode`, runs of spaces collapsed (as ``greedy_transcripts``)."""
        return [" ".join(self.tokenizer.decode(ids).split())
                for ids in self.decode(log_probs, lengths)]

    @classmethod
    def from_folder(cls, folder: str | os.PathLike, tokenizer: CharTokenizer,
                    **overrides: Any) -> BeamDecoder:
        """The decoder a bundle folder's ``decoder.json`` describes.

        Args:
            folder: the bundle folder (or its ``model.ckpt``).
            tokenizer: the bundle's tokenizer.
            overrides: ``beam_size``, ``lm_weight``, ``word_score``, ``beam_threshold``
                replacing the file's values (None leaves a value as it is).
        """
        folder = Path(folder)
        folder = folder.parent if folder.is_file() else folder
        path = folder / CONFIG
        if not path.is_file():
            raise CheckpointError(
                f"{folder} has no language model ({CONFIG}), which beam search needs; add one "
                f"with `speechzoo lm tune --model {folder} --lm LM.arpa --manifest DEV.jsonl "
                f"--write` (tunes its weights) or `speechzoo lm attach {folder} LM.arpa`")
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
            lm, lexicon = config["lm"], config.get("lexicon")
            weights = {k: config[k] for k in _WEIGHTS if config.get(k) is not None}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
            raise CheckpointError(f"{path} is not a decoder config ({type(e).__name__}: {e}); "
                                  "write it again (`speechzoo lm attach`)") from None
        unknown = sorted(set(overrides) - set(_WEIGHTS))
        if unknown:
            raise ConfigError(f"unknown decoder settings {unknown}; known: {list(_WEIGHTS)}")
        weights.update({k: v for k, v in overrides.items() if v is not None})
        return cls(tokenizer, folder / lm, folder / lexicon if lexicon else None, **weights)


_WEIGHTS = ("beam_size", "lm_weight", "word_score", "beam_threshold")


def save_decoder_config(folder: str | os.PathLike, lm: str | os.PathLike,
                        lexicon: str | os.PathLike | None, beam_size: int = 50,
                        lm_weight: float = 2.0, word_score: float = 0.0,
                        meta: dict[str, Any] | None = None) -> Path:
    """Give a bundle folder an LM: copy the LM (as ``lm.arpa[.gz]``) and the lexicon
    (``lexicon.txt[.gz]``) into it and write ``decoder.json``, each file whole or not at
    all. ``meta`` (e.g. how the weights were tuned) is stored beside the settings."""
    folder, lm = Path(folder), Path(lm)
    read_arpa_header(lm)
    def gz(path: str | os.PathLike) -> str:
        return ".gz" if str(path).endswith(".gz") else ""

    names = {"lm": f"lm.arpa{gz(lm)}", "lexicon": f"lexicon.txt{gz(lexicon)}" if lexicon else None}
    for source, name in ((lm, names["lm"]), (lexicon, names["lexicon"])):
        target = folder / name if name else None
        if target is not None and not (target.exists() and os.path.samefile(source, target)):
            with atomic_path(target) as tmp:
                shutil.copyfile(source, tmp)
    config = {**names, "beam_size": int(beam_size), "lm_weight": float(lm_weight),
              "word_score": float(word_score), **({"meta": meta} if meta else {})}
    with atomic_path(folder / CONFIG) as tmp:
        tmp.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return folder / CONFIG


def pad_log_probs(log_probs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Utterances' (T_i, C) log-probs -> ((B, T, C) zero-padded, (B,) lengths)."""
    lengths = torch.tensor([len(x) for x in log_probs])
    return torch.nn.utils.rnn.pad_sequence(list(log_probs), batch_first=True), lengths


@dataclasses.dataclass
class TuneResult:
    """:func:`tune`'s grid (one row per setting, in grid order), its best row, and greedy
    decoding's ``{"wer", "cer"}`` on the same utterances."""

    grid: list[dict[str, float]]
    best: dict[str, float]
    greedy: dict[str, float]
    utterances: int


def tune(log_probs: Sequence[torch.Tensor], references: Sequence[str], decoder: BeamDecoder,
         lm_weights: Sequence[float], word_scores: Sequence[float]) -> TuneResult:
    """Grid-search alpha (``lm_weight``) and beta (``word_score``) by WER on a dev set.

    Args:
        log_probs: one (T_i, C) tensor per utterance (``SpeechRecognizer.log_probs``).
        references: their normalised texts.
        decoder: the decoder whose LM, lexicon and beam are kept; its weights are replaced.
        lm_weights, word_scores: the values tried (every pair).

    Returns:
        Every setting's ``{"lm_weight", "word_score", "wer", "cer", "seconds"}``, the one of
        lowest WER (then CER; the first on ties), and greedy decoding's error rates. An
        alphabet without a space (Mandarin: a sentence is one "word") is judged by CER.
    """
    if len(log_probs) != len(references) or not references:
        raise ConfigError(f"{len(log_probs)} utterances' log-probs for {len(references)} "
                          "references: tuning needs one of each, and some")
    padded, lengths = pad_log_probs(log_probs)
    greedy = greedy_transcripts(padded, lengths, decoder.tokenizer)
    grid = []
    for alpha in lm_weights:
        for beta in word_scores:
            start = time.perf_counter()
            hyps = decoder.with_weights(alpha, beta).transcripts(padded, lengths)
            grid.append({"lm_weight": float(alpha), "word_score": float(beta),
                         "wer": wer(references, hyps), "cer": cer(references, hyps),
                         "seconds": time.perf_counter() - start})
    first, then = ("wer", "cer") if " " in decoder.tokenizer.alphabet else ("cer", "wer")
    return TuneResult(grid, min(grid, key=lambda r: (r[first], r[then])),
                      {"wer": wer(references, greedy), "cer": cer(references, greedy)},
                      len(references))


def tune_on_manifest(recognizer: Any, manifest: str | os.PathLike, decoder: BeamDecoder,
                     lm_weights: Sequence[float], word_scores: Sequence[float],
                     limit: int | None = None, batch_size: int = 8) -> TuneResult:
    """:func:`tune` on a manifest's utterances (the first ``limit``), the recogniser's
    log-probs computed once."""
    entries = read_manifest(manifest, ("audio_filepath", "text"))[:limit]
    log_probs = recognizer.log_probs([e["audio_filepath"] for e in entries], batch_size=batch_size,
                                     progress=False)
    return tune(log_probs, [e["text"] for e in entries], decoder, lm_weights, word_scores)
