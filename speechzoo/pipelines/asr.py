"""Speech recognition: a CTC acoustic model and its tokenizer -> text."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from speechzoo.audio import as_mono, load_audio, resample
from speechzoo.checkpoints import Bundle
from speechzoo.data.manifest import read_manifest
from speechzoo.decoding.ctc import greedy_transcripts
from speechzoo.errors import AudioError, CheckpointError, TextError
from speechzoo.metrics import cer, wer
from speechzoo.text.tokenizers import CharTokenizer, tokenizer_from_dict


class SpeechRecognizer:
    """Speech to text with a CTC acoustic model and greedy decoding.

    Args:
        model: maps (waveforms, lengths) to (log-probs, frame lengths); has ``sample_rate``.
        tokenizer: the output alphabet.
        device: where the model runs.
    """

    def __init__(self, model: torch.nn.Module, tokenizer: CharTokenizer,
                 device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model, self.tokenizer = model.eval().to(self.device), tokenizer
        self.sample_rate: int = model.sample_rate

    @classmethod
    def from_bundle(cls, bundle: Bundle, device: torch.device) -> SpeechRecognizer:
        model = bundle.build("acoustic")
        try:
            tokenizer = tokenizer_from_dict(bundle.frontend.get("tokenizer", {}))
        except TextError as e:
            raise CheckpointError(f"{bundle.source}: {e}") from None
        if not isinstance(tokenizer, CharTokenizer):
            raise CheckpointError(f"{bundle.source}: an asr bundle needs a character tokenizer")
        return cls(model, tokenizer, device)

    def _waveform(self, audio: Any, sample_rate: int | None) -> np.ndarray:
        if isinstance(audio, (str, os.PathLike)):
            return load_audio(audio, self.sample_rate)[0]
        if sample_rate is None:
            raise AudioError("a waveform needs its sample_rate: transcribe(wav, sample_rate=...)")
        return resample(as_mono(audio), sample_rate, self.sample_rate)

    @torch.inference_mode()
    def _batch(self, wavs: list[np.ndarray]) -> list[str]:
        lengths = torch.tensor([len(w) for w in wavs])
        padded = torch.zeros(len(wavs), int(lengths.max()))
        for i, w in enumerate(wavs):
            padded[i, : len(w)] = torch.from_numpy(w)
        log_probs, frames = self.model(padded.to(self.device), lengths.to(self.device))
        return greedy_transcripts(log_probs, frames, self.tokenizer)

    def transcribe(self, audio: Any, sample_rate: int | None = None,
                   batch_size: int = 8) -> str | list[str]:
        """Transcribe a file, a list of files, or a waveform.

        Args:
            audio: a path, a list of paths/waveforms, or a waveform (numpy or torch;
                (samples,), (channels, samples) or (samples, channels)).
            sample_rate: the waveform's rate (any rate; resampled). Not needed for files.
            batch_size: utterances run together (padding does not change results).

        Returns:
            The text, or a list of texts for a list input.
        """
        single = not isinstance(audio, (list, tuple))
        items = [audio] if single else list(audio)
        wavs = [self._waveform(a, sample_rate) for a in items]
        # Batch similar lengths together: less padding, same results.
        order = sorted(range(len(wavs)), key=lambda i: len(wavs[i]))
        texts: list[str] = [""] * len(wavs)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            for i, text in zip(idx, self._batch([wavs[i] for i in idx]), strict=True):
                texts[i] = text
        return texts[0] if single else texts

    def transcribe_files(self, paths: Sequence[str | os.PathLike], batch_size: int = 8,
                         ) -> Iterator[tuple[str, str | AudioError]]:
        """``(path, text)`` for each file in order, or ``(path, error)`` for one that cannot be
        read, so that one bad file does not stop the others. Reads ``8 * batch_size`` files
        at a time."""
        chunk = 8 * max(1, batch_size)
        for start in range(0, len(paths), chunk):
            read: list[tuple[str, np.ndarray | AudioError]] = []
            for path in paths[start:start + chunk]:
                try:
                    read.append((str(path), self._waveform(path, None)))
                except AudioError as e:
                    read.append((str(path), e))
            good = [w for _, w in read if isinstance(w, np.ndarray)]
            texts = iter(self.transcribe(good, self.sample_rate, batch_size) if good else [])
            for path, wav in read:
                yield path, next(texts) if isinstance(wav, np.ndarray) else wav

    def evaluate(self, manifest: str | os.PathLike, batch_size: int = 8) -> dict[str, Any]:
        """Word and character error rates on a manifest (JSON lines with ``audio_filepath``,
        ``duration`` and ``text``; the reference texts should already be normalised).

        Returns:
            ``{"wer", "cer", "utterances", "hours", "manifest", "results"}``; ``results``
            holds one manifest entry per utterance with its ``hypothesis`` beside ``text``.
        """
        entries = read_manifest(manifest, required=("audio_filepath", "duration", "text"))
        hyps: list[str] = []
        for start in range(0, len(entries), 64):  # a corpus need not fit in memory at once
            hyps += self.transcribe([e["audio_filepath"] for e in entries[start:start + 64]],
                                    batch_size=batch_size)
        refs = [e["text"] for e in entries]
        return {"wer": wer(refs, hyps), "cer": cer(refs, hyps), "utterances": len(entries),
                "hours": sum(float(e["duration"]) for e in entries) / 3600,
                "manifest": str(Path(manifest)),
                "results": [{"audio_filepath": e["audio_filepath"], "duration": e["duration"],
                             "text": r, "hypothesis": h}
                            for e, r, h in zip(entries, refs, hyps, strict=True)]}
