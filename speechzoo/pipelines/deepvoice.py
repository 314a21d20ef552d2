"""``DeepVoice``: text -> speech through Deep Voice's stages (arXiv 1702.07825, section 3):
text front end -> grapheme-to-phoneme for the words CMUdict lacks -> duration and F0 ->
audio synthesis, what ``speechzoo.load("deepvoice-en")`` returns.

The bundle holds the audio synthesis model and names the G2P and duration/F0 bundles it runs
first (its ``frontend["stages"]``); each of those also loads on its own.
"""

from __future__ import annotations

import numpy as np
import torch

from speechzoo.checkpoints import Bundle, read_bundle
from speechzoo.data.prosody import frame_conditioning
from speechzoo.errors import CheckpointError, ConfigError
from speechzoo.pipelines.g2p import Phonemizer
from speechzoo.pipelines.prosody import Prosody, ProsodyPredictor
from speechzoo.pipelines.tts import Alignment, sentence_phonemes
from speechzoo.results import Audio
from speechzoo.text.tokenizers import PhonemeTokenizer, tokenizer_from_dict


class DeepVoice:
    """Speech from text with Deep Voice's stages.

    Args:
        model: a ``speechzoo.models.deepvoice.synthesis.DeepVoiceSynthesis``.
        tokenizer: its phoneme tokenizer (the duration/F0 model's too).
        prosody: the duration/F0 stage.
        g2p: the grapheme-to-phoneme stage for out-of-dictionary words (None: eSpeak NG reads
            every word).
        device: where the networks run (generation itself steps on the CPU).
    """

    def __init__(self, model: torch.nn.Module, tokenizer: PhonemeTokenizer,
                 prosody: ProsodyPredictor, g2p: Phonemizer | None = None,
                 device: str | torch.device = "cpu") -> None:
        if prosody.tokenizer.to_dict() != tokenizer.to_dict():
            raise ConfigError("the duration/F0 model and the audio synthesis model read "
                              "different phoneme inventories; pair bundles of one front end")
        frame = model.hop_length / model.sample_rate
        if abs(prosody.frame_seconds - frame) > 1e-9:
            raise ConfigError(f"the duration/F0 model counts frames of {prosody.frame_seconds} "
                              f"s, the audio synthesis model of {frame} s; pair bundles of one "
                              "corpus")
        self.device = torch.device(device)
        self.model, self.tokenizer = model.eval().to(self.device), tokenizer
        self.prosody, self.g2p = prosody, g2p
        self.reader = g2p.reader() if g2p is not None else None
        self.sample_rate: int = model.sample_rate
        self.frame_seconds = frame

    @classmethod
    def from_bundle(cls, bundle: Bundle, device: torch.device) -> DeepVoice:
        front = bundle.frontend
        if bundle.task != "deepvoice" or "stages" not in front or "phonemes" not in front:
            raise CheckpointError(f"{bundle.source} is not a Deep Voice bundle (task "
                                  f"{bundle.task!r})")
        stages = front["stages"]
        try:
            prosody = ProsodyPredictor.from_bundle(read_bundle(stages["prosody"]), device)
            g2p = Phonemizer.from_bundle(read_bundle(stages["g2p"]), device) \
                if stages.get("g2p") else None
        except CheckpointError as e:
            raise CheckpointError(f"{bundle.source} names a stage that does not load: {e}") \
                from None
        return cls(bundle.build("vocoder"), tokenizer_from_dict(front["phonemes"]), prosody,
                   g2p, device)

    def phonemes(self, text: str) -> list[list[str]]:
        """The phonemes of each sentence of ``text``: eSpeak NG for dictionary words, the G2P
        model for the others."""
        return sentence_phonemes(text, glides=True, reader=self.reader)

    def conditioning(self, prosody: Prosody) -> tuple[np.ndarray, np.ndarray]:
        """A sentence's prosody as the audio synthesis model hears it: per frame, the phoneme
        id and its features (``speechzoo.data.prosody.frame_conditioning``)."""
        ids = self.tokenizer.encode(prosody.phonemes[:-1], add_end=True)
        ends = np.round(np.cumsum(prosody.durations) / self.frame_seconds).astype(np.int64)
        return frame_conditioning(np.asarray(ids), ends, prosody.voiced, prosody.f0,
                                  self.model.f0_reference_hz)

    @torch.no_grad()
    def vocode(self, prosodies: list[Prosody], seed: int = 0,
               progress: bool = False) -> list[np.ndarray]:
        """The audio synthesis stage on its own: one waveform per sentence's prosody, drawn
        together as one batch (the conditioning network is padding-invariant)."""
        frames = [self.conditioning(p) for p in prosodies]
        lengths = torch.tensor([len(ids) for ids, _ in frames])
        if int(lengths.min()) < 1:
            raise ConfigError("a sentence's durations add up to no frame: nothing to vocode")
        pad = torch.nn.utils.rnn.pad_sequence
        ids = pad([torch.from_numpy(i) for i, _ in frames], batch_first=True)
        feats = pad([torch.from_numpy(f) for _, f in frames], batch_first=True)
        cond = self.model.condition(ids.to(self.device), feats.to(self.device),
                                    lengths.to(self.device))
        wav = self.model.generate(cond, torch.Generator().manual_seed(seed),
                                  progress=progress).cpu().numpy()
        hop = self.model.hop_length
        return [wav[i, :int(n) * hop] for i, n in enumerate(lengths)]

    def synthesize(self, text: str, pace: float = 1.0, pitch: float = 1.0, *, seed: int = 0,
                   alignment: bool = False,
                   progress: bool = False) -> Audio | tuple[Audio, Alignment]:
        """Speak ``text``.

        Args:
            text: English text, read as ``Synthesizer.synthesize`` reads it.
            pace: speaking rate (2.0 twice as fast), within [0.1, 10].
            pitch: F0 factor (2.0 an octave up), within [0.25, 4].
            seed: the draw of the samples; the same text and seed give the same audio.
            alignment: also return each sentence's phonemes, durations (s) and the hard
                frame-to-phoneme alignment the audio model is conditioned on.
            progress: show a bar of samples generated (slower than real time on a CPU).

        Raises:
            TextError: empty text or nothing speakable; ConfigError: pace or pitch out of
            range.
        """
        prosodies = [self.prosody.predict(phonemes=p, pace=pace, pitch=pitch)
                     for p in self.phonemes(text)]
        audio = Audio(np.concatenate(self.vocode(prosodies, seed, progress)), self.sample_rate)
        if not alignment:
            return audio
        return audio, Alignment([p.phonemes for p in prosodies],
                                [p.durations for p in prosodies],
                                [self._hard_weights(p) for p in prosodies])

    def _hard_weights(self, prosody: Prosody) -> np.ndarray:
        """(frames, phonemes) one-hot: the phoneme each frame is conditioned on."""
        ends = np.round(np.cumsum(prosody.durations) / self.frame_seconds).astype(np.int64)
        index = np.repeat(np.arange(len(ends)), np.diff(ends, prepend=0))
        weights = np.zeros((len(index), len(ends)), np.float32)
        weights[np.arange(len(index)), index] = 1.0
        return weights
