"""The one checkpoint and bundle format, for every task.

A bundle is a folder ``<name>/`` holding ``model.ckpt``, ``config.yaml`` (the recipe that
trained it) and ``README.md`` (its model card). ``model.ckpt`` is a plain dict that loads
with ``torch.load(..., weights_only=True)``::

    {"speechzoo": {"format": 2, "task": "asr",
                   "networks": {"acoustic": {"class": "speechzoo.models.deepspeech2.DeepSpeech2",
                                             "args": {...}}},
                   "frontend": {"tokenizer": {...}, "sample_rate": 16000, "features": {...}},
                   "meta": {"steps": ..., "data": ..., "metrics": ...}},
     "state_dict": {"acoustic.<param>": fp16 tensor, ...}}

Each network is rebuilt from its class path and constructor arguments (only classes under
``speechzoo.models`` load) and keyed by its role: ``acoustic`` for a recogniser; ``student``
and ``teacher`` for Parallel WaveNet; one per stage for Deep Voice. Lightning training
checkpoints carry the same ``speechzoo`` header, and the tasks name their networks by role,
so both kinds read the same way. Format 1 (the first ``ds2-en``: ``model_class``,
``model_args``, ``alphabet``, weights under ``model.``) is read and converted on load.
"""

from __future__ import annotations

import importlib
import os
import pickle
import shutil
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from speechzoo.errors import CheckpointError
from speechzoo.files import atomic_path

FORMAT = 2
CHECKPOINT = "model.ckpt"
MODELS_ENV = "SPEECHZOO_MODELS"
_LOADABLE = ("speechzoo.models.", "speechzoo.features.")


def network_spec(model: nn.Module) -> dict[str, Any]:
    """How a bundle names a network: its class path and constructor arguments
    (``model.config``, which every speechzoo model records)."""
    cls = type(model)
    return {"class": f"{cls.__module__}.{cls.__qualname__}", "args": dict(model.config)}


def build_network(spec: dict[str, Any]) -> nn.Module:
    """Instantiate a :func:`network_spec`: a model under ``speechzoo.models`` or a front end
    of ``speechzoo.features``, nothing else."""
    path = spec.get("class", "")
    if not isinstance(path, str) or not path.startswith(_LOADABLE):
        raise CheckpointError(f"checkpoint names model class {path!r}, which is not a speechzoo "
                              "model; only classes under speechzoo.models are loaded")
    module_name, _, name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError):
        raise CheckpointError(f"model class {path!r} does not exist in this version of "
                              "speechzoo; upgrade speechzoo or retrain") from None
    return cls(**spec.get("args", {}))


@dataclass
class Bundle:
    """A checkpoint in memory: what it is for, how to rebuild its networks, their weights.

    Attributes:
        task: what the bundle does (``"asr"``, ``"tts"``, ``"vocoder"``, ...).
        networks: role -> :func:`network_spec`.
        frontend: the tokenizer (``to_dict()``), sample rate and feature settings.
        meta: free metadata: steps, data, metrics, averaged checkpoints.
        state_dict: ``"<role>.<param>"`` -> tensor.
        source: where it was read from, for messages.
    """

    task: str
    networks: dict[str, dict[str, Any]]
    frontend: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    state_dict: dict[str, torch.Tensor] = field(default_factory=dict)
    source: str = "bundle"

    def header(self) -> dict[str, Any]:
        return {"format": FORMAT, "task": self.task, "networks": self.networks,
                "frontend": self.frontend, "meta": self.meta}

    def state(self, role: str) -> dict[str, torch.Tensor]:
        """One network's weights, in fp32."""
        prefix = f"{role}."
        return {k.removeprefix(prefix): v.float() if v.is_floating_point() else v
                for k, v in self.state_dict.items() if k.startswith(prefix)}

    def spec(self, role: str) -> dict[str, Any]:
        """The :func:`network_spec` of ``role``."""
        if role not in self.networks:
            raise CheckpointError(f"{self.source} has no {role!r} network (it has "
                                  f"{sorted(self.networks)})")
        return self.networks[role]

    def load_into(self, model: nn.Module, role: str, skip: Sequence[str] = ()) -> nn.Module:
        """Copy the weights of ``role`` into ``model`` (the same architecture).

        ``skip``: parameter-name prefixes (e.g. ``["fc."]``) that keep ``model``'s own values,
        for a model that shares all but those layers (another language's output layer)."""
        self.spec(role)
        state = self.state(role)
        if skip:
            state = {**{k: v for k, v in state.items() if not k.startswith(tuple(skip))},
                     **{k: v for k, v in model.state_dict().items() if k.startswith(tuple(skip))}}
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            raise CheckpointError(f"the weights of {self.source} do not fit "
                                  f"{type(model).__name__} as configured: {e}") from None
        return model

    def build(self, role: str) -> nn.Module:
        """The network of ``role``, rebuilt, with its weights, in eval mode."""
        return self.load_into(build_network(self.spec(role)), role).eval()


def _from_format_1(ckpt: dict[str, Any]) -> dict[str, Any]:
    """The first ds2-en layout, as format 2 (weights under ``model.`` -> ``acoustic.``)."""
    old = ckpt["speechzoo"]
    args = dict(old["model_args"])
    header = {"format": FORMAT, "task": old.get("task", "asr"),
              "networks": {"acoustic": {"class": old["model_class"], "args": args}},
              "frontend": {"tokenizer": {"kind": "chars", "alphabet": old["alphabet"]},
                           "sample_rate": args.get("sample_rate", 16000)},
              "meta": {"averaged_steps": ckpt["averaged_steps"]}
              if ckpt.get("averaged_steps") else {}}
    state = {f"acoustic.{k.removeprefix('model.')}": v for k, v in ckpt["state_dict"].items()
             if k.startswith("model.")}
    return dict(ckpt, speechzoo=header, state_dict=state)


def upgrade(ckpt: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint dict of any known format, in the current one (others unchanged)."""
    head = ckpt.get("speechzoo")
    if isinstance(head, dict) and "format" not in head and {"model_class", "model_args",
                                                            "alphabet"} <= head.keys():
        return _from_format_1(ckpt)
    return ckpt


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint file safely (``weights_only=True``), upgraded to the current format.

    Raises:
        CheckpointError: the file is missing, truncated, not a checkpoint, or not speechzoo's.
    """
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, OSError,
            ValueError) as e:
        raise CheckpointError(f"cannot read checkpoint {path}: it is truncated, corrupt or not "
                              f"a PyTorch checkpoint ({type(e).__name__}); copy or export it "
                              "again") from None
    ckpt = upgrade(ckpt) if isinstance(ckpt, dict) else ckpt
    head = ckpt.get("speechzoo") if isinstance(ckpt, dict) else None
    if not isinstance(head, dict) or not head.get("networks") or "state_dict" not in ckpt:
        raise CheckpointError(f"{path} is not a speechzoo checkpoint (no networks or "
                              "weights); train one with `speechzoo train RECIPE`")
    if head.get("format", FORMAT) > FORMAT:
        raise CheckpointError(f"{path} has bundle format {head['format']}, newer than this "
                              f"speechzoo reads ({FORMAT}); upgrade speechzoo")
    return ckpt


def read_bundle(name_or_path: str | os.PathLike) -> Bundle:
    """A bundle name, bundle folder, bundle file or Lightning training checkpoint."""
    path = find_bundle(name_or_path)
    ckpt = read_checkpoint(path)
    head = ckpt["speechzoo"]
    meta = dict(head.get("meta", {}))
    if "global_step" in ckpt:  # a Lightning training checkpoint
        meta.update(steps=ckpt["global_step"], epoch=ckpt.get("epoch"))
    return Bundle(head["task"], head["networks"], head.get("frontend", {}), meta,
                  ckpt["state_dict"], str(path))


def write_bundle(bundle: Bundle, out: str | os.PathLike,
                 recipe: str | os.PathLike | None = None) -> Path:
    """Write ``out/model.ckpt`` (fp16 weights, no optimiser state) and, if given, the recipe
    as ``out/config.yaml``; each file appears whole or not at all.

    Every network is rebuilt from the bundle first, so weights that do not fit fail here
    rather than at load time.
    """
    for role in bundle.networks:
        bundle.build(role)
    # only the bundle's own networks: a training checkpoint also holds what the task used
    # frozen (a distillation teacher, a perceptual feature network)
    state = {k: v.half() if v.is_floating_point() else v for k, v in bundle.state_dict.items()
             if k.split(".", 1)[0] in bundle.networks}
    out = Path(out)
    target = out / CHECKPOINT
    with atomic_path(target) as tmp:
        torch.save({"speechzoo": bundle.header(), "state_dict": state}, tmp)
    if recipe is not None and Path(recipe).resolve() != (out / "config.yaml").resolve():
        with atomic_path(out / "config.yaml") as tmp:
            shutil.copyfile(recipe, tmp)
    return target


def average_bundles(bundles: Sequence[Bundle]) -> Bundle:
    """The mean of several checkpoints' weights, as one bundle (the last one's metadata).

    Averaging the last few checkpoints of a run smooths out the noise of the final steps and
    often lowers the error a little at no cost (ESPnet and NeMo do it after training; for
    ds2-en, whose dev WER had levelled off, it did not help). BatchNorm running statistics
    are averaged like weights; integer buffers (step counters) come from the last one.
    """
    if not bundles:
        raise CheckpointError("averaging needs at least one checkpoint")
    last = bundles[-1]
    for b in bundles:
        if (b.task, b.networks, b.frontend) != (last.task, last.networks, last.frontend) \
                or b.state_dict.keys() != last.state_dict.keys():
            raise CheckpointError(f"cannot average {b.source} with {last.source}: they hold "
                                  "different models (class, constructor arguments or front "
                                  "end differ)")
    state = {k: torch.stack([b.state_dict[k].float() for b in bundles]).mean(0)
             if v.is_floating_point() else v for k, v in last.state_dict.items()}
    meta = dict(last.meta, averaged_steps=[b.meta.get("steps") for b in bundles])
    return Bundle(last.task, last.networks, last.frontend, meta, state, last.source)


def search_path() -> list[Path]:
    """Folders searched for bundles by name: ``$SPEECHZOO_MODELS`` (``os.pathsep``-separated)
    first, then the bundles installed with the package (``speechzoo/pretrained``, which in a
    checkout is a link to the repository's ``pretrained/``)."""
    env = [Path(p) for p in os.environ.get(MODELS_ENV, "").split(os.pathsep) if p]
    return [*env, Path(__file__).resolve().parent / "pretrained"]


def bundle_names() -> dict[str, Path]:
    """Bundle name -> its ``model.ckpt``, the first found along :func:`search_path`."""
    found: dict[str, Path] = {}
    for root in search_path():
        if root.is_dir():
            for p in sorted(root.iterdir()):
                if p.name not in found and (p / CHECKPOINT).is_file():
                    found[p.name] = p / CHECKPOINT
    return found


def find_bundle(name_or_path: str | os.PathLike) -> Path:
    """The checkpoint file for a bundle name, a bundle folder or a checkpoint path."""
    path = Path(name_or_path)
    if path.is_dir():
        if not (path / CHECKPOINT).is_file():
            raise CheckpointError(f"{path} is a folder without {CHECKPOINT}: not a bundle")
        return path / CHECKPOINT
    if path.is_file():
        return path
    names = bundle_names()
    if str(name_or_path) in names:
        return names[str(name_or_path)]
    raise CheckpointError(f"no model {str(name_or_path)!r}: not a bundle name (available: "
                          f"{sorted(names)}; ${MODELS_ENV} adds folders of bundles) nor a "
                          "checkpoint file or folder")


def bundle_tasks() -> dict[str, str]:
    """Bundle name -> its task, for every bundle along :func:`search_path`."""
    tasks = {}
    for name, path in bundle_names().items():
        try:
            tasks[name] = read_checkpoint(path)["speechzoo"]["task"]
        except CheckpointError:
            continue  # a damaged bundle is not offered; loading it by name says why
    return tasks
