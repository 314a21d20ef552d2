"""Speech recognition with CTC: any acoustic model mapping (waveforms, lengths) to
(log-probabilities, frame lengths)."""

from __future__ import annotations

import random
from collections.abc import Sequence

import lightning as L
import torch
from torch import nn
from torchmetrics.text import CharErrorRate, WordErrorRate

from speechzoo.audio import change_speed
from speechzoo.augment import SpeechAugment
from speechzoo.checkpoints import FORMAT, network_spec, read_bundle
from speechzoo.data.datasets import SpeechDataset
from speechzoo.decoding.ctc import greedy_transcripts
from speechzoo.errors import ConfigError
from speechzoo.losses import ctc_loss
from speechzoo.tasks.data import bind_dataset
from speechzoo.tasks.optim import adamw_warmup_anneal, check_anneal
from speechzoo.text.english import CHARACTERS, normalize
from speechzoo.text.tokenizers import CharTokenizer


class ASRTask(L.LightningModule):
    """CTC training of an injected acoustic model.

    Args:
        model: e.g. ``speechzoo.models.deepspeech2.DeepSpeech2``; must expose ``num_classes``,
            ``sample_rate`` and ``config`` (its constructor arguments).
        alphabet: output characters, or a built-in alphabet's name (``"mandarin"``: the 3,000
            characters of ``speechzoo.text.mandarin``); the model has a class per character,
            one for ``unknown`` if set, and the blank.
        unknown: the symbol that characters outside the alphabet become (``"<unk>"``);
            None: such a character in a transcript is an error.
        lr: peak learning rate of Adam.
        weight_decay: decoupled weight decay (AdamW).
        warmup_steps: linear warm-up from zero.
        anneal: the learning rate is divided by this after every epoch (the paper anneals by
            a constant factor of 1.2 per epoch, section 5).
        anneal_steps: divide by ``anneal`` every this many steps instead, smoothly (for runs
            shorter than a few epochs, where a per-epoch step would never fire).
        speed_perturb: speed factors (e.g. ``[0.9, 1.0, 1.1]``); each training batch plays at
            one of them, drawn from the step number so a resumed run draws the same. Speeding
            up scales pitch and formants too: it widens the voices a model hears.
        init_weights: start from the weights of this bundle or checkpoint (same architecture),
            e.g. ``pretrained/ds2-en`` to continue training it or fine-tune it on other data.
        init_skip: parameter-name prefixes that ``init_weights`` leaves at their
            initialisation, e.g. ``["fc."]`` to start a Mandarin model from the English one's
            convolutions and recurrent layers (its output layer has other characters).
        augment: training batches pass through this after speed perturbation
            (``speechzoo.augment.SpeechAugment``: tempo, reverberation, noise, telephone line
            on the waveforms; VTLP and SpecAugment on the model's spectrogram).
    """

    def __init__(self, model: nn.Module, alphabet: str = CHARACTERS, unknown: str | None = None,
                 lr: float = 1e-3, weight_decay: float = 1e-5, warmup_steps: int = 500,
                 anneal: float = 1.2, anneal_steps: int | None = None,
                 speed_perturb: Sequence[float] = (), init_weights: str | None = None,
                 init_skip: Sequence[str] = (), augment: SpeechAugment | None = None) -> None:
        super().__init__()
        check_anneal(anneal_steps)
        if any(f <= 0 for f in speed_perturb):
            raise ConfigError(f"speed_perturb factors must be positive, got {speed_perturb}")
        self.tokenizer = CharTokenizer(alphabet, unknown)
        if model.num_classes != len(self.tokenizer):
            shown = alphabet if len(alphabet) < 60 else f"{alphabet[:20]}..."
            raise ConfigError(f"model.num_classes is {model.num_classes} but the alphabet "
                              f"{shown!r} needs {len(self.tokenizer)} (one per character "
                              "+ unknown + blank); set num_classes to match")
        if init_weights is not None:
            read_bundle(init_weights).load_into(model, "acoustic", init_skip)
        self.acoustic = model  # named by its role, so checkpoints hold "acoustic.<param>"
        self.augment = augment
        self.save_hyperparameters(ignore=["model", "augment"])
        self._eval_sets(["dev"])

    def _eval_sets(self, names: Sequence[str]) -> None:
        """WER and CER per validation/test set (one per source of a mixture)."""
        self.eval_names = list(names)
        self.metrics = nn.ModuleDict({f"{prefix}{i}": nn.ModuleList([WordErrorRate(),
                                                                     CharErrorRate()])
                                      for prefix in ("val", "test") for i in range(len(names))})

    def setup(self, stage: str) -> None:
        bind_dataset(self.trainer, self.dataset, SpeechDataset.required)
        self._eval_sets(getattr(self.trainer.datamodule, "eval_names", ["dev"]))

    def dataset(self, entries: list[dict], source: str) -> SpeechDataset:
        """Manifest entries -> this task's dataset (labels from its tokenizer, audio at the
        model's rate). English transcripts are normalised first (``english.normalize``):
        corpora such as LJ Speech keep punctuation and digits for text-to-speech."""
        if self.tokenizer.alphabet == CHARACTERS:
            entries = [dict(e, text=normalize(e["text"])) for e in entries]
        return SpeechDataset(entries, self.tokenizer, self.acoustic.sample_rate, source)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # The bundle header (speechzoo.checkpoints): the network as (class path, constructor
        # arguments), never a pickled object, so checkpoints load with weights_only=True; it
        # sits outside hyper_parameters, which LightningCLI feeds back to this constructor.
        frontend = {"tokenizer": self.tokenizer.to_dict(),
                    "sample_rate": self.acoustic.sample_rate}
        if hasattr(self.acoustic, "features"):
            frontend["features"] = network_spec(self.acoustic.features)
        checkpoint["speechzoo"] = {"format": FORMAT, "task": "asr",
                                   "networks": {"acoustic": network_spec(self.acoustic)},
                                   "frontend": frontend,
                                   "meta": {"task_args": dict(self.hparams)}}

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor):
        return self.acoustic(waveforms, lengths)

    def _loss(self, batch: dict, augment=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        extra = {} if augment is None else {"augment": augment}
        log_probs, frames = self.acoustic(batch["audio"], batch["audio_lengths"], **extra)
        loss = ctc_loss(log_probs, frames, batch["labels"], batch["labels_lengths"])
        return loss, log_probs, frames

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        if self.hparams.speed_perturb:
            factor = random.Random(self.global_step).choice(self.hparams.speed_perturb)
            waves, lengths = change_speed(batch["audio"], batch["audio_lengths"], factor)
            batch = dict(batch, audio=waves, audio_lengths=lengths)
        augment = None
        if self.augment is not None:
            step = self.global_step
            waves, lengths = self.augment(batch["audio"], batch["audio_lengths"], step)
            batch = dict(batch, audio=waves, audio_lengths=lengths)
            augment = lambda spec, frames: self.augment.features(spec, frames, step)  # noqa: E731
        loss, _, _ = self._loss(batch, augment)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["audio_lengths"]))
        return loss

    def _evaluate(self, batch: dict, batch_idx: int, prefix: str, index: int) -> None:
        wer, cer = self.metrics[f"{prefix}{index}"]
        if index:  # the first set is the monitored one: val/wer
            prefix = f"{prefix}/{self.eval_names[index]}"
        loss, log_probs, frames = self._loss(batch)
        hyps = greedy_transcripts(log_probs, frames, self.tokenizer)
        refs = [self.tokenizer.decode(t[:n].tolist())
                for t, n in zip(batch["labels"], batch["labels_lengths"].tolist(), strict=True)]
        wer.update(hyps, refs)
        cer.update(hyps, refs)
        n = len(refs)
        logged = {"batch_size": n, "add_dataloader_idx": False}
        self.log(f"{prefix}/loss", loss, sync_dist=True, **logged)
        self.log(f"{prefix}/wer", wer, prog_bar=not index, **logged)
        self.log(f"{prefix}/cer", cer, **logged)
        if prefix.startswith("val") and batch_idx == 0 and not self.trainer.sanity_checking:
            self.print(f"\n  ref: {refs[0]}\n  hyp: {hyps[0]}")

    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._evaluate(batch, batch_idx, "val", dataloader_idx)

    def test_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._evaluate(batch, batch_idx, "test", dataloader_idx)

    def configure_optimizers(self):
        h = self.hparams
        return adamw_warmup_anneal(self, h.lr, h.weight_decay, h.warmup_steps, h.anneal,
                                   h.anneal_steps, lambda: self.current_epoch)
