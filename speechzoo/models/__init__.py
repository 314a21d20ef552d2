"""Plain ``nn.Module`` models, one file per paper.

Each model records its constructor arguments in ``self.config`` so a bundle rebuilds it
(``speechzoo.checkpoints.build_network``) without pickled objects.
"""

from __future__ import annotations

from typing import Any


def constructor_args(frame_locals: dict[str, Any]) -> dict[str, Any]:
    """The arguments a constructor was called with, from its ``locals()`` (first line)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in frame_locals.items()
            if k not in ("self", "__class__")}
