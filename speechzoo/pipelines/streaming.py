"""Streaming recognition with a unidirectional Deep Speech 2 (arXiv 1512.02595, sections 3.5, 7).

A unidirectional model with a lookahead row convolution sees only a bounded future, so each
output frame can be emitted as soon as that future has arrived. :class:`Stream` runs the
model's own layers on chunks of audio of any size and computes every frame exactly once:

* the spectrogram, each 2-D convolution block and the lookahead are convolutions along time;
  each keeps the few input frames a later output still reads (:class:`_Window`) and emits the
  outputs whose receptive field is complete, with the same zero padding as the offline
  forward at the start and, on :meth:`Stream.finish`, at the end;
* the recurrent layers carry their hidden state from frame to frame.

In eval mode every BatchNorm is a fixed affine map per frame and the spectrogram of a
``normalize=False`` model is not normalised over the utterance, so nothing depends on frames
not yet heard: the stream's log-probabilities equal the offline forward's on the whole
utterance (to float rounding), and ``finish()`` returns the offline greedy transcript.
Memory is bounded by the receptive field, plus the emitted ids (and, if asked for, the
emitted log-probabilities) of the stream so far.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from speechzoo.errors import AudioError, ConfigError
from speechzoo.features import Spectrogram
from speechzoo.kernels import recurrent as recurrent_kernels
from speechzoo.models.deepspeech2 import CLIP, DeepSpeech2, _ConvBlock, _Lookahead, clipped_relu

if TYPE_CHECKING:
    from speechzoo.pipelines.asr import SpeechRecognizer


class _Window:
    """An incremental convolution along time (the last axis) with zero padding.

    Output ``u`` reads input frames ``[u * stride - left, u * stride - left + kernel)``, zero
    outside the input: ``left`` zero frames before the first, and at the end as many as the
    final outputs reach. Only input frames that an output not yet emitted reads are kept.

    Args:
        apply: maps ``m`` input frames (..., m) to the ``(m - kernel) // stride + 1`` outputs
            they hold whole (..., m').
        kernel, stride, left: the convolution along time and its zero padding at the start.
    """

    def __init__(self, apply: Callable[[Tensor], Tensor], kernel: int, stride: int,
                 left: int) -> None:
        self.apply, self.kernel, self.stride, self.left = apply, kernel, stride, left
        self.buffer: Tensor | None = None
        self.start = -left  # input index of buffer[..., 0]
        self.received = self.emitted = 0

    def last_input(self, u: int) -> int:
        """Index of the last input frame output ``u`` reads."""
        return u * self.stride - self.left + self.kernel - 1

    def __call__(self, x: Tensor | None, total: int | None = None) -> Tensor | None:
        """Take input frames x (..., T) and return the outputs they complete, or None.

        ``total``: the stream has ended and has this many outputs; zero frames stand in for
        the input past the end, as in the offline forward, and every output left comes out.
        """
        if x is not None and x.shape[-1]:
            if self.buffer is None:
                self.buffer = x.new_zeros(*x.shape[:-1], self.left)
            self.buffer = torch.cat([self.buffer, x], -1)
            self.received += x.shape[-1]
        if self.buffer is None:
            return None
        if total is None:  # outputs whose last input frame has arrived
            total = max(0, (self.received + self.left - self.kernel) // self.stride + 1)
        else:
            self.buffer = F.pad(self.buffer, (0, max(0, self.last_input(total - 1) + 1
                                                     - self.received)))
        if total <= self.emitted:
            return None
        first = self.emitted * self.stride - self.left - self.start
        out = self.apply(self.buffer[..., first:self.last_input(total - 1) + 1 - self.start])
        self.emitted = total
        drop = min(total * self.stride - self.left - self.start, self.buffer.shape[-1])
        self.buffer, self.start = self.buffer[..., drop:], self.start + drop
        return out


def _frames(x: Tensor) -> Tensor:
    """Lengths of a one-sequence batch (1, ..., T) whose frames are all valid."""
    return torch.tensor([x.shape[-1]], device=x.device)


def _spectrogram(features: Spectrogram, wav: Tensor) -> Tensor:
    """(1, samples) -> (1, 1, F, T) log spectrogram frames, one input channel for the convs."""
    return features(wav, _frames(wav))[0][:, None]


def _conv(block: _ConvBlock, x: Tensor) -> Tensor:
    """A 2-D convolution block on (1, C, F, T) frames, time padded by the caller's window."""
    conv = block.conv
    y = F.conv2d(x, conv.weight, conv.bias, conv.stride, (conv.padding[0], 0))
    return clipped_relu(block.norm(y, _frames(y)))


def _row_conv(lookahead: _Lookahead, h: Tensor) -> Tensor:
    """(1, H, T) -> (1, H, T - context): the lookahead and its clipped ReLU (section 3.5)."""
    return clipped_relu(lookahead.conv(h))


def _streaming_model(model: torch.nn.Module) -> DeepSpeech2:
    """The recogniser's model, if it can stream."""
    if not isinstance(model, DeepSpeech2):
        raise ConfigError(f"streaming needs a Deep Speech 2 model, not {type(model).__name__}; "
                          "transcribe whole files with transcribe()")
    if any(rnn.dirs == 2 for rnn in model.rnns):
        raise ConfigError("this model's recurrent layers are bidirectional, so every output "
                          "frame depends on the end of the utterance and it cannot stream; load "
                          "a streaming (unidirectional) bundle, e.g. one trained with "
                          "recipes/ds2_streaming.yaml, or transcribe whole files with "
                          "transcribe()")
    if model.features.normalize:
        raise ConfigError("this model normalises each spectrogram with statistics of the whole "
                          "utterance (normalize=True), which a stream never holds; streaming "
                          "needs a model trained with normalize=False "
                          "(recipes/ds2_streaming.yaml)")
    return model


class Stream:
    """Incremental transcription of one audio stream with a unidirectional Deep Speech 2.

    ``push`` chunks of any size as they arrive; ``text`` is the greedy transcript of the frames
    emitted so far; ``finish()`` flushes the end and returns the final transcript, the same as
    ``recognizer.transcribe`` of the whole stream. Output frames lag the audio by
    :attr:`latency_s` (the lookahead and the convolutions' future context) plus the chunk.

    Args:
        recognizer: a ``SpeechRecognizer`` whose model is a unidirectional ``DeepSpeech2``
            with ``normalize=False``.
        keep_log_probs: keep every emitted frame's log-probabilities for :attr:`log_probs`
            (e.g. for a beam search at the end); off, memory stays bounded but for the ids.

    Raises:
        ConfigError: the model cannot stream (bidirectional, or normalising per utterance).
    """

    def __init__(self, recognizer: SpeechRecognizer, keep_log_probs: bool = False) -> None:
        self.model = _streaming_model(recognizer.model).eval()
        self.tokenizer, self.sample_rate = recognizer.tokenizer, recognizer.sample_rate
        self.device = recognizer.device
        features = self.model.features
        self._windows = [_Window(partial(_spectrogram, features), features.win, features.hop, 0)]
        for block in self.model.convs:  # zero padding k // 2 on both sides, as nn.Conv2d's
            k = block.kernel[1]
            self._windows.append(_Window(partial(_conv, block), k, block.stride[1], k // 2))
        row = self.model.lookahead  # sees `context` frames ahead, zero past the end
        self._lookahead = None if row is None else _Window(partial(_row_conv, row),
                                                           row.context + 1, 1, 0)
        self._states: list[tuple[Tensor, Tensor] | None] = [None] * len(self.model.rnns)
        self.samples = 0
        self.finished = False
        self._ids: list[int] = []  # small ints are shared objects: 8 bytes a frame
        self._kept: list[Tensor] | None = [] if keep_log_probs else None
        self._labels: list[int] = []
        self._previous = -1  # the last frame's id, for merging repeats across chunks

    @property
    def latency_s(self) -> float:
        """Algorithmic latency: seconds of audio from the start of an output frame's
        spectrogram window to the last sample it depends on (window, convolutions' future
        context and lookahead), i.e. how long after it is spoken a frame can be emitted."""
        index = 0
        for window in [*self._windows, self._lookahead][::-1]:
            index = index if window is None else window.last_input(index)
        return (index + 1) / self.sample_rate

    @property
    def frames(self) -> int:
        """Output frames emitted so far."""
        return len(self._ids)

    @property
    def ids(self) -> Tensor:
        """(frames,) the most likely class of each emitted frame (blank 0 included)."""
        return torch.tensor(self._ids, dtype=torch.long)

    @property
    def log_probs(self) -> Tensor:
        """(frames, classes) log-probabilities of the emitted frames, on the CPU."""
        if self._kept is None:
            raise ConfigError("this stream does not keep its log-probabilities; create it with "
                              "keep_log_probs=True")
        if not self._kept:
            return torch.zeros(0, self.model.num_classes)
        return torch.cat(self._kept)

    @property
    def text(self) -> str:
        """Greedy transcript of the frames emitted so far (runs of spaces collapsed)."""
        return " ".join(self.tokenizer.decode(self._labels).split())

    @torch.inference_mode()
    def push(self, chunk: np.ndarray | Tensor, sample_rate: int | None = None) -> Tensor:
        """Add the next samples of the stream and run what they make computable.

        Args:
            chunk: (samples,) mono float samples (numpy or torch; any length, even 0).
            sample_rate: the chunk's rate, if given: it must be the model's.

        Returns:
            (frames', classes) log-probabilities of the frames this chunk completed.
        """
        if self.finished:
            raise AudioError("this stream has finished; start a new one for more audio")
        wav = self._chunk(chunk, sample_rate)
        self.samples += wav.shape[-1]
        return self._emit(self._run(wav, None))

    @torch.inference_mode()
    def finish(self) -> str:
        """End the stream: flush the frames held back for future context and return the final
        transcript ("" if no audio came). Later pushes raise ``AudioError``."""
        if not self.finished:
            self.finished = True
            if self.samples:
                self._emit(self._run(None, self._totals()))
        return self.text

    def _chunk(self, chunk: np.ndarray | Tensor, sample_rate: int | None) -> Tensor:
        """A user's chunk as a (1, samples) float32 tensor on the model's device."""
        if sample_rate is not None and sample_rate != self.sample_rate:
            raise AudioError(f"the stream runs at {self.sample_rate} Hz, got a {sample_rate} Hz "
                             f"chunk; resample the audio to {self.sample_rate} Hz before "
                             "streaming it")
        x = chunk.detach() if torch.is_tensor(chunk) else torch.from_numpy(np.asarray(chunk))
        if x.ndim == 2 and 1 in x.shape:
            x = x.flatten()
        if x.ndim != 1:
            raise AudioError(f"a stream takes mono chunks of shape (samples,), got "
                             f"{tuple(x.shape)}; mix the channels down first "
                             "(speechzoo.audio.as_mono)")
        if not x.is_floating_point():
            raise AudioError(f"expected float samples in [-1, 1], got {x.dtype}; scale integer "
                             "PCM first (int16: x / 32768)")
        if not torch.isfinite(x).all():
            raise AudioError("the chunk holds NaN or infinite values")
        return x.to(self.device, torch.float32)[None]

    def _totals(self) -> list[int]:
        """Outputs of each window over the whole stream: the model's own length formulas."""
        n = self.model.features.frames(torch.tensor([self.samples]))
        totals = [int(n)]
        for block in self.model.convs:
            n = block.out_lengths(n)
            totals.append(int(n))
        return totals + [totals[-1]]  # the lookahead: one output per recurrent frame

    def _run(self, wav: Tensor | None, totals: list[int] | None) -> Tensor | None:
        """New samples (1, n) through every layer -> new log-probs (T, C), or None.

        ``totals``: each window's output count over the whole stream, at its end.
        """
        ends = totals or [None] * (len(self._windows) + 1)
        x = wav
        for window, total in zip(self._windows, ends[:-1], strict=True):
            x = window(x, total)  # (1, samples) -> (1, 1, F, T) -> (1, C, F', T')...
        if x is not None:
            # (1, T, C * F) -> (1, H, T); contiguous: a strided input makes the first
            # Linear ~10x slower on a few frames
            x = self._recur(x.flatten(1, 2).transpose(1, 2).contiguous())
        if self._lookahead is not None:
            x = self._lookahead(x, ends[-1])
        if x is None:
            return None
        model = self.model
        x = model.norm(x, _frames(x)).transpose(1, 2)
        return F.log_softmax(model.fc(x).float(), dim=-1)[0]

    def _recur(self, x: Tensor) -> Tensor:
        """(1, T, C) new frames through the recurrent layers, each carrying its state from the
        previous chunk -> (1, H, T)."""
        for i, rnn in enumerate(self.model.rnns):
            y = rnn.input(x).transpose(1, 2)  # (1, gates, T)
            pre = rnn.norm(y, _frames(y)).transpose(1, 2)
            # eq. 4 frame by frame, the state carried on (kernels.recurrent: one call)
            hs, self._states[i] = recurrent_kernels.run(rnn, pre.unsqueeze(2), self._states[i],
                                                        rnn.kernel, CLIP)
            x = hs[:, :, 0]  # (1, T, H)
        return x.transpose(1, 2)

    def _emit(self, log_probs: Tensor | None) -> Tensor:
        """Record new frames' ids (and log-probs) and extend the greedy transcript."""
        if log_probs is None:
            return torch.zeros(0, self.model.num_classes)
        log_probs = log_probs.cpu()
        ids = log_probs.argmax(-1).tolist()
        self._ids += ids
        if self._kept is not None:
            self._kept.append(log_probs)
        for i in ids:  # best path: merge repeats, drop blanks (decoding.ctc)
            if i != self._previous and i != self.tokenizer.blank:
                self._labels.append(i)
            self._previous = i
        return log_probs
