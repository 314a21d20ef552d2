"""Piano transcription: Onsets and Frames (arXiv 1710.11153; the MAESTRO version, 1810.12247)
trained on audio + MIDI pairs. The log-mel input is computed here from the padded audio with
the one front end (``music.PIANO_MEL``), so data, training and the bundle share one frame grid.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from torch import nn

from speechzoo.augment import AudioAugment
from speechzoo.checkpoints import FORMAT, network_spec, read_bundle
from speechzoo.data.piano import PianoDataset
from speechzoo.decoding.notes import extract_notes
from speechzoo.errors import ConfigError
from speechzoo.features import Spectrogram
from speechzoo.losses import onsets_frames_loss
from speechzoo.metrics import mean_metrics, piano_metrics
from speechzoo.music import HOP_SECONDS, PIANO_MEL, PIANO_PAD, Notes
from speechzoo.pipelines.piano import logits_to_probabilities
from speechzoo.tasks.data import bind_dataset
from speechzoo.tasks.optim import adamw_warmup_anneal, check_anneal

LABELS = ("onset", "offset", "frame", "velocity")
# Validation scores notes decoded from the label rolls against notes decoded from the
# predictions: both on the frame grid, so they measure the model, not the grid.
VAL_METRICS = ("note_f1", "note_offset_f1", "note_offset_velocity_f1", "frame_f1")


def crop_frames(mels: torch.Tensor, labels: dict[str, torch.Tensor], frames: torch.Tensor,
                n: int, generator: torch.Generator):
    """A random window of at most ``n`` frames per clip, of the mels and labels alike (the 2017
    paper trains on segments of at most 20 s, section 4).

    Shape: mels (B, M, T), labels[k] (B, T, 88), frames (B,) -> mels (B, M, n'), labels
    (B, n', 88), frames (B,) with n' = min(n, T).
    """
    n = min(n, mels.shape[-1])
    room = (frames - n).clamp_min(0)
    starts = (torch.rand(len(room), generator=generator) * (room + 1)).long().tolist()
    mels = torch.stack([mels[i, :, s:s + n] for i, s in enumerate(starts)])
    labels = {k: torch.stack([v[i, s:s + n] for i, s in enumerate(starts)])
              for k, v in labels.items()}
    return mels, labels, (frames - torch.tensor(starts)).clamp(max=n)


class PianoTask(L.LightningModule):
    """Training of an injected Onsets and Frames model.

    The loss is the sum of the heads' losses (``losses.onsets_frames_loss``: BCE on onsets,
    offsets and frames, the onset-weighted velocity error). Validation decodes notes with the
    papers' rule (``decoding.notes.extract_notes``) and logs note, note-with-offset(-and-
    velocity) and frame F1 (mir_eval), averaged over clips.

    Args:
        model: ``speechzoo.models.onsets_frames.OnsetsAndFrames`` with ``n_mels`` matching
            the front end's 229 bins.
        segment_frames: training windows of at most this many frames (32 ms each) are cut at
            random from each clip; validation sees whole clips.
        lr, weight_decay, warmup_steps, anneal, anneal_steps: AdamW and its schedule (the
            papers: Adam at 6e-4, decayed by 0.98 every 10k steps).
        frame_weight: the 2017 paper's weighted frame loss (None: plain BCE).
        onset_threshold, frame_threshold, offset_threshold: the note decoder's thresholds,
            stored in the bundle as its defaults.
        plots: a piano roll of the first validation clip (prediction against labels) as a
            PNG under the logger's folder at every validation.
        seed: seeds the random training windows.
        init_weights: start from this bundle or checkpoint's weights (same architecture).
        augment: training audio passes through this (``speechzoo.augment.AudioAugment``:
            random equaliser, level and pink noise) before the front end; None: as recorded.
    """

    def __init__(self, model: nn.Module, segment_frames: int = 320, lr: float = 6e-4,
                 weight_decay: float = 0.0, warmup_steps: int = 200, anneal: float = 1.0,
                 anneal_steps: int | None = None, frame_weight: float | None = None,
                 onset_threshold: float = 0.5, frame_threshold: float = 0.5,
                 offset_threshold: float = 0.5, plots: bool = True, seed: int = 0,
                 init_weights: str | None = None, augment: AudioAugment | None = None) -> None:
        super().__init__()
        check_anneal(anneal_steps)
        if segment_frames < 1:
            raise ConfigError(f"segment_frames must be positive, got {segment_frames}")
        self.features = Spectrogram(**PIANO_MEL)
        n_mels = model.config.get("n_mels")
        if n_mels != self.features.bins:
            raise ConfigError(f"model.n_mels is {n_mels} but the piano front end gives "
                              f"{self.features.bins} mel bins; set n_mels to match")
        if init_weights is not None:
            read_bundle(init_weights).load_into(model, "transcriber")
        self.transcriber = model
        self.augment = augment
        self._crops = torch.Generator().manual_seed(seed)
        self.save_hyperparameters(ignore=["model", "augment"])

    def setup(self, stage: str) -> None:
        bind_dataset(self.trainer, self.dataset, PianoDataset.required)

    def dataset(self, entries: list[dict], source: str) -> PianoDataset:
        return PianoDataset(entries, source)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        h = self.hparams
        frontend = {"sample_rate": self.features.sample_rate, "pad": PIANO_PAD,
                    "features": network_spec(self.features),
                    "thresholds": {"onset": h.onset_threshold, "frame": h.frame_threshold,
                                   "offset": h.offset_threshold}}
        checkpoint["speechzoo"] = {"format": FORMAT, "task": "piano",
                                   "networks": {"transcriber": network_spec(self.transcriber)},
                                   "frontend": frontend, "meta": {"task_args": dict(h)}}

    def _inputs(self, batch: dict, train: bool):
        audio, lengths = batch["audio"], batch["audio_lengths"]
        with torch.no_grad():
            if train and self.augment is not None:
                audio = self.augment(audio, lengths)
            mels, frames = self.features(audio, lengths)
        t = int(frames.max())
        labels = {k: batch[k][:, :t] for k in LABELS}
        mels = mels[..., :t]
        if train:
            mels, labels, frames = crop_frames(mels, labels, frames,
                                               self.hparams.segment_frames, self._crops)
        return mels, labels, frames

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        mels, labels, frames = self._inputs(batch, train=True)
        parts = onsets_frames_loss(self.transcriber(mels, frames), labels, frames,
                                   self.hparams.frame_weight)
        loss = sum(parts.values())
        n = len(frames)
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        self.log_dict({f"train/{k}": v for k, v in parts.items()}, batch_size=n)
        return loss

    def _evaluate(self, batch: dict, batch_idx: int, prefix: str) -> None:
        mels, labels, frames = self._inputs(batch, train=False)
        out = self.transcriber(mels, frames)
        parts = onsets_frames_loss(out, labels, frames, self.hparams.frame_weight)
        n = len(frames)
        self.log(f"{prefix}/loss", sum(parts.values()), batch_size=n, prog_bar=True,
                 sync_dist=True)
        self.log_dict({f"{prefix}/{k}": v for k, v in parts.items()}, batch_size=n,
                      sync_dist=True)
        probs = logits_to_probabilities(out)
        scores = mean_metrics([piano_metrics(self._notes(labels, i, int(frames[i])),
                                             self._notes(probs, i, int(frames[i])))
                               for i in range(n)])
        self.log_dict({f"{prefix}/{k}": scores[k] for k in VAL_METRICS}, batch_size=n,
                      sync_dist=True)
        if (prefix == "val" and batch_idx == 0 and self.hparams.plots
                and not self.trainer.sanity_checking and self.trainer.is_global_zero):
            self._plot(probs, labels, int(frames[0]))

    def _notes(self, rolls: dict[str, torch.Tensor | None], i: int, t: int) -> Notes:
        """Notes of clip ``i`` (its first ``t`` frames) from label or probability rolls."""
        h = self.hparams
        get = {k: None if v is None else v[i, :t] for k, v in rolls.items()}
        return extract_notes(get["onset"], get["frame"], get["velocity"], get["offset"],
                             h.onset_threshold, h.frame_threshold, h.offset_threshold,
                             HOP_SECONDS)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, batch_idx, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, batch_idx, "test")

    def _plot(self, probs: dict, labels: dict, t: int) -> None:
        from speechzoo.plots import piano_roll_figure, save_figure

        fig = piano_roll_figure(probs["frame"][0, :t].T.cpu(), labels["frame"][0, :t].T.cpu(),
                                frame_rate=1.0 / HOP_SECONDS)
        stem = Path(self.trainer.log_dir or ".") / "plots" / f"step{self.global_step:07d}"
        save_figure(fig, stem.with_name(f"{stem.name}_roll.png"))

    def configure_optimizers(self):
        h = self.hparams
        return adamw_warmup_anneal(self.transcriber, h.lr, h.weight_decay, h.warmup_steps,
                                   h.anneal, h.anneal_steps, lambda: self.current_epoch)
