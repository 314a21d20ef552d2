"""Streaming Deep Speech 2: chunk by chunk, the same frames and text as the offline forward."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
from torch import nn

import speechzoo
from speechzoo.decoding.ctc import greedy_transcripts
from speechzoo.errors import AudioError, ConfigError
from speechzoo.models.deepspeech2 import DeepSpeech2
from speechzoo.pipelines.asr import SpeechRecognizer
from speechzoo.pipelines.streaming import Stream
from speechzoo.text.english import CHARACTERS
from speechzoo.text.tokenizers import CharTokenizer

RATE = 16000
CONFIGS = {
    # two convolutions, time strides 2 then 1 (as recipes/ds2_streaming.yaml), lookahead
    "gru": dict(rnn_type="gru", lookahead=3),
    # one convolution of time stride 1, no lookahead layer
    "rnn-stride1": dict(rnn_type="rnn", conv_channels=(4,), conv_kernels=((11, 5),),
                        conv_strides=((2, 1),), lookahead=0),
    # time strides 2 and 2, a longer lookahead
    "gru-stride2x2": dict(conv_kernels=((21, 7), (11, 5)), conv_strides=((2, 2), (2, 2)),
                          lookahead=5),
    # an even time kernel (padding k // 2 on both sides), LSTM cells, one layer
    "lstm-even-kernel": dict(rnn_type="lstm", conv_channels=(4,), conv_kernels=((21, 6),),
                             conv_strides=((2, 2),), rnn_layers=1, lookahead=2),
}


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models (recipe_runs.torch_threads)


def audio(samples: int, seed: int) -> torch.Tensor:
    """A gliding tone in noise under a 3 Hz envelope: frames that differ over time."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(samples) / RATE
    envelope = 0.5 + 0.5 * torch.sin(2 * math.pi * 3 * t + 6 * torch.rand(1, generator=g))
    pitch = 200 + 3000 * torch.rand(1, generator=g) * t
    noise = 0.3 * torch.randn(samples, generator=g)
    return 0.1 * envelope * (noise + torch.sin(4 * math.pi * pitch * t))


@functools.cache
def recognizer(name: str, seed: int = 0) -> SpeechRecognizer:
    """A random streaming model whose eval BatchNorms are far from the identity: running
    statistics of a batch of audio, random scales and shifts; fc scaled so that the greedy
    text changes from frame to frame."""
    torch.manual_seed(seed)
    args = dict(num_classes=29, conv_channels=(4, 4), rnn_hidden=32, rnn_layers=2,
                bidirectional=False, normalize=False)
    model = DeepSpeech2(**{**args, **CONFIGS[name]})
    for norm in model.modules():
        if isinstance(norm, nn.BatchNorm1d):
            norm.momentum = 1.0  # running statistics := those of the batch below
            nn.init.uniform_(norm.weight, 0.5, 1.5)
            nn.init.normal_(norm.bias, 0.0, 0.5)
    with torch.no_grad():
        model.train()(torch.stack([audio(RATE, 100 + i) for i in range(4)]),
                      torch.full((4,), RATE))
        model.fc.weight.mul_(4)
    return SpeechRecognizer(model, CharTokenizer(CHARACTERS))


def offline(rec: SpeechRecognizer, wav: torch.Tensor) -> tuple[torch.Tensor, str]:
    """(frames, classes) log-probs and greedy text of the whole utterance at once."""
    with torch.inference_mode():
        log_probs, frames = rec.model(wav[None], torch.tensor([len(wav)]))
    return log_probs[0], greedy_transcripts(log_probs, frames, rec.tokenizer)[0]


def stream(rec: SpeechRecognizer, wav: torch.Tensor, sizes: list[int]) -> tuple[Stream, str]:
    """Push wav in chunks of the given sizes (cycled) and finish."""
    s = Stream(rec, keep_log_probs=True)
    start, i = 0, 0
    while start < len(wav):
        s.push(wav[start:start + sizes[i % len(sizes)]])
        start, i = start + sizes[i % len(sizes)], i + 1
    return s, s.finish()


def random_sizes(seed: int) -> list[int]:
    return np.random.default_rng(seed).integers(1, 3000, 50).tolist()


WAV = audio(20837, seed=1)  # 1.3 s: not a whole number of hops
SCHEDULES = {"1": [1], "160": [160], "1000": [1000], "16000": [16000], "whole": [len(WAV)],
             "random": random_sizes(0)}


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("name", CONFIGS)
def test_stream_equals_offline(name, schedule):
    rec = recognizer(name)
    ref, text = offline(rec, WAV)
    assert len(text) > 5  # the random model says something
    s, final = stream(rec, WAV, SCHEDULES[schedule])
    torch.testing.assert_close(s.log_probs, ref, atol=1e-4, rtol=1e-4)
    assert final == text == s.text
    assert s.ids.tolist() == ref.argmax(-1).tolist()


@pytest.mark.parametrize("samples", [1, 100, 319, 320, 321, 480, 700, 1500, 3000])
@pytest.mark.parametrize("name", ["gru", "gru-stride2x2", "lstm-even-kernel"])
def test_short_inputs(name, samples):
    """Shorter than one window (zero-padded to it, as offline), or than a receptive field."""
    rec = recognizer(name)
    wav = audio(samples, seed=2)
    ref, text = offline(rec, wav)
    for sizes in ([1], [7, 300], [samples]):
        s, final = stream(rec, wav, sizes)
        torch.testing.assert_close(s.log_probs, ref, atol=1e-4, rtol=1e-4)
        assert final == text


def test_transcribe_agrees_and_numpy_chunks():
    rec = recognizer("gru", seed=3)
    wav = audio(12345, seed=4).numpy().astype(np.float64)
    s = Stream(rec)
    for start in range(0, len(wav), 999):  # float64 numpy, (1, n) and (n, 1) shapes
        chunk = wav[start:start + 999]
        s.push(chunk[None] if start % 2 else chunk[:, None], sample_rate=RATE)
    assert s.finish() == rec.transcribe(wav, sample_rate=RATE)


def test_frames_come_out_as_soon_as_their_audio_has():
    """Frame u is emitted by the push that brings sample u * stride + latency - 1: the
    lookahead and the convolutions' future context, not a sample later."""
    rec = recognizer("gru")
    s = Stream(rec, keep_log_probs=True)
    wav, step = audio(9000, seed=5), rec.model.features.hop * 2  # time strides 2 x 1
    latency = round(s.latency_s * RATE)
    assert latency == 160 * (2 * 3 + 2 * 5 + 5) + 320  # lookahead 3, two kernels of 11, window
    returned, emitted_at = [], []
    for n, sample in enumerate(wav, 1):
        new = s.push(sample[None])
        returned.append(new)
        emitted_at += [n] * len(new)
    assert emitted_at == [u * step + latency for u in range(len(emitted_at))]
    assert len(emitted_at) > 10
    before = s.frames
    s.finish()
    assert s.frames > before
    torch.testing.assert_close(torch.cat(returned), s.log_probs[:before], atol=0, rtol=0)


def test_partial_text_grows_into_the_final_text():
    rec = recognizer("rnn-stride1")
    s = Stream(rec)
    wav, partial = audio(16000, seed=6), []
    for start in range(0, len(wav), 800):
        s.push(wav[start:start + 800])
        partial.append(s.text)
    final = s.finish()
    assert final == offline(rec, wav)[1]
    assert all(final.startswith(p) for p in partial)
    assert len(set(partial)) > 3


def test_memory_stays_bounded():
    """Buffers hold a receptive field, whatever the stream's length; log-probs are not kept
    unless asked for."""
    rec = recognizer("gru")
    s = Stream(rec)
    sizes = []
    for i in range(80):  # 20 s in chunks of 0.25 s
        s.push(audio(4000, seed=i))
        sizes.append(sum(w.buffer.numel() for w in [*s._windows, s._lookahead]))
    assert max(sizes[8:]) <= max(sizes[:8])
    # every frame whose audio has come (test above), 50 a second; the rest wait for finish
    assert s.frames == (20 * RATE - round(s.latency_s * RATE)) // 320 + 1
    with pytest.raises(ConfigError, match="keep_log_probs=True"):
        _ = s.log_probs


def test_models_that_cannot_stream():
    with pytest.raises(ConfigError, match="bidirectional"):
        Stream(SpeechRecognizer(DeepSpeech2(conv_channels=(4,), conv_kernels=((11, 5),),
                                            conv_strides=((2, 1),), rnn_hidden=8,
                                            rnn_layers=1, normalize=False),
                                CharTokenizer(CHARACTERS)))
    with pytest.raises(ConfigError, match="normalize=False"):
        Stream(SpeechRecognizer(DeepSpeech2(conv_channels=(4,), conv_kernels=((11, 5),),
                                            conv_strides=((2, 1),), rnn_hidden=8,
                                            rnn_layers=1, bidirectional=False),
                                CharTokenizer(CHARACTERS)))


@pytest.mark.parametrize("chunk, rate, match", [
    (np.zeros((2, 800), np.float32), None, "mono"),
    (np.zeros(800, np.int16), None, "int16"),
    (np.full(800, np.nan, np.float32), None, "NaN"),
    (np.zeros(800, np.float32), 8000, "resample"),
])
def test_bad_chunks(chunk, rate, match):
    s = Stream(recognizer("gru"))
    with pytest.raises(AudioError, match=match):
        s.push(chunk, sample_rate=rate)


def test_empty_chunks_and_streams_and_push_after_finish():
    rec = recognizer("gru")
    s = Stream(rec, keep_log_probs=True)
    assert s.push(np.zeros(0, np.float32)).shape == (0, 29)
    assert s.finish() == "" and s.frames == 0 and s.log_probs.shape == (0, 29)
    s = Stream(rec)
    s.push(WAV[:5000])
    text = s.finish()
    assert s.finish() == text
    with pytest.raises(AudioError, match="finished"):
        s.push(WAV[5000:])


def test_the_recognizer_streams_its_own_model():
    rec = recognizer("gru")
    s = rec.stream()
    assert isinstance(s, Stream) and s.model is rec.model
    for start in range(0, len(WAV), 4000):
        s.push(WAV[start:start + 4000])
    assert s.finish() == rec.transcribe(WAV, sample_rate=rec.sample_rate)
    with pytest.raises(ConfigError, match="bidirectional"):
        speechzoo.load("ds2-en").stream()
