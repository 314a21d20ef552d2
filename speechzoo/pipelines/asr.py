"""Speech recognition: a CTC acoustic model and its tokenizer -> text, with word times.

Decoding is greedy (best path) or a beam search with the bundle's n-gram LM
(``speechzoo.decoding.beam``); either way the decoded tokens can be force-aligned to the
frames (``speechzoo.decoding.ctc.align``) for word timestamps.

**Word times.** Output frame ``j`` stands for one frame stride (``model.frame_seconds``, 20 ms
for DS2) centred on ``model.frame_centre(j)``, the middle of the spectrogram window at the
centre of its receptive field. A word runs from the start of its first token's first frame to
the end of its last token's last frame, clipped to the audio. CTC models emit each character
in a frame or two ("peaky" outputs), so these are the times of the model's evidence for the
word; ``benchmarks/asr_timestamps.py`` measures them against eSpeak's own phoneme timings.

**Long recordings.** A recording longer than one window (``window_seconds + 2 *
context_seconds``, 10 s) goes through the acoustic model in windows that each keep the frames
of ``window_seconds`` (6 s) and see ``context_seconds`` (2 s) more audio on each side, then
drop it: a bidirectional recurrence near a cut would otherwise miss the other side. Windows
start on frame boundaries, so a window's frame ``j`` is the recording's frame ``start /
stride + j``; the kept frames joined are the whole recording's log-probabilities, decoded
and aligned once, so text and times do not see the cuts. Memory is bounded by a batch of
windows (plus the waveform and its log-probs), not by the recording's length. DS2's
per-utterance feature normalisation (section 3) is then per window.

Why 6 s: on 100 synth-en test utterances joined into one 354 s recording, ds2-en's WER was
0.398 with the whole recording at once, 0.399 in windows of 20 s (+ 3 s a side), 0.376 of 10
or 8 s (+ 2 s), 0.357 of 6 s (+ 1 or 2 s) and 0.363 of 4 s (+ 2 s); the same utterances one
by one, 0.307 (``benchmarks/asr_timestamps.py``). The model was trained on utterances of a few
seconds. The cost: each second of a long recording is run (6 + 2 * 2) / 6 = 1.7 times.
Shorter files are batched whole, as before.

The acoustic model maps (waveforms, lengths) to (log-probs, frame lengths) and has
``sample_rate``, ``output_lengths(samples)``, ``frame_seconds`` and ``frame_centre(frame)``
(as :class:`speechzoo.models.deepspeech2.DeepSpeech2`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm.auto import tqdm

from speechzoo.audio import waveform_at
from speechzoo.checkpoints import CHECKPOINT, Bundle
from speechzoo.data.manifest import read_manifest
from speechzoo.decoding.ctc import align, ctc_greedy, word_spans
from speechzoo.errors import AudioError, CheckpointError, ConfigError, TextError
from speechzoo.layers.sparse import sparsify
from speechzoo.metrics import cer, wer
from speechzoo.results import Transcript, Word
from speechzoo.text.tokenizers import CharTokenizer, tokenizer_from_dict

if TYPE_CHECKING:
    from speechzoo.pipelines.streaming import Stream

Decode = Callable[[torch.Tensor, torch.Tensor], list[list[int]]]  # (B, T, C), (B,) -> ids
Result = str | Transcript


class SpeechRecognizer:
    """Speech to text with a CTC acoustic model, greedy or beam-search decoding.

    Args:
        model: the acoustic model (see the module docstring for what it provides).
        tokenizer: the output alphabet.
        device: where the model runs.
        folder: the bundle folder, where a beam search finds its ``decoder.json`` (None: a
            model without one, e.g. read from a training checkpoint).
    """

    window_seconds = 6.0  # frames kept from each window of a long recording (module docstring)
    context_seconds = 2.0  # audio seen on each side of them, then dropped

    def __init__(self, model: torch.nn.Module, tokenizer: CharTokenizer,
                 device: str | torch.device = "cpu",
                 folder: str | os.PathLike | None = None) -> None:
        self.device = torch.device(device)
        self.model, self.tokenizer = model.eval().to(self.device), tokenizer
        self.sample_rate: int = model.sample_rate
        self.folder = Path(folder) if folder is not None else None
        self._beam: tuple[tuple, Any] | None = None  # (overrides, BeamDecoder), made when asked

    @classmethod
    def from_bundle(cls, bundle: Bundle, device: torch.device,
                    sparse: bool = False) -> SpeechRecognizer:
        """The recogniser of an asr bundle; ``sparse``: its pruned matrices run sparse
        (``speechzoo.layers.sparse.sparsify``)."""
        model = bundle.build("acoustic")
        try:
            tokenizer = tokenizer_from_dict(bundle.frontend.get("tokenizer", {}))
        except TextError as e:
            raise CheckpointError(f"{bundle.source}: {e}") from None
        if not isinstance(tokenizer, CharTokenizer):
            raise CheckpointError(f"{bundle.source}: an asr bundle needs a character tokenizer")
        source = Path(bundle.source)
        asr = cls(model, tokenizer, device, source.parent if source.name == CHECKPOINT else None)
        if sparse:
            try:
                sparsify(asr.model)
            except ConfigError as e:
                raise ConfigError(f"{bundle.source}: {e}") from None
        return asr

    def transcribe(self, audio: Any, sample_rate: int | None = None, batch_size: int = 8, *,
                   timestamps: bool = False, decoder: str = "greedy",
                   beam_size: int | None = None, lm_weight: float | None = None,
                   word_score: float | None = None,
                   progress: bool | None = None) -> Result | list[Result]:
        """Transcribe a file, a list of files, or a waveform.

        Args:
            audio: a path, a list of paths/waveforms, or a waveform (numpy or torch;
                (samples,), (channels, samples) or (samples, channels)), of any length.
            sample_rate: the waveform's rate (any rate; resampled). Not needed for files.
            batch_size: utterances (or windows of a long recording) run together; padding
                does not change results.
            timestamps: return :class:`Transcript` s with each word's start and end (seconds).
            decoder: ``"greedy"`` (best path) or ``"beam"`` (beam search with the bundle's
                language model, from ``decoder.json`` in its folder).
            beam_size, lm_weight, word_score: override the bundle's beam-search settings.
            progress: a progress bar on stderr; None: on a terminal, once a job takes more
                than a second.

        Returns:
            The text (or Transcript), or a list of them for a list input.
        """
        decode = self._decoder(decoder, beam_size, lm_weight, word_score)
        single, wavs = self._inputs(audio, sample_rate)
        with self._progress(sum(map(len, wavs)) / self.sample_rate, progress) as bar:
            results = self._run(wavs, batch_size, decode, timestamps, bar)
        return results[0] if single else results

    def log_probs(self, audio: Any, sample_rate: int | None = None, batch_size: int = 8, *,
                  progress: bool | None = None) -> torch.Tensor | list[torch.Tensor]:
        """The acoustic model's per-frame log-probabilities, to decode many times (e.g. to tune
        a beam search's weights): (T, C) on the CPU per recording, long ones from windows.
        Arguments as :meth:`transcribe`'s."""
        single, wavs = self._inputs(audio, sample_rate)
        out: list[torch.Tensor] = [torch.empty(0)] * len(wavs)
        with self._progress(sum(map(len, wavs)) / self.sample_rate, progress) as bar:
            for idx, log_probs, frames in self._batches(wavs, batch_size, bar):
                for row, i in enumerate(idx):
                    out[i] = log_probs[row, : int(frames[row])]
        return out[0] if single else out

    def stream(self, keep_log_probs: bool = False) -> Stream:
        """A :class:`~speechzoo.pipelines.streaming.Stream` for live audio: ``push`` chunks of
        any size, read ``.text`` as it grows, ``finish()`` for the final text (equal to
        decoding the whole recording at once). Needs a streaming (unidirectional) model such
        as ``ds2-en-streaming``; ``keep_log_probs`` keeps every frame's output."""
        from speechzoo.pipelines.streaming import Stream

        return Stream(self, keep_log_probs)

    def transcribe_files(self, paths: Sequence[str | os.PathLike], batch_size: int = 8, *,
                         timestamps: bool = False, decoder: str = "greedy",
                         beam_size: int | None = None, lm_weight: float | None = None,
                         word_score: float | None = None, progress: bool | None = None,
                         ) -> Iterator[tuple[str, Result | AudioError]]:
        """``(path, text)`` for each file in order, or ``(path, error)`` for one that cannot be
        read, so that one bad file does not stop the others. Reads ``8 * batch_size`` files
        at a time. The options are :meth:`transcribe`'s."""
        decode = self._decoder(decoder, beam_size, lm_weight, word_score)
        chunk = 8 * max(1, batch_size)
        with self._progress(0.0, progress) as bar:
            for start in range(0, len(paths), chunk):
                read = [(str(p), self._read(p)) for p in paths[start:start + chunk]]
                good = [w for _, w in read if isinstance(w, np.ndarray)]
                bar.total += sum(map(len, good)) / self.sample_rate  # known once read
                bar.refresh()
                results = iter(self._run(good, batch_size, decode, timestamps, bar))
                for path, wav in read:
                    yield path, next(results) if isinstance(wav, np.ndarray) else wav

    def evaluate(self, manifest: str | os.PathLike, batch_size: int = 8, *,
                 decoder: str = "greedy", beam_size: int | None = None,
                 lm_weight: float | None = None, word_score: float | None = None,
                 progress: bool | None = None) -> dict[str, Any]:
        """Word and character error rates on a manifest (JSON lines with ``audio_filepath``,
        ``duration`` and ``text``; the reference texts should already be normalised). The
        options are :meth:`transcribe`'s.

        Returns:
            ``{"wer", "cer", "utterances", "hours", "manifest", "decoder", "results"}``;
            ``results`` holds one manifest entry per utterance with its ``hypothesis``.
        """
        entries = read_manifest(manifest, required=("audio_filepath", "duration", "text"))
        decode = self._decoder(decoder, beam_size, lm_weight, word_score)
        hyps: list[str] = []
        seconds = sum(float(e["duration"]) for e in entries)
        with self._progress(seconds, progress) as bar:
            for start in range(0, len(entries), 64):  # a corpus need not fit in memory at once
                wavs = [self._waveform(e["audio_filepath"], None)
                        for e in entries[start:start + 64]]
                hyps += self._run(wavs, batch_size, decode, False, bar)
        refs = [e["text"] for e in entries]
        return {"wer": wer(refs, hyps), "cer": cer(refs, hyps), "utterances": len(entries),
                "hours": seconds / 3600, "manifest": str(Path(manifest)), "decoder": decoder,
                "results": [{"audio_filepath": e["audio_filepath"], "duration": e["duration"],
                             "text": r, "hypothesis": h}
                            for e, r, h in zip(entries, refs, hyps, strict=True)]}

    # Reading audio

    def _waveform(self, audio: Any, sample_rate: int | None) -> np.ndarray:
        return waveform_at(audio, self.sample_rate, sample_rate)

    def _inputs(self, audio: Any, sample_rate: int | None) -> tuple[bool, list[np.ndarray]]:
        """Whether ``audio`` is one recording, and the waveform(s) at the model's rate."""
        single = not isinstance(audio, (list, tuple))
        return single, [self._waveform(a, sample_rate) for a in ([audio] if single else audio)]

    def _read(self, path: str | os.PathLike) -> np.ndarray | AudioError:
        try:
            return self._waveform(path, None)
        except AudioError as e:
            return e

    def _progress(self, seconds: float, progress: bool | None) -> tqdm:
        """A bar over seconds of audio; ``progress`` None: on a terminal, after a second."""
        show = sys.stderr.isatty() if progress is None else progress
        return tqdm(total=round(seconds, 2), unit="s", desc="transcribing", leave=False,
                    disable=not show, delay=1.0 if progress is None else 0.0,
                    bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s audio [{elapsed}<{remaining}]")

    # Decoding

    def _decoder(self, decoder: str, beam_size: int | None, lm_weight: float | None,
                 word_score: float | None) -> Decode:
        overrides = {k: v for k, v in (("beam_size", beam_size), ("lm_weight", lm_weight),
                                       ("word_score", word_score)) if v is not None}
        if decoder == "greedy":
            if overrides:
                raise ConfigError(f"{', '.join(overrides)} only apply to decoder='beam'")
            return lambda log_probs, lengths: ctc_greedy(log_probs, lengths,
                                                         self.tokenizer.blank)
        if decoder == "beam":
            return self._beam_decoder(overrides).decode
        raise ConfigError(f"unknown decoder {decoder!r}; use 'greedy' or 'beam'")

    def _beam_decoder(self, overrides: dict[str, Any]) -> Any:
        """The bundle's BeamDecoder (its LM loaded once), rebuilt only if the overrides
        change."""
        key = tuple(sorted(overrides.items()))
        if self._beam is None or self._beam[0] != key:
            if self.folder is None:
                raise CheckpointError(
                    "decoder='beam' needs a bundle folder that holds a language model "
                    "(decoder.json), and this model was not loaded from one: export it to a "
                    "folder (`speechzoo export CHECKPOINT FOLDER`), add an LM (`speechzoo lm "
                    "--help`) and load the folder")
            from speechzoo.decoding.beam import BeamDecoder  # its LM packages load only here

            self._beam = (key, BeamDecoder.from_folder(self.folder, self.tokenizer,
                                                       **overrides))
        return self._beam[1]

    # Running the model

    def _batches(self, wavs: list[np.ndarray], batch_size: int, bar: tqdm,
                 ) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor]]:
        """``(indices, log_probs (B, T, C), frames (B,))`` covering ``wavs``: short recordings
        batched by length (less padding, same results), then each long one from windows."""
        window = int((self.window_seconds + 2 * self.context_seconds) * self.sample_rate)
        short = sorted((i for i, w in enumerate(wavs) if len(w) <= window),
                       key=lambda i: len(wavs[i]))
        for start in range(0, len(short), batch_size):
            idx = short[start:start + batch_size]
            log_probs, frames = self._acoustic([wavs[i] for i in idx])
            bar.update(sum(len(wavs[i]) for i in idx) / self.sample_rate)
            yield idx, log_probs, frames
        for i, wav in enumerate(wavs):
            if len(wav) > window:
                log_probs = self._long_log_probs(wav, batch_size, bar)
                yield [i], log_probs[None], torch.tensor([len(log_probs)])

    def _run(self, wavs: list[np.ndarray], batch_size: int, decode: Decode, timestamps: bool,
             bar: tqdm) -> list[Result]:
        """Decoded results of ``wavs``, in order."""
        results: list[Result] = [""] * len(wavs)
        for idx, log_probs, frames in self._batches(wavs, batch_size, bar):
            samples = [len(wavs[i]) for i in idx]
            for i, r in zip(idx, self._results(log_probs, frames, samples, decode, timestamps),
                            strict=True):
                results[i] = r
        return results

    @torch.inference_mode()
    def _acoustic(self, wavs: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probs (B, T, C) and frame lengths (B,), on the CPU, of a batch of waveforms."""
        lengths = torch.tensor([len(w) for w in wavs])
        padded = torch.zeros(len(wavs), int(lengths.max()))
        for i, w in enumerate(wavs):
            padded[i, : len(w)] = torch.from_numpy(w)
        log_probs, frames = self.model(padded.to(self.device), lengths.to(self.device))
        return log_probs.cpu(), frames.cpu()

    def _long_log_probs(self, wav: np.ndarray, batch_size: int, bar: tqdm) -> torch.Tensor:
        """(T, C) log-probs of a long recording, from windows (see the module docstring)."""
        frame_seconds = self.model.frame_seconds
        stride = round(frame_seconds * self.sample_rate)  # samples per output frame
        keep = max(1, round(self.window_seconds / frame_seconds))
        context = round(self.context_seconds / frame_seconds)
        total = int(self.model.output_lengths(torch.tensor([len(wav)])))
        kept = [(a, min(a + keep, total)) for a in range(0, total, keep)]
        parts = []
        for g in range(0, len(kept), batch_size):
            group = kept[g:g + batch_size]
            firsts = [max(0, a - context) for a, _ in group]  # each window's first frame
            log_probs, _ = self._acoustic([wav[f * stride:(b + context) * stride]
                                           for f, (_, b) in zip(firsts, group, strict=True)])
            parts += [lp[a - f:b - f] for lp, f, (a, b) in zip(log_probs, firsts, group,
                                                                strict=True)]
            bar.update((min(group[-1][1] * stride, len(wav)) - group[0][0] * stride)
                       / self.sample_rate)
        return torch.cat(parts)

    def _results(self, log_probs: torch.Tensor, frames: torch.Tensor, samples: list[int],
                 decode: Decode, timestamps: bool) -> list[Result]:
        """Decoded texts (or Transcripts) of a batch: log_probs (B, T, C), frames (B,)."""
        ids = decode(log_probs, frames)
        if not timestamps:
            return [self._text(i) for i in ids]
        return [self._transcript(lp[:n], i, s) for lp, n, i, s in
                zip(log_probs, frames.tolist(), ids, samples, strict=True)]

    def _text(self, ids: list[int]) -> str:
        return " ".join(self.tokenizer.decode(ids).split())  # runs of spaces collapsed

    def _transcript(self, log_probs: torch.Tensor, ids: list[int], samples: int) -> Transcript:
        """Words of one utterance (log_probs (T, C)) and their times (module docstring)."""
        space = self.tokenizer.encode(" ")[0] if " " in self.tokenizer.symbols else None
        half, duration = self.model.frame_seconds / 2, samples / self.sample_rate
        words = []
        for word in word_spans(align(log_probs, ids, self.tokenizer.blank), space):
            start = float(self.model.frame_centre(word[0].start)) - half
            end = float(self.model.frame_centre(word[-1].end - 1)) + half
            start = round(min(max(start, 0.0), duration), 3)  # to the millisecond
            words.append(Word(self.tokenizer.decode(s.token for s in word), start,
                              round(min(max(end, start), duration), 3)))
        return Transcript(self._text(ids), words)
