"""The WaveNet generation kernels against the reference step (``StackState.step``): the
compiled CPU loop and the Triton kernel (under ``TRITON_INTERPRET=1``, in a subprocess, as the
interpreter must be chosen before Triton compiles anything) give the same samples from the same
noise: exactly for mu-law levels, within 1e-5 for the mixture of logistics (float rounding
fed back through the samples); and the switch picks, falls back and refuses as documented."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from speechzoo.errors import ConfigError
from speechzoo.kernels import kernel_path
from speechzoo.layers import wavenet as layers
from speechzoo.models.wavenet import WaveNet

TOLERANCE = {"mulaw": 0.0, "mol": 1e-5}


def _odd_model(output: str, kernel_size: int) -> WaveNet:
    """Channel counts that are no power of two and no multiple of a SIMD width."""
    torch.manual_seed(0)
    return WaveNet(n_mels=8, hop_length=4, upsample_scales=(2, 2), layers=4, stacks=2,
                   residual_channels=6, gate_channels=10, skip_channels=12,
                   kernel_size=kernel_size, cond_channels=5, output=output, mixtures=3,
                   classes=16).eval()


@pytest.mark.parametrize("output", ["mulaw", "mol"])
@pytest.mark.parametrize("kernel_size", [2, 3])
@pytest.mark.parametrize("batch", [1, 3])
def test_cpu_kernel_draws_the_reference_samples(output, kernel_size, batch):
    model = _odd_model(output, kernel_size)
    mel = torch.randn(batch, 8, 11)
    ref = model.generate(mel, torch.Generator().manual_seed(1), kernel="reference")
    fast = model.generate(mel, torch.Generator().manual_seed(1), kernel="cpu")
    assert fast.shape == ref.shape == (batch, 44)
    assert (fast - ref).abs().max() <= TOLERANCE[output]
    assert fast.abs().max() <= 1 and fast.std() > 0


def test_cpu_kernel_carries_its_state_across_conditioning_chunks(monkeypatch):
    monkeypatch.setattr(layers, "_CHUNK", 16)  # 44 samples: two chunk boundaries inside
    model = _odd_model("mulaw", 2)
    mel = torch.randn(2, 8, 11)
    ref = model.generate(mel, torch.Generator().manual_seed(2), kernel="reference")
    assert torch.equal(model.generate(mel, torch.Generator().manual_seed(2), kernel="cpu"), ref)
    naive = model.generate(mel, torch.Generator().manual_seed(2), naive=True)
    assert torch.equal(naive, ref)


def test_cpu_kernel_gets_row_major_weights():
    # a transposed view reached the compiled products once and made them stride across memory
    # (3x slower); every array the kernel takes must be C-contiguous
    state = _odd_model("mol", 3).stack.state(1, torch.randn(1, 5, 20))
    assert all(a.flags["C_CONTIGUOUS"] for a in state.packed())


_TRITON_CHECK = """
import torch
from tests.kernels.test_wavenet_kernels import TOLERANCE, _odd_model
for output, k in (("mulaw", 3), ("mol", 2)):
    model = _odd_model(output, k)
    mel = torch.randn(2, 8, 3)
    ref = model.generate(mel, torch.Generator().manual_seed(3), kernel="reference")
    got = model.generate(mel, torch.Generator().manual_seed(3), kernel="triton")
    err = float((got - ref).abs().max())
    assert got.shape == ref.shape and err <= TOLERANCE[output], (output, err)
    print(output, k, err)
"""


def test_triton_kernel_draws_the_reference_samples_in_the_interpreter():
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(_TRITON_CHECK)], env=env,
                         capture_output=True, text=True, timeout=600,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("\n") == 2


def test_switch_picks_falls_back_and_refuses(monkeypatch, caplog):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    assert kernel_path("auto", "cpu") == "cpu"
    assert kernel_path("reference", "cpu") == "reference"
    with pytest.raises(ConfigError, match="not a CUDA GPU"):
        kernel_path("triton", "cpu")
    with pytest.raises(ConfigError, match="kernel must be one of"):
        kernel_path("fastest", "cpu")
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "numba" else real(name, *a))
    with caplog.at_level(logging.WARNING, logger="speechzoo.kernels"):
        assert kernel_path("auto", "cpu") == "reference"
    assert "numba is not installed" in caplog.text
    with pytest.raises(ConfigError, match="pip install numba"):
        kernel_path("cpu", "cpu")
    model = _odd_model("mulaw", 2)
    with pytest.raises(ConfigError, match="cannot run WaveNet generation here"):
        model.generate(torch.randn(1, 8, 2), kernel="cpu")
