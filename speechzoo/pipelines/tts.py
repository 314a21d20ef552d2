"""``Synthesizer``: text -> speech with a text-to-mel bundle (Non-Attentive Tacotron) and a
vocoder.

Text runs through the front end the model was trained with (``speechzoo.text.phonemes``:
normalisation, eSpeak NG phonemes, pauses), is split into sentences, and the sentences are
synthesised as one padded batch (the model is padding-invariant) and joined. The decoder's
pre-net keeps its dropout at inference, as in Tacotron 2, so a synthesis is drawn from a
seeded generator: the same text and seed give the same audio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from speechzoo.checkpoints import Bundle
from speechzoo.errors import CheckpointError, ConfigError, TextError
from speechzoo.pipelines.vocoder import Vocoder, make_vocoder
from speechzoo.results import Audio
from speechzoo.text.english import fold_unicode, split_sentences
from speechzoo.text.phonemes import WordReader, phonemize
from speechzoo.text.tokenizers import PhonemeTokenizer, tokenizer_from_dict

DEFAULT_VOCODER = "griffin-lim"
MAX_CHARACTERS = 20000  # one call's text; longer input is surely a mistake (split it up)


@dataclass
class Alignment:
    """What ``synthesize(..., alignment=True)`` returns beside the audio, per sentence: the
    phonemes (the end token last), their durations in seconds and the upsampling weights
    (frames, phonemes)."""

    phonemes: list[list[str]]
    durations: list[np.ndarray]
    weights: list[np.ndarray]


def sentence_phonemes(text: str, voice: str = "en-us", glides: bool = True,
                      reader: WordReader | None = None) -> list[list[str]]:
    """The phonemes of each sentence of ``text`` (``speechzoo.text.phonemes.phonemize``), after
    the checks every synthesiser makes: some text, not too much, no other script; a sentence
    with nothing to say (only symbols or emoji) is skipped.

    Raises:
        TextError: empty, too long, foreign letters, or nothing speakable at all.
    """
    if not isinstance(text, str) or not text.strip():
        raise TextError("synthesize needs some text, e.g. synthesize('Hello world.')")
    if len(text) > MAX_CHARACTERS:
        raise TextError(f"{len(text)} characters in one call; give at most "
                        f"{MAX_CHARACTERS} (split long documents into calls)")
    foreign = sorted({c for c in text if c.isalpha() and not fold_unicode(c).isascii()})
    if foreign:
        raise TextError(f"the English front end cannot speak {''.join(foreign[:10])!r} "
                        f"(letters of another script); transliterate or remove them")
    out = []
    for sentence in (s for s in split_sentences(text) if s.strip()):
        try:
            out.append(phonemize(sentence, voice, glides, reader))
        except TextError:
            continue  # a sentence of only symbols or emoji: nothing to say
    if not out:
        phonemize(text, voice)  # raises the front end's own explanation
    return out


class Synthesizer:
    """Speech from text with a text-to-mel model and a vocoder.

    Args:
        model: a trained text-to-mel model (``infer(tokens, lengths, pace)``).
        tokenizer: its phoneme tokenizer.
        vocoder: mels -> waveform.
        voice: the eSpeak NG voice that phonemises the text.
        glides: add the glides of Piper's eSpeak (``phonemize(..., glides=True)``), as the
            models trained on synth-tts-en were given.
        device: where the model runs.
    """

    def __init__(self, model: torch.nn.Module, tokenizer: PhonemeTokenizer, vocoder: Vocoder,
                 voice: str = "en-us", glides: bool = True,
                 device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model, self.tokenizer = model.eval().to(self.device), tokenizer
        if vocoder.sample_rate != model.sample_rate:
            raise ConfigError(f"the vocoder makes {vocoder.sample_rate} Hz audio but the model's "
                              f"mels are of {model.sample_rate} Hz; pair models of one rate")
        self.vocoder, self.voice, self.glides = vocoder, voice, glides
        self.sample_rate: int = model.sample_rate

    @classmethod
    def from_bundle(cls, bundle: Bundle, device: torch.device,
                    vocoder: str | None = None) -> Synthesizer:
        """The synthesiser of a tts bundle, with the vocoder named (default: the bundle's
        own choice, else Griffin-Lim)."""
        front = bundle.frontend
        try:
            tokenizer = tokenizer_from_dict(front.get("tokenizer", {}))
        except TextError as e:
            raise CheckpointError(f"{bundle.source}: {e}") from None
        if not isinstance(tokenizer, PhonemeTokenizer) or "features" not in front:
            raise CheckpointError(f"{bundle.source}: a tts bundle needs a phoneme tokenizer "
                                  "and its mel front end")
        name = vocoder or bundle.meta.get("vocoder") or DEFAULT_VOCODER
        voc = make_vocoder(name, front["features"]["args"], device)
        phonemizer = front.get("phonemizer", {})
        return cls(bundle.build("acoustic"), tokenizer, voc, phonemizer.get("voice", "en-us"),
                   phonemizer.get("glides", True), device)

    def phonemes(self, text: str) -> list[list[str]]:
        """The phonemes of each sentence of ``text`` (what the model is given)."""
        return sentence_phonemes(text, self.voice, self.glides)

    @torch.no_grad()
    def synthesize(self, text: str, pace: float = 1.0, *, seed: int = 0,
                   alignment: bool = False) -> Audio | tuple[Audio, Alignment]:
        """Speak ``text``.

        Args:
            text: English text; numbers, dates, currency and abbreviations are read out,
                punctuation pauses, several sentences are spoken one after another.
            pace: speaking rate (2.0 twice as fast), within [0.1, 10].
            seed: draws the pre-net's dropout; the same text and seed give the same audio.
            alignment: also return each sentence's phonemes, durations and weights.

        Raises:
            TextError: empty text or nothing speakable; ConfigError: a pace out of range.
        """
        sentences = self.phonemes(text)
        ids = [torch.tensor(self.tokenizer.encode(p, add_end=True)) for p in sentences]
        lengths = torch.tensor([len(i) for i in ids], device=self.device)
        tokens = torch.nn.utils.rnn.pad_sequence(ids, batch_first=True).to(self.device)
        cuda = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(seed)
            out = self.model.infer(tokens, lengths, pace)
        mels = [out.mel_post[i, :, :int(n)] for i, n in enumerate(out.mel_lengths)]
        wav = np.concatenate([self.vocoder.vocode(m).waveform for m in mels])
        audio = Audio(wav.astype(np.float32), self.vocoder.sample_rate)
        if not alignment:
            return audio
        seconds = self.model.frame_seconds
        names = list(self.tokenizer.specials) + self.tokenizer.symbols
        return audio, Alignment(
            [[names[j] for j in i.tolist()] for i in ids],
            [out.durations[i, :len(t)].cpu().numpy() * seconds for i, t in enumerate(ids)],
            [out.weights[i, :int(f), :len(t)].cpu().numpy()
             for i, (t, f) in enumerate(zip(ids, out.mel_lengths, strict=True))])
