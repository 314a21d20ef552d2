"""Vocoders: log-mel frames -> waveform. :class:`WaveNetTask` trains an autoregressive WaveNet
with teacher forcing; :class:`DistillationTask` distils a trained one into a Parallel WaveNet
student (arXiv 1711.10433 section 3). Both train on random segments of the text-to-speech
corpus' clips, conditioned on the mels of the one TTS front end (``features.TTS_MEL``), so the
vocoders take exactly what the acoustic models predict."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from speechzoo.checkpoints import FORMAT, network_spec, read_bundle
from speechzoo.data.datasets import TTSDataset
from speechzoo.errors import ConfigError
from speechzoo.features import TTS_MEL, TTS_PAD, Spectrogram
from speechzoo.losses import distillation_kl, power_loss
from speechzoo.tasks.data import bind_dataset
from speechzoo.tasks.optim import adamw_warmup_anneal, check_anneal
from speechzoo.text.phonemes import tokenizer as phoneme_tokenizer


def crop(audio: torch.Tensor, lengths: torch.Tensor, mels: torch.Tensor, frames: torch.Tensor,
         n: int, hop: int, generator: torch.Generator | None, offset: int = TTS_PAD):
    """One segment of ``n`` frames per clip: the mel (or other conditioning) frames and the
    ``n * hop`` samples they describe (frame ``f`` of audio padded by ``offset`` samples, the
    mel front end's ``TTS_PAD``, is centred on sample ``f * hop + hop / 2`` of the clip).
    Random starts with a generator, else each clip's middle.

    Shape: audio (B, samples) padded by ``offset``, lengths (B,), mels (B, M, F), frames (B,)
    -> audio (B, n * hop), mels (B, M, n).
    """
    if mels.shape[-1] < n:  # every clip shorter than a segment: pad with silence's mel
        extra = n - mels.shape[-1]
        mels = F.pad(mels, (0, extra), value=float(mels.min()))
        audio = F.pad(audio, (0, extra * hop))
    room = (frames - n).clamp_min(0)
    if generator is None:
        starts = room // 2
    else:
        starts = (torch.rand(len(room), generator=generator) * (room + 1)).long()
    segs = [(audio[i, offset + s * hop:offset + (s + n) * hop], mels[i, :, s:s + n])
            for i, s in enumerate(starts.tolist())]
    wav = torch.stack([F.pad(w, (0, n * hop - len(w))) for w, _ in segs])
    return wav, torch.stack([m for _, m in segs])


class _VocoderTask(L.LightningModule):
    """What both vocoder tasks share: the data (TTS corpus clips, mels computed here),
    segment cropping, the bundle header, logged audio samples and the optimiser."""

    def _setup_vocoder(self, model: nn.Module, segment_frames: int, seed: int) -> None:
        self.features = Spectrogram(**TTS_MEL)
        self._check_front_end(model)
        if segment_frames < 1:
            raise ConfigError(f"segment_frames must be positive, got {segment_frames}")
        self.vocoder, self.tokenizer = model, phoneme_tokenizer()
        self._crops = torch.Generator().manual_seed(seed)

    def _check_front_end(self, model: nn.Module) -> None:
        if (model.sample_rate, model.hop_length, model.n_mels) != (
                self.features.sample_rate, self.features.hop, self.features.bins):
            raise ConfigError(f"the vocoder takes {model.n_mels} mels every {model.hop_length} "
                              f"samples at {model.sample_rate} Hz; the TTS front end gives "
                              f"{self.features.bins} every {self.features.hop} at "
                              f"{self.features.sample_rate} Hz")

    def setup(self, stage: str) -> None:
        bind_dataset(self.trainer, self.dataset, TTSDataset.required)

    def dataset(self, entries: list[dict], source: str) -> TTSDataset:
        return TTSDataset(entries, self.tokenizer, self.features.sample_rate, self.features.hop,
                          TTS_PAD, source)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        frontend = {"sample_rate": self.features.sample_rate,
                    "features": network_spec(self.features), "pad": TTS_PAD}
        checkpoint["speechzoo"] = {"format": FORMAT, "task": "vocoder",
                                   "networks": {"vocoder": network_spec(self.vocoder)},
                                   "frontend": frontend,
                                   "meta": {"task_args": dict(self.hparams)}}

    def segments(self, batch: dict, train: bool):
        """(audio (B, n * hop), mels (B, n_mels, n)) of the batch's clips."""
        with torch.no_grad():
            mels, frames = self.features(batch["audio"], batch["audio_lengths"])
            return crop(batch["audio"], batch["audio_lengths"], mels, frames,
                        self.hparams.segment_frames, self.features.hop,
                        self._crops if train else None)

    def _write_sample(self, target: torch.Tensor, mel: torch.Tensor) -> None:
        """The first validation segment vocoded, as a WAV and a spectrogram PNG beside the
        logs (what a listener checks between validations)."""
        from speechzoo.audio import save_audio
        from speechzoo.plots import save_figure, spectrogram_figure

        wav = self.vocoder.generate(mel[:1], torch.Generator().manual_seed(0))[0]
        stem = Path(self.trainer.log_dir or ".") / "samples" / f"step{self.global_step:07d}"
        stem.parent.mkdir(parents=True, exist_ok=True)
        save_audio(stem.with_suffix(".wav"), wav.cpu().numpy(), self.features.sample_rate)
        pad = F.pad(torch.stack([target[0], wav]), (TTS_PAD, TTS_PAD))
        pair, _ = self.features(pad, torch.full((2,), pad.shape[-1]))
        save_figure(spectrogram_figure([pair[0], pair[1]], ["target", "vocoded"]),
                    stem.with_suffix(".png"))

    def _log_sample(self, batch_idx: int, target: torch.Tensor, mel: torch.Tensor) -> None:
        if (batch_idx == 0 and self.hparams.samples and not self.trainer.sanity_checking
                and self.trainer.is_global_zero):
            self._write_sample(target, mel)

    def configure_optimizers(self):
        h = self.hparams
        return adamw_warmup_anneal(self.vocoder, h.lr, h.weight_decay, h.warmup_steps,
                                   h.anneal, h.anneal_steps, lambda: self.current_epoch)


class WaveNetTask(_VocoderTask):
    """Teacher-forced training of a WaveNet vocoder: the negative log-likelihood per sample
    (nats) of segments of the corpus given their mels.

    Args:
        model: ``speechzoo.models.wavenet.WaveNet`` matching the TTS front end.
        segment_frames: mel frames per training segment (``segment_frames * 256`` samples).
        lr, weight_decay, warmup_steps, anneal, anneal_steps: AdamW and its schedule.
        samples: at every validation, vocode the first dev segment to a WAV and a PNG under
            the logger's folder (``samples/``).
        seed: seeds the random segment starts.
        init_weights: start from this bundle or checkpoint's weights (same architecture).
    """

    def __init__(self, model: nn.Module, segment_frames: int = 32, lr: float = 1e-3,
                 weight_decay: float = 0.0, warmup_steps: int = 200, anneal: float = 1.0,
                 anneal_steps: int | None = None, samples: bool = True, seed: int = 0,
                 init_weights: str | None = None) -> None:
        super().__init__()
        check_anneal(anneal_steps)
        if init_weights is not None:
            read_bundle(init_weights).load_into(model, "vocoder")
        self._setup_vocoder(model, segment_frames, seed)
        self.save_hyperparameters(ignore=["model"])

    def _nll(self, audio: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        return -self.vocoder.log_prob(self.vocoder(audio, mel), audio).mean()

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        audio, mel = self.segments(batch, train=True)
        loss = self._nll(audio, mel)
        self.log("train/nll", loss, prog_bar=True, batch_size=len(audio))
        return loss

    def _evaluate(self, batch: dict, batch_idx: int, prefix: str) -> None:
        audio, mel = self.segments(batch, train=False)
        self.log(f"{prefix}/nll", self._nll(audio, mel), batch_size=len(audio),
                 prog_bar=True, sync_dist=True)
        if prefix == "val":
            self._log_sample(batch_idx, audio, mel)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, batch_idx, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, batch_idx, "test")


class PerceptualFeatures(nn.Module):
    """Features of one of our own recognisers (Deep Speech 2's convolutions), for the
    perceptual loss of section 3.2: the student's audio should sound like the right phones
    to a network that tells phones apart. Frozen; gradients flow through its input.

    Args:
        bundle: an ASR bundle with a Deep Speech 2 acoustic model (``"ds2-en"``).
        sample_rate: rate of the audio given (resampled to the recogniser's).
    """

    def __init__(self, bundle: str, sample_rate: int) -> None:
        super().__init__()
        model = read_bundle(bundle).build("acoustic")
        if not hasattr(model, "conv_features"):
            raise ConfigError(f"perceptual_model {bundle!r} is not a Deep Speech 2 bundle")
        self.model = model.requires_grad_(False)
        self.rates = (sample_rate, model.sample_rate)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        import torchaudio.functional as AF

        x = AF.resample(audio.float(), *self.rates)
        n = torch.full((len(x),), x.shape[-1], device=x.device)
        return self.model.conv_features(x, n)[0]


class DistillationTask(_VocoderTask):
    """Probability density distillation of a frozen WaveNet teacher into a Parallel WaveNet
    student (section 3): the student draws audio from noise in one parallel pass, the
    teacher scores it in one parallel pass, and the loss is

    ``kl_weight * [KL(P_S(c) || P_T(c)) - contrastive_gamma * KL(P_S(c) || P_T(c'))]
    + power_weight * power + perceptual_weight * perceptual``

    with ``c'`` the conditioning of another utterance of the batch (the contrastive loss,
    section 3.2), the power loss against the segment's real audio and the perceptual loss on
    our recogniser's features. Each term is off at weight 0.

    Args:
        model: ``speechzoo.models.parallel_wavenet.ParallelWaveNet``.
        teacher: the WaveNet bundle or checkpoint distilled (a mixture-of-logistics one).
        draws: samples drawn per time step for the cross-entropy estimate.
        kl_weight, power_weight, perceptual_weight: loss weights.
        contrastive_gamma: the contrastive term's gamma (the paper's 0.3; 0 turns it off).
        perceptual_model: the recogniser bundle of the perceptual loss.
        segment_frames, lr, weight_decay, warmup_steps, anneal, anneal_steps, samples, seed,
            init_weights: as for :class:`WaveNetTask`.
    """

    def __init__(self, model: nn.Module, teacher: str, draws: int = 4,
                 kl_weight: float = 1.0, power_weight: float = 1.0,
                 contrastive_gamma: float = 0.0, perceptual_weight: float = 0.0,
                 perceptual_model: str = "ds2-en", segment_frames: int = 32,
                 lr: float = 1e-3, weight_decay: float = 0.0, warmup_steps: int = 200,
                 anneal: float = 1.0, anneal_steps: int | None = None,
                 samples: bool = True, seed: int = 0,
                 init_weights: str | None = None) -> None:
        super().__init__()
        check_anneal(anneal_steps)
        if draws < 1:
            raise ConfigError(f"draws must be positive, got {draws}")
        teacher_net = read_bundle(teacher).build("vocoder")
        if getattr(teacher_net, "output", None) != "mol":
            raise ConfigError(f"teacher {teacher!r} is not a mixture-of-logistics WaveNet; "
                              "distillation needs the teacher's continuous density")
        if init_weights is not None:
            read_bundle(init_weights).load_into(model, "vocoder")
        self._setup_vocoder(model, segment_frames, seed)
        self._check_front_end(teacher_net)
        # frozen: its weights never change, but gradients flow through its input
        self.teacher = teacher_net.requires_grad_(False)
        self.perceptual = (PerceptualFeatures(perceptual_model, model.sample_rate)
                           if perceptual_weight > 0 else None)
        self.save_hyperparameters(ignore=["model"])

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()
        return self

    def _kl(self, audio: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor,
            mel: torch.Tensor):
        params = self.teacher(audio.clamp(-1, 1), mel)
        # the teacher gives probabilities of 2**bits bins on [-1, 1], the student a density:
        # dividing by the bin width makes the KL the true one (>= 0), not offset by ~10 nats
        per_width = math.log((2 ** self.teacher.bits - 1) / 2)

        def teacher_log_prob(draws: torch.Tensor) -> torch.Tensor:
            s = draws.shape[0]
            lp = self.teacher.log_prob(params.repeat(s, 1, 1), draws.flatten(0, 1))
            return lp.view(draws.shape) + per_width

        return distillation_kl(mean, log_scale, teacher_log_prob, self.hparams.draws,
                               self._crops)

    def _losses(self, target: torch.Tensor, mel: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.hparams
        audio, mean, log_scale = self.vocoder(self.vocoder.noise(mel, self._crops), mel)
        kl, ce, entropy = self._kl(audio, mean, log_scale, mel)
        parts = {"kl": kl, "cross_entropy": ce.detach(), "entropy": entropy.detach()}
        loss = h.kl_weight * kl
        if h.contrastive_gamma > 0 and len(mel) > 1:
            other, _, _ = self._kl(audio, mean, log_scale, mel.roll(1, 0))
            parts["contrastive_kl"] = other.detach()
            loss = loss - h.kl_weight * h.contrastive_gamma * other
        if h.power_weight > 0:
            parts["power"] = power_loss(audio, target)
            loss = loss + h.power_weight * parts["power"]
        if self.perceptual is not None:
            parts["perceptual"] = F.mse_loss(self.perceptual(audio), self.perceptual(target))
            loss = loss + h.perceptual_weight * parts["perceptual"]
        parts["loss"] = loss
        return parts

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        target, mel = self.segments(batch, train=True)
        parts = self._losses(target, mel)
        self.log("train/loss", parts["loss"], prog_bar=True, batch_size=len(target))
        self.log_dict({f"train/{k}": v for k, v in parts.items() if k != "loss"},
                      batch_size=len(target))
        return parts["loss"]

    def _evaluate(self, batch: dict, batch_idx: int, prefix: str) -> None:
        target, mel = self.segments(batch, train=False)
        with torch.no_grad():
            parts = self._losses(target, mel)
        self.log_dict({f"{prefix}/{k}": v for k, v in parts.items()}, batch_size=len(target),
                      sync_dist=True)
        if prefix == "val":
            self._log_sample(batch_idx, target, mel)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, batch_idx, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, batch_idx, "test")
