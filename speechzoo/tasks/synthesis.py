"""Training of Deep Voice's audio synthesis model (arXiv 1702.07825, section 3.4) on a TTS
corpus with phoneme durations and F0 tracks (the embedded ``synth-tts-en-f0``): teacher-forced
NLL of random segments, as :class:`speechzoo.tasks.vocoder.WaveNetTask` trains a mel
vocoder, with the conditioning network reading each whole utterance's frames first.

The conditioning is the corpus' own durations and the F0 contours the duration/F0 model is
trained to predict (20 points per phoneme), rendered per frame as a synthesiser renders
predicted ones (``speechzoo.data.prosody.SynthesisDataset``)."""

from __future__ import annotations

from torch import nn

from speechzoo.checkpoints import FORMAT, network_spec
from speechzoo.data.prosody import SynthesisDataset
from speechzoo.errors import ConfigError
from speechzoo.tasks.data import bind_dataset
from speechzoo.tasks.vocoder import WaveNetTask, crop


class DeepVoiceSynthesisTask(WaveNetTask):
    """Args:
        model: a ``speechzoo.models.deepvoice.synthesis.DeepVoiceSynthesis`` of the TTS
            phoneme tokenizer and the corpus' rate and hop.
        segment_frames: conditioning frames per training segment.
        f0_points: F0 values per phoneme, as the duration/F0 model predicts them.
        g2p_bundle, prosody_bundle: the stages the exported bundle names, which
            ``speechzoo.load`` of it runs before this model (``pipelines.deepvoice``).
        lr, ..., init_weights: as ``WaveNetTask``.
    """

    def __init__(self, model: nn.Module, segment_frames: int = 32, f0_points: int = 20,
                 g2p_bundle: str = "g2p-en", prosody_bundle: str = "deepvoice-prosody-en",
                 lr: float = 1e-3, weight_decay: float = 0.0, warmup_steps: int = 200,
                 anneal: float = 1.0, anneal_steps: int | None = None, samples: bool = True,
                 seed: int = 0, init_weights: str | None = None) -> None:
        super().__init__(model, segment_frames, lr, weight_decay, warmup_steps, anneal,
                         anneal_steps, samples, seed, init_weights)
        if model.config.get("n_tokens") != len(self.tokenizer):
            raise ConfigError(f"model.n_tokens is {model.config.get('n_tokens')} but the TTS "
                              f"phoneme tokenizer has {len(self.tokenizer)}; set it to match")

    def _check_front_end(self, model: nn.Module) -> None:
        if (model.sample_rate, model.hop_length) != (self.features.sample_rate,
                                                     self.features.hop):
            raise ConfigError(f"the model takes a frame every {model.hop_length} samples at "
                              f"{model.sample_rate} Hz; the TTS corpus has one every "
                              f"{self.features.hop} at {self.features.sample_rate} Hz")

    def setup(self, stage: str) -> None:
        bind_dataset(self.trainer, self.dataset, SynthesisDataset.required)

    def dataset(self, entries: list[dict], source: str) -> SynthesisDataset:
        return SynthesisDataset(entries, self.tokenizer, self.vocoder.sample_rate,
                                self.vocoder.hop_length, self.hparams.f0_points,
                                self.vocoder.f0_reference_hz, source)

    def segments(self, batch: dict, train: bool):
        """(audio (B, n * hop), conditioning (B, C, n)) of the batch's clips."""
        lengths = batch["frame_tokens_lengths"]
        cond = self.vocoder.condition(batch["frame_tokens"], batch["frame_features"], lengths)
        return crop(batch["audio"], batch["audio_lengths"], cond, lengths,
                    self.hparams.segment_frames, self.vocoder.hop_length,
                    self._crops if train else None, offset=0)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        h, v = self.hparams, self.vocoder
        frontend = {"phonemes": self.tokenizer.to_dict(), "sample_rate": v.sample_rate,
                    "hop": v.hop_length, "f0_points": h.f0_points,
                    "stages": {"g2p": h.g2p_bundle, "prosody": h.prosody_bundle}}
        checkpoint["speechzoo"] = {"format": FORMAT, "task": "deepvoice",
                                   "networks": {"vocoder": network_spec(v)},
                                   "frontend": frontend, "meta": {"task_args": dict(h)}}

