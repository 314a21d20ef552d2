"""An independent recogniser that judges synthesised speech: CMU PocketSphinx.

TTS intelligibility and robustness are measured with a recogniser that shares nothing with
the models under test (Non-Attentive Tacotron, Shen et al. 2020, used a pre-trained ASR model
the same way): PocketSphinx 5 with its bundled US English acoustic model, dictionary and
language model (``pocketsphinx.get_model_path()``), run offline on the CPU.

Its absolute WER is high (an HMM recogniser of 2010s vintage: 0.31 on twelve LJ Speech clips,
0.48 on ten short eSpeak sentences),
so use it to compare systems on the same texts, not as a measure of human intelligibility.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from speechzoo.audio import as_mono, resample
from speechzoo.errors import ConfigError
from speechzoo.metrics import WordSegment, unaligned_duration_ratio, wer, word_deletion_rate

SAMPLE_RATE = 16000  # what the bundled en-us acoustic model was trained at
_ALTERNATE = re.compile(r"\(\d+\)$")  # "the(2)": the dictionary's second pronunciation
_NOT_A_WORD = re.compile(r"[^a-z0-9' ]+")


def normalize_text(text: str) -> str:
    """Lowercase, punctuation (except apostrophes) to spaces, whitespace collapsed, as the
    recogniser writes words: ``"Hello, World!" -> "hello world"``."""
    return " ".join(_NOT_A_WORD.sub(" ", text.lower()).split())


def _is_filler(word: str) -> bool:
    # <s>, </s>, <sil> and noise words such as [NOISE] or ++BREATH++ stand for no text
    return word.startswith(("<", "[", "+"))


class Judge:
    """Transcribes speech with PocketSphinx and scores it against the intended text.

    Args:
        dither: standard deviation of a Gaussian noise floor added before decoding (seeded, so
            the same input decodes the same). Synthesisers write runs of exact zeros, whose
            log energies sit at the front end's floor and skew cepstral mean normalisation:
            on ten eSpeak sentences WER fell from 0.86 without it to 0.48 with 1e-3
            (-60 dBFS), which changes nothing audible.
        **options: further ``pocketsphinx.Decoder`` settings (e.g. ``lm=``, ``dict=``).

    Raises:
        ConfigError: pocketsphinx is not installed.
    """

    def __init__(self, dither: float = 1e-3, **options: Any) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError as e:
            raise ConfigError("the TTS judge needs PocketSphinx, which is not installed: "
                              "`pip install speechzoo[tts]` (or `pip install pocketsphinx`)"
                              ) from e
        self.dither = dither
        self.decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL", **options)
        self.frame_rate = int(self.decoder.config["frate"])  # segment times are in frames

    def _decode(self, wav: np.ndarray, sample_rate: int) -> list[WordSegment]:
        """Every segment the decoder reports, fillers and alternates included."""
        audio = resample(as_mono(wav), sample_rate, SAMPLE_RATE).astype(np.float64)
        if self.dither:
            audio = audio + np.random.default_rng(0).normal(0.0, self.dither, audio.shape)
        pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
        # The front end carries its noise estimate and cepstral mean from one utterance to the
        # next; resetting them makes each transcript independent of what was decoded before.
        self.decoder.reinit_feat()
        self.decoder.start_utt()
        self.decoder.process_raw(pcm.tobytes(), full_utt=True)
        self.decoder.end_utt()
        return [(s.word, s.start_frame / self.frame_rate, (s.end_frame + 1) / self.frame_rate)
                for s in self.decoder.seg()]

    def words(self, wav: np.ndarray, sample_rate: int) -> list[WordSegment]:
        """The recognised words with their times, fillers (``<s>``, ``<sil>``, ``[NOISE]``)
        dropped and pronunciation variants (``"the(2)"``) written as the word.

        Shape: wav (samples,) -> [(word, start_s, end_s), ...] in time order.
        """
        return [(_ALTERNATE.sub("", w), start, end)
                for w, start, end in self._decode(wav, sample_rate) if not _is_filler(w)]

    def transcribe(self, wav: np.ndarray, sample_rate: int) -> str:
        """The recognised text: lowercase words separated by spaces ("" for silence)."""
        return " ".join(w for w, _, _ in self.words(wav, sample_rate))

    def wer(self, references: Sequence[str], wavs: Sequence[np.ndarray],
            sample_rate: int) -> float:
        """Corpus WER of the transcripts of ``wavs`` against ``references`` (both normalised
        by :func:`normalize_text`)."""
        hyps = [self.transcribe(w, sample_rate) for w in wavs]
        return wer([normalize_text(r) for r in references], hyps)

    def robustness(self, references: Sequence[str], wavs: Sequence[np.ndarray],
                   sample_rate: int, min_gap_s: float = 1.0) -> dict[str, float]:
        """WER, word deletion rate and unaligned duration ratio of a set of syntheses, from
        one decoding each (see ``speechzoo.metrics``)."""
        if len(references) != len(wavs):
            raise ValueError(f"{len(references)} references but {len(wavs)} waveforms")
        refs = [normalize_text(r) for r in references]
        segments = [self.words(w, sample_rate) for w in wavs]
        hyps = [" ".join(w for w, _, _ in s) for s in segments]
        durations = [len(as_mono(w)) / sample_rate for w in wavs]
        return {"wer": wer(refs, hyps), "wdr": word_deletion_rate(refs, hyps),
                "udr": unaligned_duration_ratio(refs, segments, durations, min_gap_s)}
