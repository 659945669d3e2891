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
from flopsight.counting.memory import (
    MemoryReport,
    cast_for_precision,
    make_optimizer,
    track_memory,
    warm_optimizer,
)
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


def search_largest(
    peak: Callable[[int], int | Sequence[int]], capacity: int, limit: int = FIT_LIMIT
) -> FitResult:
    """The largest n ≥ 1 with ``peak(n) ≤ capacity``, the peak growing with n.

    ``peak`` may return the peak of each phase (forward, backward, optimizer step): the peak is
    their maximum, each nearly linear in a batch. Doubling from 1 finds a bracket, bisection
    closes it; each step first tries where the lines through the last two points meet the
    capacity, so a peak made of linear phases is found in four runs, and no peak takes more
    than twice doubling and bisection. ``dim`` is left empty for the caller.
    """
    seen: dict[int, int] = {}
    parts: dict[int, tuple[int, ...]] = {}

    def at(n: int) -> int:
        if n not in seen:
            value = peak(n)
            parts[n] = (value,) if isinstance(value, int) else tuple(value)
            seen[n] = max(parts[n])
        return seen[n]

    def line_guess(a: int, b: int) -> int | None:
        """The first n at which one phase's line through a and b passes the capacity, - 1."""
        at(a), at(b)
        if len(parts[a]) != len(parts[b]):
            return None
        crossings = []
        for pa, pb in zip(parts[a], parts[b], strict=True):
            slope = (pb - pa) / (b - a)
            if slope > 0:
                crossings.append(a + int((capacity - pa) // slope))
        return min(crossings) if crossings else None

    if at(1) > capacity:
        return FitResult("", None, None, 1, seen[1], capacity, len(seen))
    lo, prev, n = 1, 1, 2
    while True:  # find a value that does not fit: the line's guess, else doubling
        if at(n) > capacity:
            hi = n
            break
        prev, lo = lo, n
        if lo >= limit:
            return FitResult("", lo, seen[lo], lo + 1, None, capacity, len(seen))
        guess = line_guess(prev, lo)
        n = min(max(lo * 2 if guess is None else guess, lo + 1), limit)
    bisect = False
    while hi - lo > 1:  # close the bracket: the line's guess and halving, in turn
        guess = line_guess(lo, hi) if not bisect else None
        mid = guess if guess is not None and lo < guess < hi else (lo + hi) // 2
        if at(mid) <= capacity:
            lo = mid
        else:
            hi = mid
        bisect = not bisect
    return FitResult("", lo, seen[lo], hi, seen[hi], capacity, len(seen))


def _phases(report: MemoryReport) -> list[int]:
    """Each phase's peak, in a fixed order (0 for a phase the run did not have)."""
    return [report.phase_peaks.get(p, 0) for p in ("forward", "loss", "backward", "optimizer")]


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
        train = options.mode == "train"
        precision = spec.train.get("precision", options.precision)
        chosen = spec.train.get("optimizer", options.optimizer)
        cast_for_precision(model, [], {}, precision)  # the optimizer holds the cast weights
        optimizer = make_optimizer(model.parameters(), chosen) if train else None
        if optimizer is not None:
            warm_optimizer(optimizer)  # once: the states do not depend on the inputs

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
                optimizer=optimizer if optimizer is not None else "none",
                precision=precision,
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
            found = search_largest(lambda n: _phases(run(n)), accelerator.bytes)
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
