"""The worker's memory job (issue 15): count each model, then track its peak memory on meta,
and for ``flopsight fit`` search the largest value of a dimension that fits an accelerator.

A model whose memory could not be tracked keeps its count; ``ModelReport.memory`` then holds
``{"error": sentence}`` (the CLI prints it as an error).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from flopsight import gpus
from flopsight.counting.build import build_model, make_inputs
from flopsight.counting.calls import call_arguments
from flopsight.counting.memory import MemoryReport, track_memory
from flopsight.counting.runner import _factory, analyse_model, describe, run_file
from flopsight.job import AnalysisRequest, MemoryOptions
from flopsight.report.model import FileReport, InputSpec, ModelReport
from flopsight.source import ModelSpec

# The search stops doubling here: a dimension of a million fits nothing real.
FIT_LIMIT = 1 << 20


class BatchDimensionNotFound(ValueError):
    """The dimension to vary is neither symbolic in the annotation nor a shared leading one."""


@dataclass
class FitResult:
    dim: str
    largest: int | None  # None: not even 1 fits
    peak_at_largest: int | None
    next_value: int
    peak_at_next: int | None
    capacity: int
    runs: int

    def to_json(self) -> dict[str, Any]:
        return {
            "dim": self.dim,
            "largest": self.largest,
            "peak_at_largest": self.peak_at_largest,
            "next": self.next_value,
            "peak_at_next": self.peak_at_next,
            "capacity_bytes": self.capacity,
            "runs": self.runs,
        }


def search_largest(peak: Callable[[int], int], capacity: int, limit: int = FIT_LIMIT) -> FitResult:
    """The largest n ≥ 1 with ``peak(n) ≤ capacity``: doubling from 1, then bisection (the peak
    grows with n). ``dim`` is left empty for the caller."""
    seen: dict[int, int] = {}

    def at(n: int) -> int:
        if n not in seen:
            seen[n] = peak(n)
        return seen[n]

    if at(1) > capacity:
        return FitResult("", None, None, 1, seen[1], capacity, len(seen))
    lo, hi = 1, 2
    while hi <= limit and at(hi) <= capacity:
        lo, hi = hi, hi * 2
    if hi > limit:
        return FitResult("", lo, seen[lo], hi, None, capacity, len(seen))
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if at(mid) <= capacity:
            lo = mid
        else:
            hi = mid
    return FitResult("", lo, seen[lo], hi, seen[hi], capacity, len(seen))


def dim_positions(spec: ModelSpec, inputs: Sequence[InputSpec], dim: str) -> list[tuple[int, int]]:
    """(input index, axis) where ``dim`` sits: where the annotation names it, else (for
    ``batch``) the leading axis of every input when all of them have one of the same size."""
    positions: list[tuple[int, int]] = []
    for i, annotation in enumerate(spec.inputs or []):
        positions += [(i, a) for a, d in enumerate(annotation.shape) if d == dim]
    if positions:
        return positions
    leading = {i.shape[0] for i in inputs if len(i.shape) >= 2}
    if dim == "batch" and inputs and all(len(i.shape) >= 2 for i in inputs) and len(leading) == 1:
        return [(i, 0) for i in range(len(inputs))]
    shapes = ", ".join(str(tuple(i.shape)) for i in inputs) or "none"
    raise BatchDimensionNotFound(
        f"no dimension {dim!r} in {spec.name}'s inputs ({shapes}): name it with --dim NAME "
        f'(a symbolic dimension of the annotation, e.g. input=("batch", 3, 224, 224) or '
        f'Float[Tensor, "batch ..."])'
    )


def with_value(
    inputs: Sequence[InputSpec], positions: Sequence[tuple[int, int]], value: int
) -> list[InputSpec]:
    out = [InputSpec(i.name, list(i.shape), i.dtype, i.keyword) for i in inputs]
    for index, axis in positions:
        out[index].shape[axis] = value
    return out


def memory_spec(
    spec: ModelSpec,
    request: AnalysisRequest,
    namespace: dict[str, Any],
    tree: ast.Module,
    flags: int,
    override: bool,
    options: MemoryOptions,
) -> ModelReport:
    """Count ``spec``, then track its memory; with ``fit_dim``, search the largest that fits."""
    report = analyse_model(spec, request, namespace, tree, flags, override)
    if report.status != "ok":
        return report
    try:
        accelerator = gpus.accelerator(options.gpu) if options.gpu else None
        factory = _factory(spec, namespace, tree, request.path, flags)
        model, device = build_model(factory, start="meta")
        if device != "meta":
            raise RuntimeError(
                "memory is tracked on meta only, and this model's forward reads tensor values"
            )
        inputs = report.inputs
        dim = options.fit_dim or "batch"
        try:
            positions = dim_positions(spec, inputs, dim)
        except BatchDimensionNotFound:
            if options.fit_dim is not None:
                raise
            positions = []
        batch = inputs[positions[0][0]].shape[positions[0][1]] if positions else None

        def run(value: int | None) -> MemoryReport:
            shaped = with_value(inputs, positions, value) if value is not None else inputs
            tensors = make_inputs(shaped, device)
            args, kwargs = call_arguments(model, tensors, shaped, spec.label or spec.name)
            mode: Literal["inference", "train"] = (
                "train" if options.mode == "train" else "inference"
            )
            return track_memory(
                model,
                args,
                kwargs,
                mode=mode,
                # The model's pragma says its own (optimizer=, precision=) over the settings'.
                optimizer=spec.train.get("optimizer", options.optimizer),
                precision=spec.train.get("precision", options.precision),
                batch=value,
            )

        tracked = run(batch)
        memory = tracked.to_json()
        memory["dim"] = dim if positions else None
        if accelerator is not None:
            memory["gpu"] = {"key": accelerator.key, "name": accelerator.name}
            memory["gpu"]["bytes"] = accelerator.bytes
            memory["fits"] = tracked.peak_bytes <= accelerator.bytes
        if options.fit_dim is not None and accelerator is not None:
            found = search_largest(lambda n: run(n).peak_bytes, accelerator.bytes)
            found.dim = dim
            memory["fit"] = found.to_json()
        report.memory = memory
        report.memory_timeline = tracked.timeline_json()
    except (Exception, SystemExit) as e:
        report.memory = {"error": describe(e) if not isinstance(e, ValueError) else str(e)}
    return report


def memory_file(request: AnalysisRequest) -> FileReport:
    """``analyse_file`` plus each counted model's memory (``request.memory``)."""
    options = request.memory or MemoryOptions()

    def one(
        spec: ModelSpec, namespace: dict[str, Any], tree: ast.Module, flags: int, override: bool
    ) -> ModelReport:
        return memory_spec(spec, request, namespace, tree, flags, override, options)

    return run_file(request, one)
