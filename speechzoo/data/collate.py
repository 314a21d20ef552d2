"""One collate function for every task: each field of the items is padded by its key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

LENGTHS = "_lengths"  # suffix of the field that holds each padded field's valid lengths


def collate(items: Sequence[Mapping[str, Any]],
            pad_values: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Stack a batch of dataset items (dicts with the same keys).

    A tensor field of one or more dimensions is padded along its first (time) dimension to
    the longest in the batch (with ``pad_values[key]``, default 0), and its valid lengths go
    to ``<key>_lengths``; 0-dimensional tensors and numbers are stacked; anything else
    (strings, paths) is kept as a list.

    Shape: items' ``key`` (T_i, ...) -> batch ``key`` (B, max T_i, ...), ``key_lengths`` (B,).
    """
    if not items:
        raise ValueError("cannot collate an empty batch")
    pad_values = pad_values or {}
    batch: dict[str, Any] = {}
    for key in items[0]:
        values = [item[key] for item in items]
        first = values[0]
        if torch.is_tensor(first) and first.dim() > 0:
            batch[key] = torch.nn.utils.rnn.pad_sequence(
                list(values), batch_first=True, padding_value=pad_values.get(key, 0.0))
            batch[key + LENGTHS] = torch.tensor([len(v) for v in values])
        elif torch.is_tensor(first) or isinstance(first, (int, float)):
            batch[key] = torch.stack([torch.as_tensor(v) for v in values])
        else:
            batch[key] = list(values)
    return batch
