"""Text to speech: an acoustic model mapping phoneme ids to log-mel frames, trained on
(text, audio[, durations]) pairs; the mel targets are computed here from the audio with the
one front end (``speechzoo.features.TTS_MEL``), so data and bundle can never disagree."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from torch import nn

from speechzoo.checkpoints import FORMAT, network_spec, read_bundle
from speechzoo.data.datasets import TTSDataset
from speechzoo.errors import ConfigError
from speechzoo.features import TTS_MEL, TTS_PAD, Spectrogram
from speechzoo.losses import duration_loss, mel_loss, utterance_duration_loss
from speechzoo.metrics import duration_mae_ms
from speechzoo.tasks.data import bind_dataset
from speechzoo.tasks.optim import adamw_warmup_anneal, check_anneal
from speechzoo.text.phonemes import tokenizer as phoneme_tokenizer


class TTSTask(L.LightningModule):
    """Training of an injected text-to-mel model (Non-Attentive Tacotron).

    The loss is the paper's (section 3.3, section 4): L1 + L2 on the mels before and after
    the post-net, plus ``duration_weight`` times the L2 duration loss in seconds where the
    data have token durations and the model takes them, else ``utterance_weight`` times the
    utterance-level duration loss; plus ``kl_weight`` times the FVAE's KL term when the model
    has one.

    Args:
        model: e.g. ``speechzoo.models.tacotron_na.NonAttentiveTacotron``; its ``n_symbols``
            must match the phoneme tokenizer, its ``sample_rate``/``hop_length`` the front end.
        lr, weight_decay, warmup_steps, anneal, anneal_steps: AdamW and its schedule
            (``speechzoo.tasks.optim``).
        duration_weight, utterance_weight, kl_weight: loss weights (above).
        plots: write target/predicted mels, upsampling weights and durations of the first
            validation utterance as a PNG under the logger's folder at every validation.
        init_weights: start from this bundle or checkpoint's weights (same architecture).
    """

    def __init__(self, model: nn.Module, lr: float = 1e-3, weight_decay: float = 1e-6,
                 warmup_steps: int = 500, anneal: float = 1.0, anneal_steps: int | None = None,
                 duration_weight: float = 2.0, utterance_weight: float = 2.0,
                 kl_weight: float = 1e-3, plots: bool = True,
                 init_weights: str | None = None) -> None:
        super().__init__()
        check_anneal(anneal_steps)
        self.tokenizer = phoneme_tokenizer()
        self.features = Spectrogram(**TTS_MEL)
        n_symbols = model.config.get("n_symbols")
        if n_symbols != len(self.tokenizer):
            raise ConfigError(f"model.n_symbols is {n_symbols} but the English phoneme "
                              f"inventory needs {len(self.tokenizer)}; set n_symbols to match")
        if (model.sample_rate, model.hop_length) != (self.features.sample_rate,
                                                     self.features.hop):
            raise ConfigError(f"the model predicts frames of {model.hop_length} samples at "
                              f"{model.sample_rate} Hz; the TTS front end has "
                              f"{self.features.hop} at {self.features.sample_rate} Hz")
        if init_weights is not None:
            read_bundle(init_weights).load_into(model, "acoustic")
        self.acoustic = model
        self.save_hyperparameters(ignore=["model"])

    def setup(self, stage: str) -> None:
        bind_dataset(self.trainer, self.dataset, TTSDataset.required)

    def dataset(self, entries: list[dict], source: str) -> TTSDataset:
        return TTSDataset(entries, self.tokenizer, self.features.sample_rate, self.features.hop,
                          TTS_PAD, source)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # The bundle header, as in ASRTask: networks by class path and arguments.
        frontend = {"tokenizer": self.tokenizer.to_dict(),
                    "sample_rate": self.features.sample_rate,
                    "features": network_spec(self.features), "pad": TTS_PAD,
                    "phonemizer": {"voice": "en-us", "glides": True}}
        checkpoint["speechzoo"] = {"format": FORMAT, "task": "tts",
                                   "networks": {"acoustic": network_spec(self.acoustic)},
                                   "frontend": frontend,
                                   "meta": {"task_args": dict(self.hparams)}}

    def _mels(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        mels, frames = self.features(batch["audio"], batch["audio_lengths"])
        return mels[..., :int(frames.max())], frames

    def _losses(self, batch: dict):
        mels, frames = self._mels(batch)
        # An unsupervised model learns durations without labels even where the data have
        # them (they still measure it: val/duration_mae_ms).
        unsupervised = getattr(self.acoustic, "duration_mode", "") == "unsupervised"
        durations = None if unsupervised else batch.get("durations")
        tokens, lengths = batch["tokens"], batch["tokens_lengths"]
        out = self.acoustic(tokens, lengths, mels, frames, durations)
        seconds = self.acoustic.frame_seconds
        losses = {"mel": mel_loss(out.mel, mels, frames),
                  "mel_post": mel_loss(out.mel_post, mels, frames)}
        if durations is not None:
            losses["duration"] = self.hparams.duration_weight * duration_loss(
                out.predicted_durations, durations, lengths, seconds)
        else:
            losses["utterance_duration"] = self.hparams.utterance_weight * \
                utterance_duration_loss(out.predicted_durations, frames, lengths, seconds)
        if out.kl is not None:
            losses["kl"] = self.hparams.kl_weight * out.kl
        return sum(losses.values()), losses, out, mels

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss, parts, _, _ = self._losses(batch)
        n = len(batch["tokens_lengths"])
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        self.log_dict({f"train/{k}": v for k, v in parts.items()}, batch_size=n)
        return loss

    def _evaluate(self, batch: dict, batch_idx: int, prefix: str) -> None:
        loss, parts, out, mels = self._losses(batch)
        n = len(batch["tokens_lengths"])
        self.log(f"{prefix}/loss", loss, batch_size=n, prog_bar=True, sync_dist=True)
        self.log_dict({f"{prefix}/{k}": v for k, v in parts.items()}, batch_size=n,
                      sync_dist=True)
        if "durations" in batch:
            self.log(f"{prefix}/duration_mae_ms", duration_mae_ms(
                out.predicted_durations.detach().cpu(), batch["durations"].cpu(),
                self.acoustic.frame_seconds, batch["tokens_lengths"].cpu()),
                batch_size=n, sync_dist=True)
        if (prefix == "val" and batch_idx == 0 and self.hparams.plots
                and not self.trainer.sanity_checking and self.trainer.is_global_zero):
            self._plot(batch, out, mels)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, batch_idx, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, batch_idx, "test")

    def _plot(self, batch: dict, out, mels: torch.Tensor) -> None:
        """The first utterance, as PNGs beside the logs: target, teacher-forced and
        free-running mels; the free run's upsampling weights; predicted vs true durations."""
        from speechzoo.plots import (
            alignment_figure,
            durations_figure,
            save_figure,
            spectrogram_figure,
        )

        n, t = int(batch["tokens_lengths"][0]), int(out.mel_lengths[0])
        tokens = batch["tokens"][:1, :n]
        free = self.acoustic.infer(tokens, batch["tokens_lengths"][:1])
        f = int(free.mel_lengths[0])
        names = list(self.tokenizer.specials) + self.tokenizer.symbols
        symbols = [names[i] for i in tokens[0].tolist()]
        true = batch["durations"][0, :n] if "durations" in batch else None
        stem = Path(self.trainer.log_dir or ".") / "plots" / f"step{self.global_step:07d}"
        figures = {"mel": spectrogram_figure(
                       [mels[0, :, :t], out.mel_post[0, :, :t], free.mel_post[0, :, :f]],
                       ["target", "teacher-forced", "synthesised"]),
                   "alignment": alignment_figure(free.weights[0, :f, :n], symbols),
                   "durations": durations_figure(out.predicted_durations[0, :n], true, symbols)}
        for name, fig in figures.items():
            save_figure(fig, stem.with_name(f"{stem.name}_{name}.png"))

    def configure_optimizers(self):
        h = self.hparams
        return adamw_warmup_anneal(self, h.lr, h.weight_decay, h.warmup_steps, h.anneal,
                                   h.anneal_steps, lambda: self.current_epoch)

