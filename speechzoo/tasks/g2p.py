"""Grapheme-to-phoneme training (Deep Voice, arXiv 1702.07825, section 3.2) on a lexicon's
manifests (the embedded ``cmudict`` corpus): teacher forcing, cross-entropy per phoneme;
validation decodes the held-out words and logs PER and WER."""

from __future__ import annotations

import lightning as L
import torch
from torch import nn

from speechzoo.checkpoints import FORMAT, network_spec, read_bundle
from speechzoo.data.g2p import PronunciationDataset
from speechzoo.errors import ConfigError
from speechzoo.losses import sequence_cross_entropy
from speechzoo.metrics import pronunciation_error_rates
from speechzoo.tasks.data import bind_dataset
from speechzoo.tasks.optim import adamw_warmup_anneal, check_anneal
from speechzoo.text.lexicon import ARPABET, GRAPHEMES
from speechzoo.text.tokenizers import CharTokenizer, PhonemeTokenizer


def tokenizers() -> tuple[CharTokenizer, PhonemeTokenizer]:
    """The G2P model's letters (id 0 pads) and ARPAbet phonemes (pad 0, blank 1, end 2)."""
    return CharTokenizer(GRAPHEMES), PhonemeTokenizer(ARPABET)


class G2PTask(L.LightningModule):
    """Training of an injected ``speechzoo.models.deepvoice.g2p.GraphemeToPhoneme``.

    Args:
        model: its ``n_graphemes``/``n_phonemes``/``pad``/``end`` must match
            :func:`tokenizers` (28 letters, 72 phonemes, pad 0, end 2).
        lr, weight_decay, warmup_steps, anneal, anneal_steps: AdamW and its schedule.
        val_beam_size: beam width when validation decodes (1: greedy, fast; the benchmark
            decodes the test words with the paper's 5).
        beam_size: the bundle's default beam for ``phonemize`` (the paper's 5).
        init_weights: start from this bundle or checkpoint's weights (same architecture).
    """

    def __init__(self, model: nn.Module, lr: float = 1e-3, weight_decay: float = 0.0,
                 warmup_steps: int = 500, anneal: float = 1.0, anneal_steps: int | None = None,
                 val_beam_size: int = 1, beam_size: int = 5,
                 init_weights: str | None = None) -> None:
        super().__init__()
        check_anneal(anneal_steps)
        if val_beam_size < 1 or beam_size < 1:
            raise ConfigError(f"beam sizes must be positive, got val_beam_size={val_beam_size}"
                              f", beam_size={beam_size}")
        self.graphemes, self.phonemes = tokenizers()
        want = {"n_graphemes": len(self.graphemes), "n_phonemes": len(self.phonemes),
                "pad": self.phonemes.pad, "end": self.phonemes.end}
        wrong = {k: model.config.get(k) for k, v in want.items() if model.config.get(k) != v}
        if wrong:
            raise ConfigError(f"the G2P model has {wrong} but the CMUdict tokenizers need "
                              f"{ {k: want[k] for k in wrong} }; set them in the recipe")
        if init_weights is not None:
            read_bundle(init_weights).load_into(model, "g2p")
        self.g2p = model
        self.save_hyperparameters(ignore=["model"])

    def setup(self, stage: str) -> None:
        bind_dataset(self.trainer, self.dataset, PronunciationDataset.required)

    def dataset(self, entries: list[dict], source: str) -> PronunciationDataset:
        return PronunciationDataset(entries, self.graphemes, self.phonemes, source)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        frontend = {"graphemes": self.graphemes.to_dict(), "phonemes": self.phonemes.to_dict(),
                    "beam_size": self.hparams.beam_size}
        checkpoint["speechzoo"] = {"format": FORMAT, "task": "g2p",
                                   "networks": {"g2p": network_spec(self.g2p)},
                                   "frontend": frontend,
                                   "meta": {"task_args": dict(self.hparams)}}

    def _loss(self, batch: dict) -> torch.Tensor:
        logits = self.g2p(batch["graphemes"], batch["graphemes_lengths"],
                          batch["decoder_input"])
        return sequence_cross_entropy(logits, batch["target"], self.phonemes.pad)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["first"]))
        return loss

    def _evaluate(self, batch: dict, prefix: str) -> None:
        n = len(batch["first"])
        self.log(f"{prefix}/loss", self._loss(batch), batch_size=n, prog_bar=True,
                 sync_dist=True)
        keep = batch["first"]  # each word once, against all its pronunciations
        if not bool(keep.any()):
            return
        ids = self.g2p.beam_search(batch["graphemes"][keep], batch["graphemes_lengths"][keep],
                                   self.hparams.val_beam_size)
        hyps = [self.phonemes.decode(i) for i in ids]
        refs = [r for r, k in zip(batch["references"], keep.tolist(), strict=True) if k]
        # Logged per batch and averaged weighted by words: close to the corpus rates, which
        # benchmarks/deepvoice.py computes exactly.
        per, wer = pronunciation_error_rates(refs, hyps)
        per_ns, wer_ns = pronunciation_error_rates(refs, hyps, stress=False)
        self.log_dict({f"{prefix}/per": per, f"{prefix}/wer": wer,
                       f"{prefix}/per_no_stress": per_ns, f"{prefix}/wer_no_stress": wer_ns},
                      batch_size=len(hyps), prog_bar=False, sync_dist=True)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def configure_optimizers(self):
        h = self.hparams
        return adamw_warmup_anneal(self.g2p, h.lr, h.weight_decay, h.warmup_steps, h.anneal,
                                   h.anneal_steps, lambda: self.current_epoch)
