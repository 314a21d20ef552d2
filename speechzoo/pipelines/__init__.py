"""Bundles -> ready-to-use objects: what :func:`speechzoo.load` returns, chosen by the
bundle's task from a registry (one module per task; nothing here imports Lightning)."""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from speechzoo.checkpoints import (
    average_bundles,
    bundle_tasks,
    read_bundle,
    write_bundle,
)
from speechzoo.errors import CheckpointError, ConfigError

# task -> "module:class" whose ``from_bundle(bundle, device)`` builds the user object (with
# ``sparse=True`` too, if it takes it); imported only when a bundle of that task loads.
PIPELINES = {"asr": "speechzoo.pipelines.asr:SpeechRecognizer",
             "tts": "speechzoo.pipelines.tts:Synthesizer",
             "vocoder": "speechzoo.pipelines.vocoder:NeuralVocoder",
             "piano": "speechzoo.pipelines.piano:PianoTranscriber",
             "g2p": "speechzoo.pipelines.g2p:Phonemizer",
             "prosody": "speechzoo.pipelines.prosody:ProsodyPredictor",
             "segmentation": "speechzoo.pipelines.segmentation:Segmenter",
             "deepvoice": "speechzoo.pipelines.deepvoice:DeepVoice"}


def available_models() -> dict[str, str]:
    """Bundle name -> task, for the bundles shipped with speechzoo and in
    ``$SPEECHZOO_MODELS`` (e.g. ``{"ds2-en": "asr"}``)."""
    return bundle_tasks()


def _device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise CheckpointError(f"unknown device {device!r}; use 'cpu', 'cuda' or 'cuda:N'") \
            from None


def _networks(obj: Any, depth: int = 2) -> list[torch.nn.Module]:
    """The networks a pipeline holds, and those of the pipelines it holds (Deep Voice's stages,
    a synthesiser's vocoder)."""
    if isinstance(obj, torch.nn.Module):
        return [obj]
    if depth == 0 or not hasattr(obj, "__dict__"):
        return []
    return [m for v in vars(obj).values() for m in _networks(v, depth - 1)]


def load(name_or_path: str | os.PathLike = "ds2-en", device: str | torch.device | None = None,
         sparse: bool = False, vocoder: str | None = None, kernel: str | None = None) -> Any:
    """A bundle name from :func:`available_models`, a bundle folder, or a checkpoint file ->
    the object its task calls for (``SpeechRecognizer`` for ``asr``, ``Synthesizer`` for
    ``tts``, ``NeuralVocoder`` for ``vocoder``, ``PianoTranscriber`` for ``piano``,
    ``Phonemizer`` for ``g2p``, ``ProsodyPredictor`` for ``prosody``,
    ``Segmenter`` for ``segmentation``, ``DeepVoice`` for ``deepvoice``).

    Args:
        name_or_path: what to load.
        device: where the networks run (default: CUDA when available, else the CPU).
        sparse: run the large matrices of a pruned model through sparse kernels
            (``speechzoo.layers.sparse.sparsify``; meant for the CPU).
        vocoder: a synthesiser's vocoder (``"griffin-lim"`` or a vocoder bundle such as
            ``"parallel-wavenet-en"``; default: the bundle's choice).
        kernel: the inference kernels of WaveNet generation and Deep Speech 2's recurrences
            (``speechzoo.kernels``: ``"auto"``, the default, ``"triton"``, ``"cpu"``,
            ``"reference"``); a model with neither ignores it.
    """
    bundle = read_bundle(name_or_path)
    target = PIPELINES.get(bundle.task)
    if target is None:
        raise CheckpointError(f"{bundle.source} is a {bundle.task!r} bundle, which this version "
                              f"of speechzoo cannot run (it runs {sorted(PIPELINES)}); upgrade "
                              "speechzoo")
    module, _, cls = target.partition(":")
    pipeline = getattr(importlib.import_module(module), cls)
    options = {k: v for k, v in (("sparse", sparse), ("vocoder", vocoder)) if v}
    accepted = inspect.signature(pipeline.from_bundle).parameters
    for key, value in options.items():
        if key not in accepted:
            what = "run sparse yet" if key == "sparse" else f"take a {key}"
            raise ConfigError(f"{key}={value!r}: {bundle.task!r} models cannot {what}; load "
                              f"{bundle.source} without it")
    loaded = pipeline.from_bundle(bundle, _device(device), **options)
    if kernel is not None:
        from speechzoo.kernels import use

        for network in _networks(loaded):
            use(network, kernel)
    return loaded


def export(checkpoint: str | os.PathLike | Sequence[str | os.PathLike], out: str | os.PathLike,
           recipe: str | os.PathLike | None = None) -> Path:
    """Write a bundle: ``out/model.ckpt`` with fp16 weights and no optimiser state.

    Args:
        checkpoint: a training checkpoint or bundle, or several of one model to average
            (:func:`speechzoo.checkpoints.average_bundles`).
        out: the bundle folder.
        recipe: copied to ``out/config.yaml`` if given.
    """
    paths = [checkpoint] if isinstance(checkpoint, (str, os.PathLike)) else list(checkpoint)
    if not paths:
        raise CheckpointError("export needs at least one checkpoint")
    bundles = [read_bundle(p) for p in paths]
    return write_bundle(average_bundles(bundles) if len(bundles) > 1 else bundles[0], out, recipe)
