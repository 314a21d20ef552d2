"""Training of Deep Voice's duration and F0 model (arXiv 1702.07825, section 3.3) on a TTS
corpus with phoneme durations and F0 tracks (the embedded ``synth-tts-en-f0``). The loss is
the duration term (CRF negative log-likelihood or L1, ``DurationF0Model.duration_loss``) plus
the voicing, F0 and smoothness terms (``losses.voicing_f0_loss``); validation logs duration
MAE in ms, voicing accuracy and F0 RMSE in cents."""

from __future__ import annotations

import lightning as L
import torch
from torch import nn

from speechzoo.checkpoints import FORMAT, network_spec, read_bundle
from speechzoo.data.prosody import ProsodyDataset
from speechzoo.errors import ConfigError
from speechzoo.layers.normalization import length_mask
from speechzoo.losses import voicing_f0_loss
from speechzoo.metrics import duration_mae_ms, voicing_f0_errors
from speechzoo.tasks.data import bind_dataset
from speechzoo.tasks.optim import adamw_warmup_anneal, check_anneal
from speechzoo.text.phonemes import tokenizer as phoneme_tokenizer


class DurationF0Task(L.LightningModule):
    """Training of an injected ``speechzoo.models.deepvoice.prosody.DurationF0Model``.

    Args:
        model: its ``n_tokens`` must match the TTS phoneme tokenizer.
        sample_rate, hop: the corpus' audio rate and duration frame (Piper: 22,050, 256).
        smoothness: weight of the F0 contour's smoothness penalty.
        lr, weight_decay, warmup_steps, anneal, anneal_steps: AdamW and its schedule.
        init_weights: start from this bundle or checkpoint's weights (same architecture).
    """

    def __init__(self, model: nn.Module, sample_rate: int = 22050, hop: int = 256,
                 smoothness: float = 0.1, lr: float = 1e-3, weight_decay: float = 0.0,
                 warmup_steps: int = 200, anneal: float = 1.0, anneal_steps: int | None = None,
                 init_weights: str | None = None) -> None:
        super().__init__()
        check_anneal(anneal_steps)
        self.tokenizer = phoneme_tokenizer()
        if model.config.get("n_tokens") != len(self.tokenizer):
            raise ConfigError(f"model.n_tokens is {model.config.get('n_tokens')} but the TTS "
                              f"phoneme tokenizer has {len(self.tokenizer)}; set it to match")
        if init_weights is not None:
            read_bundle(init_weights).load_into(model, "prosody")
        self.prosody = model
        self.save_hyperparameters(ignore=["model"])

    def setup(self, stage: str) -> None:
        bind_dataset(self.trainer, self.dataset, ProsodyDataset.required)

    def dataset(self, entries: list[dict], source: str) -> ProsodyDataset:
        c = self.prosody.config
        return ProsodyDataset(entries, self.tokenizer, c["f0_points"], c["f0_reference_hz"],
                              source)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        h = self.hparams
        frontend = {"phonemes": self.tokenizer.to_dict(), "sample_rate": h.sample_rate,
                    "hop": h.hop}
        checkpoint["speechzoo"] = {"format": FORMAT, "task": "prosody",
                                   "networks": {"prosody": network_spec(self.prosody)},
                                   "frontend": frontend, "meta": {"task_args": dict(h)}}

    def _losses(self, batch: dict) -> tuple[dict, dict]:
        lengths = batch["tokens_lengths"]
        out = self.prosody(batch["tokens"], lengths)
        parts = {"duration": self.prosody.duration_loss(out, batch["frames"], lengths)}
        parts.update(voicing_f0_loss(out["voiced"], out["f0"], batch["voiced"], batch["f0"],
                                     batch["frames"], lengths, self.hparams.smoothness))
        return out, parts

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        _, parts = self._losses(batch)
        loss = sum(parts.values())
        n = len(batch["tokens_lengths"])
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        self.log_dict({f"train/{k}": v for k, v in parts.items()}, batch_size=n)
        return loss

    def _evaluate(self, batch: dict, prefix: str) -> None:
        _, parts = self._losses(batch)
        lengths = batch["tokens_lengths"]
        n = len(lengths)
        self.log(f"{prefix}/loss", sum(parts.values()), batch_size=n, prog_bar=True,
                 sync_dist=True)
        self.log_dict({f"{prefix}/{k}": v for k, v in parts.items()}, batch_size=n,
                      sync_dist=True)
        pred = self.prosody.predict(batch["tokens"], lengths)
        mask = length_mask(lengths, batch["tokens"].shape[1])
        h = self.hparams
        mae = duration_mae_ms(pred["frames"].cpu(), batch["frames"].cpu(), h.hop / h.sample_rate,
                              lengths.cpu())
        accuracy, cents = voicing_f0_errors(
            pred["voiced"][mask].cpu(), pred["f0_hz"][mask].cpu(), batch["voiced"][mask].cpu(),
            batch["f0"][mask].cpu(), batch["frames"][mask].cpu(),
            self.prosody.config["f0_reference_hz"])
        # Per batch, weighted by utterances: close to the corpus figures, which
        # benchmarks/deepvoice.py computes exactly.
        self.log_dict({f"{prefix}/duration_mae_ms": mae, f"{prefix}/voicing_accuracy": accuracy,
                       f"{prefix}/f0_rmse_cents": cents}, batch_size=n, sync_dist=True)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def configure_optimizers(self):
        h = self.hparams
        return adamw_warmup_anneal(self.prosody, h.lr, h.weight_decay, h.warmup_steps, h.anneal,
                                   h.anneal_steps, lambda: self.current_epoch)
