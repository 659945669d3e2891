"""The short label at the end of each line that does work: the editor's inlay hints and
``flopsight annotate`` print the same strings (pure functions over a ModelReport, no protocol).

- A line that constructs layers: their MACs, params and share of the model,
  ``118.01 MMac · 9.41 k params · 2.9%``; ``×N`` when the modules built there run N times.
- A line of ``forward`` doing counted work: ``1.85 GMac → [1, 64, 56, 56]`` (``×N`` likewise).
- A module-level instance line: the model's total.
- In training mode the MACs part is the step's split, forward + backward (+ recompute):
  ``262.14 + 524.29 KMac``.

``parts`` (the setting ``flopsight.inlayHints.show``) picks the parts, in order: ``macs``,
``flops``, ``params`` and ``share`` apply to layer lines; ``macs``, ``flops`` and ``shape`` to
forward lines; ``macs``, ``flops`` and ``params`` to instance lines. ``min_share`` is a
percentage of the model's MACs below which a line gets no label.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from flopsight.report.model import LayerCost, LineCost, ModelReport
from flopsight.report.units import (
    format_flops,
    format_macs,
    format_params,
    format_shape,
    format_share,
    format_step,
)

DEFAULT_PARTS: tuple[str, ...] = ("macs", "params", "share", "shape")
MAX_LABEL = 39
SEPARATOR = " · "

HintKind = Literal["layer", "forward", "model"]


@dataclass(frozen=True)
class LineLabel:
    """One label on a 1-based line of the text the report describes."""

    line: int
    label: str
    kind: HintKind
    # What the label sums: the layers built on the line, or the forward line's cost.
    layers: tuple[LayerCost, ...] = ()
    cost: LineCost | None = None


def _fit(parts: list[str], suffix: str = "") -> str:
    """Joins parts; drops trailing parts (then truncates) until the label is short enough."""
    parts = [p for p in parts if p]
    while parts:
        label = SEPARATOR.join(parts) + suffix
        if len(label) <= MAX_LABEL:
            return label
        if len(parts) == 1:
            return label[: MAX_LABEL - 1] + "…"
        parts = parts[:-1]
    return suffix.strip()[:MAX_LABEL]


def params_text(params: int, active: int | None = None) -> str:
    """``28.68 M params``; a Mixture-of-Experts adds what one token uses: ``· 12.88 B active``."""
    text = f"{format_params(params)} params"
    return text if active is None else f"{text} · {format_params(active)} active"


def share_percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def _outermost(layers: list[LayerCost]) -> list[LayerCost]:
    """Layers not inside another listed layer (a container and its children on one line)."""
    paths = {layer.path for layer in layers}
    out = []
    for layer in layers:
        parts = layer.path.split(".")
        if any(".".join(parts[:i]) in paths for i in range(1, len(parts))):
            continue
        out.append(layer)
    return out


def layers_by_line(model: ModelReport, file: str | None = None) -> dict[int, list[LayerCost]]:
    """Layers grouped by the line that constructs them, outermost only; the root excluded.

    Lines of the analysed file (``file`` None), or of ``file``, another file of the workspace.
    """
    grouped: dict[int, list[LayerCost]] = {}
    for layer in model.layers:
        if layer.line is None or layer.path == "" or layer.file != file:
            continue
        grouped.setdefault(layer.line, []).append(layer)
    return {line: _outermost(layers) for line, layers in grouped.items()}


def _macs_text(macs: int, costs: Sequence[LayerCost | LineCost]) -> str:
    """MACs, or in training mode the split fwd + bwd (+ recompute) of ``costs`` summed."""
    if not costs or any(c.forward_macs is None for c in costs):
        return format_macs(macs)
    return format_step(
        sum(c.forward_macs or 0 for c in costs),
        sum(c.backward_macs or 0 for c in costs),
        sum(c.recompute_macs or 0 for c in costs),
    )


def layer_label(layers: Sequence[LayerCost], total_macs: int, parts: Sequence[str]) -> str:
    macs = sum(layer.macs for layer in layers)
    params = sum(layer.params for layer in layers)
    calls = sum(max(layer.calls, 1) for layer in layers)
    texts = {
        "macs": _macs_text(macs, layers),
        "flops": format_flops(sum(layer.flops for layer in layers)),
        "params": params_text(params),
        "share": format_share(macs, total_macs),
    }
    return _fit([texts[p] for p in parts if p in texts], f" ×{calls}" if calls > 1 else "")


def forward_label(cost: LineCost, parts: Sequence[str]) -> str:
    texts = {"macs": _macs_text(cost.macs, [cost]), "flops": format_flops(cost.flops)}
    chosen = [texts[p] for p in parts if p in texts]
    calls = f" ×{cost.calls}" if cost.calls > 1 else ""
    if "shape" in parts and cost.output_shape is not None:
        shape = format_shape(cost.output_shape)
        label = f"{SEPARATOR.join(chosen)} → {shape}" if chosen else shape
        if len(label + calls) <= MAX_LABEL:
            return label + calls
    return _fit(chosen, calls)


def model_label(model: ModelReport, parts: Sequence[str]) -> str:
    if model.total is None:
        return ""
    root = [layer for layer in model.layers if layer.path == ""]
    texts = {
        "macs": _macs_text(model.total.macs, root),
        "flops": format_flops(model.total.flops),
        "params": params_text(model.total.params),
    }
    return _fit([texts[p] for p in parts if p in texts])


def model_line_labels(
    model: ModelReport,
    parts: Sequence[str] = DEFAULT_PARTS,
    min_share: float = 0.0,
    *,
    class_total: bool = False,
    file: str | None = None,
) -> list[LineLabel]:
    """Every label of one model, by line; ``class_total`` also labels a class's own line.

    The lines are the analysed file's, or with ``file`` those of another workspace file that
    the model runs through (its constructions and forward lines there).
    """
    if model.status != "ok" or model.total is None:
        return []
    total = model.total.macs
    labels: dict[int, LineLabel] = {}
    if file is None and (model.kind == "instance" or class_total):
        label = model_label(model, parts)
        if label:
            labels[model.line] = LineLabel(model.line, label, "model")
    for line, layers in sorted(layers_by_line(model, file).items()):
        macs = sum(layer.macs for layer in layers)
        params = sum(layer.params for layer in layers)
        if line in labels or (macs == 0 and params == 0):
            continue
        if share_percent(macs, total) < min_share:
            continue
        label = layer_label(layers, total, parts)
        if label:
            labels[line] = LineLabel(line, label, "layer", layers=tuple(layers))
    for cost in sorted(model.lines, key=lambda c: c.line):
        if cost.file != file or cost.line in labels or cost.macs == 0:
            continue
        if share_percent(cost.macs, total) < min_share:
            continue
        label = forward_label(cost, parts)
        if label:
            labels[cost.line] = LineLabel(cost.line, label, "forward", cost=cost)
    return sorted(labels.values(), key=lambda h: h.line)


def line_labels(
    model: ModelReport, parts: Sequence[str] = DEFAULT_PARTS, min_share: float = 0.0
) -> dict[int, str]:
    """``{line: label}`` for one model (1-based lines of the text its report describes)."""
    return {h.line: h.label for h in model_line_labels(model, parts, min_share)}


def file_line_labels(
    models: Iterable[ModelReport],
    parts: Sequence[str] = DEFAULT_PARTS,
    min_share: float = 0.0,
    *,
    class_total: bool = False,
) -> dict[int, str]:
    """One label per line over all models of a file: the first model claiming a line wins."""
    out: dict[int, str] = {}
    for model in models:
        for h in model_line_labels(model, parts, min_share, class_total=class_total):
            out.setdefault(h.line, h.label)
    return out
