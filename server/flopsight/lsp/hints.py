"""Inlay hints: a model's report -> one short label at the end of each line that does work.

- A line that constructs layers: their MACs, params and share of the model,
  ``118.01 MMac · 9.41 k params · 2.9%``; ``×N`` when the modules built there run N times.
- A line of ``forward`` doing counted work: ``1.85 GMac → [1, 64, 56, 56]``.
- A module-level instance line: the model's total.

``flopsight.inlayHints.show`` picks the parts, in order: ``macs``, ``flops``, ``params`` and
``share`` apply to layer lines, ``macs``, ``flops`` and ``shape`` to forward lines, ``macs``,
``flops`` and ``params`` to instance lines. ``minShare`` is a percentage of the model's MACs
below which a line gets no hint. Labels stay under 40 characters; the tooltip has the detail.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lsprotocol import types

from flopsight.lsp.documents import AnchoredModel
from flopsight.lsp.positions import line_end
from flopsight.report.model import LayerCost, LineCost, ModelReport
from flopsight.report.units import (
    format_flops,
    format_macs,
    format_params,
    format_shape,
    format_share,
)

MAX_LABEL = 39
SEPARATOR = " · "


@dataclass(frozen=True)
class HintOptions:
    show: tuple[str, ...] = ("macs", "params", "share", "shape")
    min_share: float = 0.0


@dataclass(frozen=True)
class LineHint:
    """A hint in protocol-free form: a 1-based line of the current text."""

    line: int
    label: str
    tooltip: str
    kind: str  # "layer", "forward" or "model"


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


def params_text(params: int) -> str:
    return f"{format_params(params)} params"


def _top_level(layers: list[LayerCost]) -> list[LayerCost]:
    """Outermost layers of a line (a container and its children may share one)."""
    paths = {layer.path for layer in layers}
    out = []
    for layer in layers:
        parts = layer.path.split(".")
        if any(".".join(parts[:i]) in paths for i in range(1, len(parts))):
            continue
        out.append(layer)
    return out


def layers_by_line(model: ModelReport) -> dict[int, list[LayerCost]]:
    """Layers by the line that constructs them, outermost only; the root left out."""
    grouped: dict[int, list[LayerCost]] = {}
    for layer in model.layers:
        if layer.line is None or layer.path == "":
            continue
        grouped.setdefault(layer.line, []).append(layer)
    return {line: _top_level(layers) for line, layers in grouped.items()}


def lines_by_line(model: ModelReport) -> dict[int, LineCost]:
    return {cost.line: cost for cost in model.lines}


def share_percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def layer_label(layers: Sequence[LayerCost], total_macs: int, show: Sequence[str]) -> str:
    macs = sum(layer.macs for layer in layers)
    flops = sum(layer.flops for layer in layers)
    params = sum(layer.params for layer in layers)
    calls = sum(max(layer.calls, 1) for layer in layers)
    texts = {
        "macs": format_macs(macs),
        "flops": format_flops(flops),
        "params": params_text(params),
        "share": format_share(macs, total_macs),
    }
    parts = [texts[p] for p in show if p in texts]
    return _fit(parts, f" ×{calls}" if calls > 1 else "")


def forward_label(cost: LineCost, show: Sequence[str]) -> str:
    texts = {"macs": format_macs(cost.macs), "flops": format_flops(cost.flops)}
    parts = [texts[p] for p in show if p in texts]
    calls = f" ×{cost.calls}" if cost.calls > 1 else ""
    if "shape" in show and cost.output_shape is not None:
        shape = format_shape(cost.output_shape)
        label = f"{SEPARATOR.join(parts)} → {shape}" if parts else shape
        if len(label + calls) <= MAX_LABEL:
            return label + calls
    return _fit(parts, calls)


def model_label(model: ModelReport, show: Sequence[str]) -> str:
    if model.total is None:
        return ""
    texts = {
        "macs": format_macs(model.total.macs),
        "flops": format_flops(model.total.flops),
        "params": params_text(model.total.params),
    }
    return _fit([texts[p] for p in show if p in texts])


def _layer_tooltip(layers: Sequence[LayerCost], total_macs: int) -> str:
    rows = [
        "| layer | type | MACs | params | share | output | calls |",
        "|---|---|--:|--:|--:|---|--:|",
    ]
    for layer in layers:
        rows.append(
            f"| `{layer.path}` | {layer.type} | {format_macs(layer.macs)} | "
            f"{format_params(layer.params)} | {format_share(layer.macs, total_macs)} | "
            f"{format_shape(layer.output_shape)} | {layer.calls} |"
        )
    return "\n".join(rows)


def _forward_tooltip(cost: LineCost, total_macs: int) -> str:
    text = (
        f"**{format_macs(cost.macs)}** · {format_flops(cost.flops)} · "
        f"{format_share(cost.macs, total_macs)} of the model\n\n"
        f"output: `{format_shape(cost.output_shape)}`"
    )
    if cost.calls > 1:
        text += f" · runs {cost.calls}×"
    if cost.ops:
        text += f"\n\n{op_breakdown(cost.ops)}"
    return text


def op_breakdown(ops: dict[str, int]) -> str:
    """``conv 91% · matmul 9%`` (families without MACs left out)."""
    total = sum(ops.values())
    items = sorted(((k, v) for k, v in ops.items() if v > 0), key=lambda kv: -kv[1])
    return SEPARATOR.join(f"{k} {share_percent(v, total):.0f}%" for k, v in items)


def model_hints(model: ModelReport, options: HintOptions) -> list[LineHint]:
    """The hints of one analysed model (lines already in the current text)."""
    if model.status != "ok" or model.total is None:
        return []
    total = model.total.macs
    hints: dict[int, LineHint] = {}
    if model.kind == "instance":
        label = model_label(model, options.show)
        if label:
            hints[model.line] = LineHint(
                model.line,
                label,
                f"**{model.display_name}**: {format_macs(model.total.macs)} · "
                f"{format_flops(model.total.flops)} · {params_text(model.total.params)}",
                "model",
            )
    for line, layers in sorted(layers_by_line(model).items()):
        macs = sum(layer.macs for layer in layers)
        params = sum(layer.params for layer in layers)
        if line in hints or (macs == 0 and params == 0):
            continue
        if share_percent(macs, total) < options.min_share:
            continue
        label = layer_label(layers, total, options.show)
        if label:
            hints[line] = LineHint(line, label, _layer_tooltip(layers, total), "layer")
    for line, cost in sorted(lines_by_line(model).items()):
        if line in hints or cost.macs == 0:
            continue
        if share_percent(cost.macs, total) < options.min_share:
            continue
        label = forward_label(cost, options.show)
        if label:
            hints[line] = LineHint(line, label, _forward_tooltip(cost, total), "forward")
    return sorted(hints.values(), key=lambda h: h.line)


def document_hints(models: Iterable[AnchoredModel], options: HintOptions) -> list[LineHint]:
    """One hint per line over all models of a document (the first model claiming a line wins)."""
    by_line: dict[int, LineHint] = {}
    for anchored in models:
        for hint in model_hints(anchored.report, options):
            by_line.setdefault(hint.line, hint)
    return sorted(by_line.values(), key=lambda h: h.line)


def to_inlay_hints(
    hints: Iterable[LineHint], lines: Sequence[str], first: int, last: int, utf16: bool = True
) -> list[types.InlayHint]:
    """LSP hints at the end of their line, for the 0-based line range ``first..last``."""
    out: list[types.InlayHint] = []
    for hint in hints:
        row = hint.line - 1
        if not first <= row <= last or row >= len(lines):
            continue
        out.append(
            types.InlayHint(
                position=types.Position(line=row, character=line_end(lines[row], utf16)),
                label=hint.label,
                tooltip=types.MarkupContent(kind=types.MarkupKind.Markdown, value=hint.tooltip),
                padding_left=True,
            )
        )
    return out
