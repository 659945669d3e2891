"""Inlay hints: the labels of ``flopsight.report.hints`` (the same strings ``flopsight annotate``
prints) placed at the end of their line of the current text, with the detail in a tooltip.

Which parts a label shows and the minimum share are the ``flopsight.inlayHints.*`` settings
(``show``: ``macs``, ``flops``, ``params``, ``share``, ``shape``; ``minShare``: a percentage of
the model's MACs).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lsprotocol import types

from flopsight.lsp.documents import AnchoredModel
from flopsight.lsp.positions import line_end
from flopsight.report.hints import (
    LineLabel,
    layers_by_line,
    model_line_labels,
    params_text,
    share_percent,
)
from flopsight.report.model import LayerCost, LineCost, ModelReport
from flopsight.report.units import (
    format_flops,
    format_macs,
    format_params,
    format_shape,
    format_share,
)

__all__ = [
    "HintOptions",
    "LineHint",
    "document_hints",
    "layers_by_line",
    "lines_by_line",
    "op_breakdown",
    "params_text",
    "to_inlay_hints",
]


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


def lines_by_line(model: ModelReport, file: str | None = None) -> dict[int, LineCost]:
    """The per-line costs of the analysed file (``file`` None) or of another workspace file."""
    return {cost.line: cost for cost in model.lines if cost.file == file}


def op_breakdown(ops: dict[str, int]) -> str:
    """``conv 91.2% · matmul 8.8%`` (families without MACs left out)."""
    total = sum(ops.values())
    items = sorted(((k, v) for k, v in ops.items() if v > 0), key=lambda kv: -kv[1])
    return " · ".join(f"{k} {share_percent(v, total):.1f}%" for k, v in items)


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
        f"output `{format_shape(cost.output_shape)}`"
    )
    if cost.calls > 1:
        text += f" · runs {cost.calls}×"
    if cost.ops:
        text += f"\n\n{op_breakdown(cost.ops)}"
    return text


def label_tooltip(model: ModelReport, label: LineLabel) -> str:
    assert model.total is not None
    if label.kind == "layer":
        return _layer_tooltip(label.layers, model.total.macs)
    if label.kind == "forward" and label.cost is not None:
        return _forward_tooltip(label.cost, model.total.macs)
    t = model.total
    return (
        f"**{model.display_name}**: {format_macs(t.macs)} · {format_flops(t.flops)} · "
        f"{params_text(t.params, t.active_params)}"
    )


def model_hints(model: ModelReport, options: HintOptions) -> list[LineHint]:
    """The hints of one analysed model (its lines already moved to the current text)."""
    return [
        LineHint(label.line, label.label, label_tooltip(model, label), label.kind)
        for label in model_line_labels(model, options.show, options.min_share)
    ]


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
