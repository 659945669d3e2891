"""Concrete example inputs for a model: symbolic dimensions resolved, dtypes settled."""

from __future__ import annotations

from collections.abc import Mapping

from flopsight.report.model import InputSpec
from flopsight.source.model import ModelSpec, UnresolvedDimension
from flopsight.source.pragma import normalise_dtype


def resolve_inputs(
    spec: ModelSpec, setting_dims: Mapping[str, int], dtype_override: str | None = None
) -> list[InputSpec]:
    """The inputs of ``spec`` with every dimension an int.

    A symbolic dimension takes its value from the pragma's ``dims``, then from ``setting_dims``
    (the ``flopsight.dims`` setting); one with neither raises ``UnresolvedDimension``. An input
    without a dtype is float32; ``dtype_override`` (CLI ``--dtype``) replaces every input's.
    Raises ``ValueError`` when the model has no input shape at all, or the override is no dtype.
    """
    if spec.inputs is None:
        raise ValueError(
            f"{spec.name} has no input shape: add `# flopsight: input=(...)` to it, or pass --input"
        )
    override: str | None = None
    if dtype_override is not None:
        override = normalise_dtype(dtype_override)
        if override is None:
            raise ValueError(
                f"unknown dtype {dtype_override!r}: use e.g. float32, float16, bfloat16, long"
            )
    out: list[InputSpec] = []
    for annotation in spec.inputs:
        shape: list[int] = []
        for dim in annotation.shape:
            if isinstance(dim, int):
                shape.append(dim)
            elif dim in spec.dims:
                shape.append(int(spec.dims[dim]))
            elif dim in setting_dims:
                shape.append(int(setting_dims[dim]))
            else:
                raise UnresolvedDimension(dim, spec.name, annotation.span)
        dtype = override or normalise_dtype(annotation.dtype or "float32") or "float32"
        out.append(InputSpec(annotation.name, shape, dtype, keyword=spec.inputs_by_name))
    return out
