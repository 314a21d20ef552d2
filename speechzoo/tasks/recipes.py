"""Recipes: YAML files whose keys are constructor arguments, run through LightningCLI.

A recipe has LightningCLI's sections: ``trainer``, ``model`` (the task, with the network
injected as its ``model``), ``data`` and ``seed_everything``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import lightning as L
from jsonargparse import ArgumentError
from lightning.pytorch.cli import LightningCLI

from speechzoo.errors import ConfigError, SpeechZooError

SUBCOMMANDS = ("fit", "validate", "test")


def _flatten(tree: object, prefix: str = "") -> dict[str, object]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    return {k: v for key, value in tree.items()
            for k, v in _flatten(value, f"{prefix}.{key}").items()}


class _CLI(LightningCLI):
    def _parse_ckpt_path(self) -> None:
        # Lightning applies a resumed checkpoint's hyperparameters over the recipe and the
        # command line, so `--ckpt_path X --model.init_args.lr Y` silently keeps X's lr.
        sub = self.config.get("subcommand")
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
        ConfigError: the recipe is missing, names an unknown key, or holds a bad value.
    """
    path = _check_file(recipe)
    args = ([subcommand] if subcommand else []) + ["--config", str(path)] + list(overrides or [])
    try:
        return _CLI(L.LightningModule, L.LightningDataModule, subclass_mode_model=True,
                    subclass_mode_data=True, args=args, run=subcommand is not None,
                    parser_kwargs={"exit_on_error": False} if subcommand is None else
                    {subcommand: {"exit_on_error": False}},
                    save_config_kwargs={"overwrite": True},
                    # Our batch samplers shard themselves across ranks (SortaGrad needs the
                    # whole duration order); Lightning must not swap in its own sampler.
                    trainer_defaults={"use_distributed_sampler": False})
    except ArgumentError as e:
        message = " ".join(str(e).split())
        raise ConfigError(f"recipe {path}: {message}. Keys are constructor arguments of the "
                          "classes the recipe names; `speechzoo train --help` lists them") from None
