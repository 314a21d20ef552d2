"""Plain ``nn.Module`` models, one file per paper.

Each model records its constructor arguments in ``self.config`` so a checkpoint rebuilds it
(:func:`build_model`) without pickled objects.
"""

from __future__ import annotations

import importlib
from typing import Any

from torch import nn

from speechzoo.errors import CheckpointError


def constructor_args(frame_locals: dict[str, Any]) -> dict[str, Any]:
    """The arguments a constructor was called with, from its ``locals()`` (first line)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in frame_locals.items()
            if k not in ("self", "__class__")}


def class_path(model: nn.Module) -> str:
    return f"{type(model).__module__}.{type(model).__qualname__}"


def build_model(path: str, init_args: dict[str, Any]) -> nn.Module:
    """Instantiate ``path`` (a class under ``speechzoo.models``) with ``init_args``."""
    if not path.startswith("speechzoo.models."):
        raise CheckpointError(f"checkpoint names model class {path!r}, which is not a speechzoo "
                              "model; only classes under speechzoo.models are loaded")
    module_name, _, name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError):
        raise CheckpointError(f"model class {path!r} does not exist in this version of "
                              "speechzoo; upgrade speechzoo or retrain") from None
    return cls(**init_args)
