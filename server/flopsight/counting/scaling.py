"""Counts a model again at other values of each symbolic dimension of its input, on meta, for
``ModelReport.scaling`` (the fit itself is ``flopsight.report.scaling``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from flopsight.report.model import ModelReport
from flopsight.report.scaling import DimScaling, sample_values, scaling_of
from flopsight.source.model import ModelSpec

# Counts the model as ``spec`` describes it (its dims replaced): the runner's analyse_model.
CountAt = Callable[[ModelSpec], ModelReport]


def symbolic_dims(spec: ModelSpec) -> list[str]:
    """The names in the model's input shapes, in the order they first appear."""
    names: list[str] = []
    for annotation in spec.inputs or []:
        for dim in annotation.shape:
            if isinstance(dim, str) and dim not in names:
                names.append(dim)
    return names


def model_scaling(
    spec: ModelSpec, report: ModelReport, dims: dict[str, int], count_at: CountAt
) -> list[DimScaling]:
    """One ``DimScaling`` per symbolic dimension, the others held at their values; the report's
    own count is the point at the dimension's value (where the fit is checked)."""
    if report.status != "ok" or report.total is None:
        return []
    out = []
    for dim in symbolic_dims(spec):
        value = int(spec.dims.get(dim, dims.get(dim, 0)))
        if value <= 0:
            continue
        points, ops = [], []
        for x in sample_values(value):
            counted = report if x == value else count_at(replace(spec, dims={**spec.dims, dim: x}))
            if counted.status != "ok" or counted.total is None:
                break
            points.append((x, counted.total.macs))
            ops.append(dict(counted.ops))
        else:
            out.append(scaling_of(dim, value, points, ops))
    return out
