"""Recipes: YAML files whose keys are constructor arguments, run through LightningCLI.

A recipe has LightningCLI's sections: ``trainer``, ``model`` (the task, with the network
injected as its ``model``), ``data`` and ``seed_everything``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import torch
from jsonargparse import ArgumentError
from lightning.pytorch.callbacks import ProgressBar
from lightning.pytorch.cli import LightningCLI

from speechzoo.errors import CheckpointError, ConfigError, SpeechZooError
from speechzoo.tasks.callbacks import ResumableCheckpoint, ResumableProgressBar
from speechzoo.tasks.recipe_errors import explain_argument_error

SUBCOMMANDS = ("fit", "validate", "test")
# --ckpt_path values that Lightning resolves itself rather than reading a file
_CKPT_NAMES = ("last", "best", "hpc")


def _flatten(tree: object, prefix: str = "") -> dict[str, object]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    return {k: v for key, value in tree.items()
            for k, v in _flatten(value, f"{prefix}.{key}").items()}


# --- checkpoints given as --ckpt_path -------------------------------------------------------

def _is_lightning_checkpoint(path: Path, given: str) -> bool:
    """True for a Lightning training checkpoint, False for a bundle (weights only)."""
    zipped = zipfile.is_zipfile(path)  # what torch.save writes
    try:
        # mmap: the probe reads the header, not gigabytes of optimiser state
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=zipped)
    except Exception as e:  # torch raises pickle, zip, EOF and runtime errors alike
        why = (f"{type(e).__name__}: {str(e).splitlines()[0][:120]}" if zipped else
               "not a file torch.save wrote")
        raise CheckpointError(f"--ckpt_path {given}: {path} is not a checkpoint ({why}); give "
                              "a training checkpoint such as runs/ds2/checkpoints/last.ckpt") \
            from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"--ckpt_path {given}: {path} holds a {type(ckpt).__name__}, not a "
                              "checkpoint; give a training checkpoint or a bundle's model.ckpt")
    # Bundles (any format) carry no Lightning keys: rely on that alone.
    return "pytorch-lightning_version" in ckpt


def _weights_instead(config: Any, subcommand: str, given: str, path: Path) -> None:
    """Run validate/test with a bundle's weights, which is all a bundle has."""
    init_args = config["model"].get("init_args")
    if subcommand == "fit":
        raise CheckpointError(f"--ckpt_path {given} is a bundle (weights only: no optimiser, "
                              "schedule or data position), so training cannot resume from it; "
                              f"to train from its weights, use --model.init_args.init_weights "
                              f"{given} instead of --ckpt_path")
    if init_args is None or "init_weights" not in init_args:
        raise CheckpointError(f"--ckpt_path {given} is a bundle, and this recipe's task takes no "
                              "init_weights to load it into; give a training checkpoint")
    init_args["init_weights"] = str(path)
    config["ckpt_path"] = None


def _check_ckpt_path(config: Any, subcommand: str) -> None:
    given = config.get("ckpt_path")
    if given is None or str(given) in _CKPT_NAMES or str(given).startswith("registry"):
        return
    path = Path(given)
    if path.is_dir() and (path / "model.ckpt").is_file():
        path = path / "model.ckpt"  # a bundle folder
    if not path.is_file():
        raise CheckpointError(f"--ckpt_path {given}: no such file; give a checkpoint file (e.g. "
                              "runs/ds2/checkpoints/last.ckpt), or `last` for the newest of the "
                              "recipe's checkpoint folder")
    if not _is_lightning_checkpoint(path, str(given)):
        _weights_instead(config, subcommand, str(given), path)


def _check_last_exists(trainer: L.Trainer, subcommand: str) -> None:
    # Lightning warns and starts from scratch (or evaluates untrained weights) instead.
    callbacks = [cb for cb in trainer.checkpoint_callbacks if hasattr(cb, "_find_last_checkpoints")]
    if any(cb._find_last_checkpoints(trainer) for cb in callbacks):
        return
    folders = sorted({str(cb.dirpath) for cb in callbacks if getattr(cb, "dirpath", None)})
    where = (f"in {', '.join(folders)}" if folders else
             "(the run has no ModelCheckpoint with a dirpath to look in)")
    fresh = ("to start a fresh run, leave out --ckpt_path" if subcommand == "fit" else
             "give a checkpoint file as --ckpt_path")
    raise ConfigError(f"--ckpt_path last: no last checkpoint (last*.ckpt) {where}; {fresh}")


class _CLI(LightningCLI):
    def __init__(self, *args: Any, recipe: Path, overrides: list[str], **kwargs: Any) -> None:
        self._recipe, self._overrides = recipe, overrides
        super().__init__(*args, **kwargs)

    def parse_arguments(self, parser: Any, args: Any) -> None:
        try:
            super().parse_arguments(parser, args)
        except ArgumentError as e:
            sub = args[0] if args and args[0] in SUBCOMMANDS else None
            inner = getattr(self, "_subcommand_parsers", {}).get(sub, parser)
            dests = [a.dest for a in inner._actions if a.dest not in ("help", "config")]
            raise ConfigError(explain_argument_error(e, self._recipe, self._overrides, sub,
                                                     dests)) from None

    def _parse_ckpt_path(self) -> None:
        sub = self.config.get("subcommand")
        if sub:
            _check_ckpt_path(self.config[sub], sub)
        # Lightning applies a resumed checkpoint's hyperparameters over the recipe and the
        # command line, so `--ckpt_path X --model.init_args.lr Y` silently keeps X's lr.
        before = _flatten(self.config[sub]["model"].as_dict()) if sub else {}
        super()._parse_ckpt_path()
        if sub:
            after = _flatten(self.config[sub]["model"].as_dict())
            changed = sorted(f"model{k}" for k in before.keys() & after.keys()
                             if before[k] != after[k])
            if changed:
                warnings.warn(f"resuming from {self.config[sub]['ckpt_path']} restores its model "
                              f"settings, overriding {', '.join(changed)} of the recipe "
                              "or command line; to train on with other settings, start a new "
                              "run from its weights: --model.init_args.init_weights CKPT",
                              stacklevel=2)

    def instantiate_classes(self) -> None:
        # jsonargparse re-raises a constructor's error as a bare ValueError: recover ours.
        try:
            super().instantiate_classes()
        except ValueError as e:
            cause: BaseException | None = e
            while cause is not None and not isinstance(cause, SpeechZooError):
                cause = cause.__cause__ or cause.__context__
            if cause is not None:
                raise cause from None
            raise ConfigError(" ".join(str(e).split())) from None

    def _instantiate_trainer(self, config: dict[str, Any], callbacks: list) -> L.Trainer:
        if self.subcommand == "fit":
            listed = config.get("callbacks") or []
            listed = [*(listed if isinstance(listed, list) else [listed]), *callbacks]
            # Every training run gets these, whatever its recipe or --trainer.callbacks list.
            if not any(isinstance(c, ResumableCheckpoint) for c in listed):
                callbacks = [*callbacks, ResumableCheckpoint()]
            if (config.get("enable_progress_bar") is not False and not config.get("barebones")
                    and not any(isinstance(c, ProgressBar) for c in listed)):
                callbacks = [*callbacks, ResumableProgressBar()]
        return super()._instantiate_trainer(config, callbacks)

    def _run_subcommand(self, subcommand: str) -> None:
        ckpt_path = self.config_init[subcommand].get("ckpt_path")
        if ckpt_path == "last":
            _check_last_exists(self.trainer, subcommand)
        with warnings.catch_warnings():
            if subcommand == "fit" and ckpt_path is not None:
                # A resumed run writes into its own checkpoint folder: not empty, by design.
                warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and "
                                        "is not empty")
            super()._run_subcommand(subcommand)


def _check_file(recipe: str | Path) -> Path:
    path = Path(recipe)
    if not path.is_file():
        raise ConfigError(f"recipe {path} does not exist; recipes live in the repository's "
                          "recipes/ folder, e.g. recipes/ds2.yaml")
    return path


def make_cli(recipe: str | Path, overrides: list[str] | None = None,
             subcommand: str | None = "fit") -> LightningCLI:
    """Build (and, with a subcommand, run) the LightningCLI of a recipe.

    Args:
        recipe: the YAML file.
        overrides: extra LightningCLI arguments, e.g. ``["--trainer.max_steps", "100"]``.
        subcommand: ``fit``, ``validate``, ``test``; None only parses and instantiates.

    Raises:
        ConfigError: the recipe is missing, names an unknown key, or holds a bad value, or
            ``--ckpt_path last`` finds no checkpoint.
        CheckpointError: ``--ckpt_path`` is unreadable, or a bundle given to ``fit``.
    """
    path = _check_file(recipe)
    overrides = list(overrides or [])
    args = ([subcommand] if subcommand else []) + ["--config", str(path)] + overrides
    # Errors raise rather than print usage and exit: the message is ours, on one line.
    parser_kwargs: dict[str, Any] = {"exit_on_error": False}
    if subcommand is not None:
        parser_kwargs[subcommand] = {"exit_on_error": False}
    return _CLI(L.LightningModule, L.LightningDataModule, subclass_mode_model=True,
                subclass_mode_data=True, args=args, run=subcommand is not None,
                parser_kwargs=parser_kwargs, save_config_kwargs={"overwrite": True},
                # Our batch samplers shard themselves across ranks (SortaGrad needs the
                # whole duration order); Lightning must not swap in its own sampler.
                trainer_defaults={"use_distributed_sampler": False},
                recipe=path, overrides=overrides)


# --- what the speechzoo command prints ------------------------------------------------------

# Warnings and tips that every run prints and no run acts on (messages match from the start).
_NOISY_WARNINGS = (
    r"LightningCLI's args parameter is intended",  # speechzoo passes args by design
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",  # inside Lightning
    r"The '\w+' does not have many workers",  # the recipes' worker counts are measured
    r"(GPU|TPU) available but not used",
)
_NOISY_LOGS = re.compile(r"💡 Tip:|(GPU|TPU|HPU) available: False|LOCAL_RANK: \d+ - "
                         r"CUDA_VISIBLE_DEVICES|You are using a CUDA device .* Tensor Cores")
_LIGHTNING_LOGGERS = ("lightning.pytorch.utilities.rank_zero",
                      "lightning.fabric.utilities.rank_zero", "lightning.pytorch.accelerators.cuda")


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _NOISY_LOGS.match(record.getMessage())


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Hide Lightning's every-run warnings and tips; real warnings still show. For the
    ``speechzoo`` command: importing speechzoo leaves warnings and logging alone."""
    noise = _DropNoise()
    loggers = [logging.getLogger(name) for name in _LIGHTNING_LOGGERS]
    with warnings.catch_warnings():
        for message in _NOISY_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        for logger in loggers:
            logger.addFilter(noise)
        try:
            yield
        finally:
            for logger in loggers:
                logger.removeFilter(noise)
