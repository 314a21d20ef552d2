"""Training of Deep Voice's segmentation model (arXiv 1702.07825, section 3.1): a convolutional
and bidirectional-recurrent network (the Deep Speech 2 network of ``speechzoo.models``, time
stride 1) trained with CTC on phoneme pairs (``speechzoo.data.segmentation``). Validation logs
the pair error rate of the greedy output and the median error of the boundaries read from the
pair peaks of the forced alignment, against the corpus' durations."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch import nn

from speechzoo.checkpoints import FORMAT, network_spec, read_bundle
from speechzoo.data.segmentation import SegmentationDataset, pair_tokenizer
from speechzoo.decoding.ctc import ctc_greedy, peak_frames
from speechzoo.errors import ConfigError
from speechzoo.losses import ctc_loss
from speechzoo.metrics import boundary_errors_ms, token_error_rate
from speechzoo.tasks.data import bind_dataset
from speechzoo.tasks.optim import adamw_warmup_anneal, check_anneal


class SegmentationTask(L.LightningModule):
    """Training of an injected ``speechzoo.models.deepspeech2.DeepSpeech2`` on phoneme pairs.

    Args:
        model: its ``num_classes`` must be the pair vocabulary's (3,483).
        frame_seconds: seconds per duration frame of the corpus (Piper: 256 / 22,050).
        lr, weight_decay, warmup_steps, anneal, anneal_steps: AdamW and its schedule.
        init_weights: start from this bundle or checkpoint's weights (same architecture).
    """

    def __init__(self, model: nn.Module, frame_seconds: float = 256 / 22050, lr: float = 5e-4,
                 weight_decay: float = 0.0, warmup_steps: int = 200, anneal: float = 1.0,
                 anneal_steps: int | None = None, init_weights: str | None = None) -> None:
        super().__init__()
        check_anneal(anneal_steps)
        self.pairs = pair_tokenizer()
        if model.config.get("num_classes") != len(self.pairs):
            raise ConfigError(f"model.num_classes is {model.config.get('num_classes')} but the "
                              f"phoneme pairs are {len(self.pairs)}; set it to match")
        if init_weights is not None:
            read_bundle(init_weights).load_into(model, "segmenter")
        self.segmenter = model
        self.save_hyperparameters(ignore=["model"])

    def setup(self, stage: str) -> None:
        bind_dataset(self.trainer, self.dataset, SegmentationDataset.required)

    def dataset(self, entries: list[dict], source: str) -> SegmentationDataset:
        return SegmentationDataset(entries, self.segmenter.sample_rate,
                                   self.hparams.frame_seconds, source)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["speechzoo"] = {"format": FORMAT, "task": "segmentation",
                                   "networks": {"segmenter": network_spec(self.segmenter)},
                                   "frontend": {"pairs": self.pairs.to_dict()},
                                   "meta": {"task_args": dict(self.hparams)}}

    def _loss(self, batch: dict):
        log_probs, frames = self.segmenter(batch["audio"], batch["audio_lengths"])
        loss = ctc_loss(log_probs, frames, batch["labels"], batch["labels_lengths"],
                        blank=self.pairs.blank)
        return log_probs, frames, loss

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        _, _, loss = self._loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["audio"]))
        return loss

    def _evaluate(self, batch: dict, prefix: str) -> None:
        log_probs, frames, loss = self._loss(batch)
        n = len(frames)
        self.log(f"{prefix}/loss", loss, batch_size=n, prog_bar=True, sync_dist=True)
        refs = [lab[:k].tolist() for lab, k in zip(batch["labels"], batch["labels_lengths"],
                                                   strict=True)]
        hyps = ctc_greedy(log_probs, frames, self.pairs.blank)
        errors = [boundary_errors_ms(b[:len(r)], self.boundaries(lp[:f], r))
                  for lp, f, r, b in zip(log_probs, frames.tolist(), refs, batch["boundaries"],
                                         strict=True)]
        errors = np.concatenate(errors)
        self.log(f"{prefix}/pair_error_rate", token_error_rate(refs, hyps), batch_size=n,
                 sync_dist=True)
        if len(errors):
            self.log(f"{prefix}/boundary_ms", float(np.median(errors)), batch_size=n,
                     sync_dist=True)

    def boundaries(self, log_probs: torch.Tensor, ids: list[int]) -> torch.Tensor:
        """Seconds of each pair's peak on the forced alignment. Shape: (T, C) -> (len(ids),)."""
        peaks = torch.tensor(peak_frames(log_probs, ids, self.pairs.blank))
        return self.segmenter.frame_centre(peaks)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def configure_optimizers(self):
        h = self.hparams
        return adamw_warmup_anneal(self.segmenter, h.lr, h.weight_decay, h.warmup_steps,
                                   h.anneal, h.anneal_steps, lambda: self.current_epoch)
