"""Small facts about the tensors a model returns: shapes, bytes, dtype names."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch

from flopsight.report.model import OutputShape


def shape_of(t: torch.Tensor) -> list[int]:
    return [int(d) for d in t.shape]


def first_tensor_shape(out: Any) -> list[int] | None:
    if isinstance(out, torch.Tensor):
        return shape_of(out)
    if isinstance(out, (tuple, list)):
        for item in out:
            if isinstance(item, torch.Tensor):
                return shape_of(item)
    return None


def tensors(output: Any) -> Iterator[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        yield output
    elif isinstance(output, (tuple, list)):
        for item in output:
            yield from tensors(item)
    elif isinstance(output, Mapping):
        for item in output.values():
            yield from tensors(item)


def output_shape(output: Any) -> OutputShape:
    if isinstance(output, torch.Tensor):
        return shape_of(output)
    shapes = [shape_of(t) for t in tensors(output)]
    if not shapes:
        return None
    return shapes[0] if len(shapes) == 1 else shapes


def nbytes(output: Any) -> int:
    return sum(int(t.numel()) * t.element_size() for t in tensors(output))


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")
