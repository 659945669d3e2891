"""The report of a counting pass: layers (subtree totals), lines, each convention's count,
parameter totals, the inputs and the device (what ``count_model`` hands back)."""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from flopsight.counting.conventions.base import ConventionTally, Cost
from flopsight.counting.spellings import Loc
from flopsight.counting.tensors import dtype_name, shape_of, tensors
from flopsight.report.model import (
    Charge,
    ConventionCount,
    Device,
    InputSpec,
    LayerCost,
    LineCost,
    OutputShape,
    UncountedOp,
)

if TYPE_CHECKING:
    from flopsight.counting.counter import CountingSession


@dataclass
class Site:
    """What one pass saw of a module or a line, whatever the convention: runs and output shape."""

    calls: int = 0
    output_shape: OutputShape = None


def all_tallies(session: CountingSession) -> list[ConventionTally]:
    """Every tally of the pass: the forward ones (main convention first), then the backward
    and the recompute ones of the conventions that have a backward."""
    return [*session.tallies, *session.backward_tallies, *session.recompute_tallies]


def main_phases(session: CountingSession) -> list[ConventionTally]:
    """The main convention's tallies: its forward, and its backward and recompute if any."""
    main = session.tallies[0].convention
    return [t for t in all_tallies(session) if t.convention is main]


def layer_costs(
    model: nn.Module, session: CountingSession, constructed_at: Mapping[int, Loc] | None
) -> tuple[list[LayerCost], list[dict[str, Charge]]]:
    """Every module in ``named_modules()`` order; containers carry their subtree's totals.

    The layers carry the main convention's figures (in training mode the sum of its phases,
    each phase also on its own); the second list, per tally of ``all_tallies``, each
    layer's subtree ``Charge`` by path.
    """
    layers: list[LayerCost] = []
    tallies = all_tallies(session)
    main = [i for i, t in enumerate(tallies) if t.convention is tallies[0].convention]
    training = len(main) > 1
    by_tally: list[dict[str, Charge]] = [{} for _ in tallies]
    seen: set[int] = set()
    # A parameter shared by two subtrees counts in the first one only, so parents add up.
    seen_params: set[int] = set()
    empty = Cost()

    def visit(module: nn.Module, path: str, depth: int) -> tuple[list[Cost | None], int]:
        seen.add(id(module))
        site = session.modules.get(id(module)) or Site()
        built = constructed_at.get(id(module)) if constructed_at else None
        layer = LayerCost(
            path=path,
            type=type(module).__name__,
            line=built[1] if built else None,
            file=built[0] if built else None,
            calls=site.calls,
            macs=0,
            flops=0,
            params=0,
            output_shape=site.output_shape,
            depth=depth,
        )
        layers.append(layer)
        # Made now, filled below: the charges keep the layers' (pre-)order.
        charges = [Charge() for _ in tallies]
        for by_path, charge in zip(by_tally, charges, strict=True):
            by_path[path] = charge
        # A subtree's cost is shared with the module or child it came from until a second
        # part is added: then it is copied (``owned``), so no tally's own cost is changed.
        subtree = [tally.modules.get(id(module)) for tally in tallies]
        owned = [False] * len(tallies)
        params = 0
        for p in module._parameters.values():
            if p is not None and id(p) not in seen_params:
                seen_params.add(id(p))
                params += int(p.numel())
        for name, child in module._modules.items():
            if child is None or id(child) in seen:
                continue
            child_costs, child_params = visit(child, f"{path}.{name}" if path else name, depth + 1)
            for i, part in enumerate(child_costs):
                if part is None:
                    continue
                total = subtree[i]
                if total is None:
                    subtree[i] = part
                    continue
                if not owned[i]:
                    total = subtree[i] = total.copy()
                    owned[i] = True
                total.merge(part)
            params += child_params
        phases = [subtree[i] or empty for i in main]
        ops: Counter[str] = Counter()
        for cost in phases:
            ops.update(cost.ops)
        layer.macs = sum(cost.macs for cost in phases)
        layer.flops = sum(cost.flops for cost in phases)
        layer.params = params
        layer.ops = dict(ops)
        if training:
            layer.forward_macs, layer.backward_macs, layer.recompute_macs = (
                cost.macs for cost in phases
            )
        for charge, part in zip(charges, subtree, strict=True):
            fill_charge(charge, part or empty)
        return subtree, params

    visit(model, "", 0)
    return layers, by_tally


def fill_charge(charge: Charge, cost: Cost) -> None:
    charge.macs, charge.ops = cost.macs, dict(cost.ops)
    charge.flops, charge.flop_ops = cost.flops, dict(cost.flop_ops)
    charge.activations = cost.activations


def line_costs(session: CountingSession, phases: Sequence[ConventionTally]) -> list[LineCost]:
    """The lines with the figures of ``phases`` (one convention's tallies) summed; with more
    than one phase, each phase's MACs too."""
    empty = Cost()
    lines = []
    numbers = set(session.lines)
    for tally in phases[1:]:
        numbers.update(tally.lines)
    for line in sorted(numbers, key=loc_order):
        site = session.lines.get(line) or Site()
        costs = [tally.lines.get(line, empty) for tally in phases]
        ops: Counter[str] = Counter()
        for cost in costs:
            ops.update(cost.ops)
        macs = sum(cost.macs for cost in costs)
        entry = LineCost(
            line=line[1],
            file=line[0],
            macs=macs,
            flops=sum(cost.flops for cost in costs),
            output_shape=site.output_shape,
            calls=max(site.calls, 1),
            ops=dict(ops),
        )
        if len(costs) > 1:
            entry.forward_macs, entry.backward_macs, entry.recompute_macs = (
                cost.macs for cost in costs
            )
        lines.append(entry)
    return lines


def loc_order(loc: Loc) -> tuple[str, int]:
    """The analysed file's lines first, then each other file's, by line."""
    return (loc[0] or "", loc[1])


def uncounted_ops(phases: Sequence[ConventionTally]) -> list[UncountedOp]:
    counts: Counter[str] = Counter()
    for tally in phases:
        counts.update(tally.uncounted)
    return [UncountedOp(op, n) for op, n in sorted(counts.items())]


def convention_count(
    session: CountingSession, tally: ConventionTally, layers: dict[str, Charge]
) -> ConventionCount:
    root = layers[""]
    lines = {}
    for line in sorted(set(session.lines) | set(tally.lines), key=loc_order):
        charge = lines[line] = Charge()
        fill_charge(charge, tally.lines.get(line) or Cost())
    return ConventionCount(
        convention=tally.convention.name,
        phase=tally.phase,
        macs=root.macs,
        ops=dict(root.ops),
        flops=root.total_flops,
        flop_ops=dict(root.flop_ops or {}),
        activations=root.activations if tally.convention.counts_activations else None,
        layers=layers,
        lines=lines,
        uncounted_ops=uncounted_ops([tally]),
        notes=tally.convention.notes(tally) if tally.phase == "forward" else [],
    )


def param_totals(model: nn.Module) -> tuple[int, int, int]:
    params = trainable = nbytes = 0
    for p in model.parameters():  # shared parameters are yielded once
        n = int(p.numel())
        params += n
        nbytes += n * p.element_size()
        if p.requires_grad:
            trainable += n
    return params, trainable, nbytes


def inputs_of(
    model: nn.Module, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> list[InputSpec]:
    try:
        names = [
            p.name
            for p in inspect.signature(model.forward).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        names = []
    specs: list[InputSpec] = []
    for i, value in enumerate(args):
        if isinstance(value, torch.Tensor):
            name = names[i] if i < len(names) else f"input{i}"
            specs.append(InputSpec(name, shape_of(value), dtype_name(value.dtype)))
    for name, value in kwargs.items():
        if isinstance(value, torch.Tensor):
            specs.append(InputSpec(name, shape_of(value), dtype_name(value.dtype)))
    return specs


def device_of(model: nn.Module, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Device:
    found = [
        *model.parameters(),
        *model.buffers(),
        *tensors(list(args)),
        *tensors(dict(kwargs)),
    ]
    types = {t.device.type for t in found}
    if "meta" in types:
        return "meta"
    for kind in ("cuda", "mps"):
        if kind in types:
            return cast(Device, kind)
    return "cpu"
