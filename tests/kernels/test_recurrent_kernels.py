"""The recurrence kernels against ``_RecurrentLayer._step`` frame by frame: the compiled CPU
loop and the Triton kernel (interpreter, subprocess) within 1e-5 of it from a carried state,
both directions, odd sizes; LSTM layers take the reference; and a Deep Speech 2 model gives
the same log-probabilities through the kernel as through its fused recurrence."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from speechzoo.errors import ConfigError
from speechzoo.kernels import recurrent
from speechzoo.models.deepspeech2 import DeepSpeech2, _RecurrentLayer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _case(cell: str, dirs: int, batch: int):
    torch.manual_seed(0)
    layer = _RecurrentLayer(5, 13, cell, dirs == 2).eval()
    gates = layer.recurrent.shape[-1]
    pre = torch.randn(dirs, 7, batch, gates)
    state = (torch.randn(dirs, batch, 13) * 0.5, torch.randn(dirs, batch, 13) * 0.5)
    return layer, pre, state


@pytest.mark.parametrize("cell", ["rnn", "gru"])
@pytest.mark.parametrize("dirs,batch", [(1, 1), (2, 3)])
def test_cpu_kernel_equals_the_reference_step(cell, dirs, batch):
    layer, pre, state = _case(cell, dirs, batch)
    ref, (h_ref, _) = recurrent.run(layer, pre, state, "reference")
    got, (h, _) = recurrent.run(layer, pre, state, "cpu")
    assert got.shape == ref.shape == (dirs, 7, batch, 13)
    assert (got - ref).abs().max() < 1e-5 and (h - h_ref).abs().max() < 1e-5
    assert torch.equal(h, got[:, -1])


_TRITON_CHECK = """
from tests.kernels.test_recurrent_kernels import _case
from speechzoo.kernels import recurrent
for cell in ("rnn", "gru"):
    layer, pre, state = _case(cell, 2, 3)
    ref, (h_ref, _) = recurrent.run(layer, pre, state, "reference")
    got, (h, _) = recurrent.run(layer, pre, state, "triton")
    err = float((got - ref).abs().max())
    assert got.shape == ref.shape and err < 1e-5 and float((h - h_ref).abs().max()) < 1e-5
    print(cell, err)
"""


def test_triton_kernel_equals_the_reference_step_in_the_interpreter():
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(_TRITON_CHECK)],
                         env={**os.environ, "TRITON_INTERPRET": "1"}, capture_output=True,
                         text=True, timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("\n") == 2


def test_lstm_layers_take_the_reference(caplog):
    layer, pre, state = _case("lstm", 1, 2)
    with caplog.at_level(logging.INFO, logger="speechzoo.kernels"):
        out, (h, c) = recurrent.run(layer, pre, state, "auto")
    assert "no kernel runs a lstm cell" in caplog.text and out.shape == (1, 7, 2, 13)
    with pytest.raises(ConfigError, match="no kernel runs a lstm cell"):
        recurrent.run(layer, pre, state, "cpu")


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_deep_speech_2_infers_the_same_through_the_kernel(cell):
    torch.manual_seed(0)
    model = DeepSpeech2(num_classes=29, rnn_type=cell, rnn_hidden=24, rnn_layers=2,
                        conv_channels=(8, 8)).eval()
    audio, lengths = torch.randn(2, 8000) * 0.1, torch.tensor([8000, 5000])
    with torch.no_grad():
        fast, frames = model(audio, lengths)
        for layer in model.rnns:
            layer.kernel = "reference"
        ref, ref_frames = model(audio, lengths)
    assert torch.equal(frames, ref_frames)
    for i, n in enumerate(frames.tolist()):
        assert (fast[i, :n] - ref[i, :n]).abs().max() < 1e-4


def test_load_sets_the_kernel_of_every_network():
    from pathlib import Path

    import speechzoo

    clip = str(sorted((Path(ROOT) / "tests" / "data" / "heldout").glob("*.flac"))[0])
    ref = speechzoo.load("ds2-en", device="cpu", kernel="reference")
    fast = speechzoo.load("ds2-en", device="cpu", kernel="cpu")
    assert {layer.kernel for layer in fast.model.rnns} == {"cpu"}
    said = ref.transcribe(clip)
    assert said and fast.transcribe(clip) == said
    tts = speechzoo.load("nat-en", device="cpu", vocoder="wavenet-en", kernel="reference")
    assert tts.vocoder.model.kernel == "reference"
    with pytest.raises(ConfigError, match="kernel must be one of"):
        speechzoo.load("ds2-en", device="cpu", kernel="fastest")
