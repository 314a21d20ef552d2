"""Named bundles and checkpoints -> ready-to-use models (what ``speechzoo.load`` returns).

A bundle is a folder ``pretrained/<name>/`` holding ``model.ckpt`` (fp16 weights and the
model's constructor arguments), ``config.yaml`` (the recipe that trained it) and
``README.md`` (its model card). Training checkpoints of the tasks load the same way.
"""

from __future__ import annotations

import os
import pickle
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from speechzoo.audio import as_mono, load_audio, resample
from speechzoo.decoding import greedy_transcripts
from speechzoo.errors import AudioError, CheckpointError
from speechzoo.files import atomic_path
from speechzoo.models import build_model
from speechzoo.text.tokenizer import CharTokenizer

CHECKPOINT = "model.ckpt"


def pretrained_dir() -> Path:
    """``$SPEECHZOO_PRETRAINED`` or the repository's ``pretrained/`` folder."""
    env = os.environ.get("SPEECHZOO_PRETRAINED")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "pretrained"


def available_models() -> list[str]:
    """Names of the bundles in ``pretrained/``."""
    root = pretrained_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / CHECKPOINT).is_file())


def _resolve(name_or_path: str | os.PathLike) -> Path:
    path = Path(name_or_path)
    if path.is_dir():
        path = path / CHECKPOINT
    elif not path.exists() and (pretrained_dir() / str(name_or_path) / CHECKPOINT).is_file():
        path = pretrained_dir() / str(name_or_path) / CHECKPOINT
    if not path.is_file():
        raise CheckpointError(f"no model {str(name_or_path)!r}: not a bundle name (available: "
                              f"{available_models()}) nor a checkpoint file or folder")
    return path


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``) with clear errors."""
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, OSError) as e:
        raise CheckpointError(f"cannot read checkpoint {path}: it is truncated, corrupt or not "
                              f"a PyTorch checkpoint ({type(e).__name__}); copy or export it "
                              "again") from None
    meta = ckpt.get("speechzoo", {}) if isinstance(ckpt, dict) else {}
    if "model_class" not in meta or "state_dict" not in ckpt:
        raise CheckpointError(f"{path} is not a speechzoo checkpoint (no model class or "
                              "weights); train one with `speechzoo train RECIPE`")
    return ckpt


def _load_state(model: torch.nn.Module, ckpt: dict[str, Any], source: str) -> None:
    state = {k.removeprefix("model."): v.float() if v.is_floating_point() else v
             for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(f"the weights of {source} do not fit {type(model).__name__} as "
                              f"configured: {e}") from None


def _build(ckpt: dict[str, Any], source: str) -> torch.nn.Module:
    meta = ckpt["speechzoo"]
    model = build_model(meta["model_class"], meta["model_args"])
    _load_state(model, ckpt, source)
    return model.eval()


def load_weights(model: torch.nn.Module, name_or_path: str | os.PathLike) -> None:
    """Copy the weights of a bundle or checkpoint into ``model`` (same architecture)."""
    path = _resolve(name_or_path)
    _load_state(model, read_checkpoint(path), str(path))


class SpeechRecognizer:
    """Speech to text with a CTC acoustic model and greedy decoding.

    Args:
        model: maps (waveforms, lengths) to (log-probs, frame lengths); has ``sample_rate``.
        tokenizer: the output alphabet.
    """

    def __init__(self, model: torch.nn.Module, tokenizer: CharTokenizer) -> None:
        self.model, self.tokenizer = model.eval(), tokenizer
        self.sample_rate: int = model.sample_rate

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
        log_probs, frames = self.model(padded, lengths)
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


def load(name_or_path: str | os.PathLike = "ds2-en") -> SpeechRecognizer:
    """A bundle name from :func:`available_models`, a bundle folder, or a checkpoint file."""
    path = _resolve(name_or_path)
    ckpt = read_checkpoint(path)
    return SpeechRecognizer(_build(ckpt, str(path)), CharTokenizer(ckpt["speechzoo"]["alphabet"]))


def average_checkpoints(paths: Sequence[str | os.PathLike]) -> dict[str, Any]:
    """The mean of several checkpoints' weights, as one checkpoint (the last one's metadata).

    Averaging the last few checkpoints of a run smooths out the noise of the final steps and
    often lowers the error a little at no cost (ESPnet and NeMo do it after training; for
    ds2-en, whose dev WER had levelled off, it did not help).
    BatchNorm running statistics are averaged like weights; integer buffers (step counters)
    come from the last checkpoint.
    """
    ckpts = [read_checkpoint(p) for p in paths]
    last = ckpts[-1]
    for path, ckpt in zip(paths, ckpts, strict=True):
        if ckpt["speechzoo"] != last["speechzoo"] or ckpt["state_dict"].keys() != \
                last["state_dict"].keys():
            raise CheckpointError(f"cannot average {path} with {paths[-1]}: they hold different "
                                  "models (class, constructor arguments or alphabet differ)")
    state = {k: torch.stack([c["state_dict"][k].float() for c in ckpts]).mean(0)
             if v.is_floating_point() else v for k, v in last["state_dict"].items()}
    return dict(last, state_dict=state, averaged_steps=[c.get("global_step") for c in ckpts])


def export(checkpoint: str | os.PathLike | Sequence[str | os.PathLike], out: str | os.PathLike,
           recipe: str | os.PathLike | None = None) -> Path:
    """Write a bundle: ``out/model.ckpt`` with fp16 weights and no optimiser state.

    Args:
        checkpoint: a training checkpoint, or several of one model to average
            (:func:`average_checkpoints`).
        out: the bundle folder.
        recipe: copied to ``out/config.yaml`` if given.
    """
    paths = [checkpoint] if isinstance(checkpoint, (str, os.PathLike)) else list(checkpoint)
    if not paths:
        raise CheckpointError("export needs at least one checkpoint")
    ckpt = average_checkpoints(paths) if len(paths) > 1 else read_checkpoint(paths[0])
    _build(ckpt, str(paths[-1]))  # fail here, not at load time, if the weights do not fit
    slim = {"speechzoo": ckpt["speechzoo"], "hyper_parameters": ckpt.get("hyper_parameters", {}),
            "state_dict": {k: v.half() if v.is_floating_point() else v
                           for k, v in ckpt["state_dict"].items()},
            "global_step": ckpt.get("global_step"), "epoch": ckpt.get("epoch"),
            "averaged_steps": ckpt.get("averaged_steps")}
    out = Path(out)
    with atomic_path(out / CHECKPOINT) as tmp:
        torch.save(slim, tmp)
    if recipe is not None:
        shutil.copyfile(recipe, out / "config.yaml")
    return out / CHECKPOINT
