"""Hover cards: markdown for a model's class or instance name, a layer's line, a forward line."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from flopsight.gpus import memory_summary
from flopsight.lsp.documents import AnchoredModel, DocumentView
from flopsight.lsp.hints import layers_by_line, lines_by_line, op_breakdown, params_text
from flopsight.report.compare import short_line
from flopsight.report.measure_table import measured_summary
from flopsight.report.model import InputSpec, LayerCost, LineCost, ModelReport
from flopsight.report.table import PLAIN, LineNames
from flopsight.report.units import (
    format_flops,
    format_macs,
    format_params,
    format_shape,
    format_share,
)
from flopsight.source.model import SourceAnalysis, Span

HEAVIEST = 5


def format_inputs(inputs: Sequence[InputSpec]) -> str:
    """``(1, 3, 224, 224)``; several inputs comma-separated; a non-float32 dtype after the shape."""
    parts = []
    for spec in inputs:
        shape = (
            "("
            + ", ".join(str(d) for d in spec.shape)
            + ("," if len(spec.shape) == 1 else "")
            + ")"
        )
        parts.append(shape if spec.dtype == "float32" else f"{shape} {spec.dtype}")
    return ", ".join(parts)


_INTEGER_DTYPES = ("int64", "int32", "int16", "int8", "uint8", "long", "int")


def tokens_of(inputs: Sequence[InputSpec]) -> int | None:
    """Tokens a step sees: the numel of the first integer input (token ids), else batch × time
    of a 3-d input (embeddings); None for other inputs (images)."""
    for spec in inputs:
        if spec.dtype in _INTEGER_DTYPES and spec.shape:
            return math.prod(spec.shape)
    for spec in inputs:
        if len(spec.shape) == 3:
            return spec.shape[0] * spec.shape[1]
    return None


def training_lines(m: ModelReport) -> list[str]:
    """A training step's split, its loss, and its FLOPs per token over N (the 6·N·D rule)."""
    t = m.total
    if t is None or not m.training:
        return []
    out = []
    if m.no_backward:
        out += [f"**no backward** (FS206): {m.no_backward}", ""]
    if t.forward_macs is not None:
        split = f"fwd {format_macs(t.forward_macs)} · bwd {format_macs(t.backward_macs or 0)}"
        if t.recompute_macs:
            split += f" · recompute {format_macs(t.recompute_macs)}"
        out += [f"train step: {split}" + (f" · loss `{m.loss}`" if m.loss else ""), ""]
    tokens = tokens_of(m.inputs)
    if tokens and t.params and t.backward_macs:
        ratio = t.flops / tokens / t.params
        out += [
            f"training FLOPs per token: **{ratio:.1f} × N** (N = {format_params(t.params)} "
            f"params, {tokens:,} tokens; the 6·N·D rule says 6 × N)",
            "",
        ]
    return out


def _split_text(cost: LayerCost | LineCost) -> str:
    if cost.forward_macs is None:
        return ""
    text = f"fwd {format_macs(cost.forward_macs)} · bwd {format_macs(cost.backward_macs or 0)}"
    if cost.recompute_macs:
        text += f" · recompute {format_macs(cost.recompute_macs)}"
    return text


def _footer(anchored: AnchoredModel) -> str:
    m = anchored.report
    items = [
        f"input `{format_inputs(m.inputs)}`" if m.inputs else "",
        f"convention `{anchored.convention}`",
    ]
    if m.device:
        items.append(f"device `{m.device}`")
    if not anchored.fresh:
        items.append("*(from before the last edit)*")
    return " · ".join(i for i in items if i)


def scaling_lines(m: ModelReport) -> list[str]:
    """How MACs grow with each symbolic dimension: the polynomial, or a table of the counts."""
    out = []
    for s in m.scaling:
        if s.polynomial is not None:
            out += [f"{s.text} (exact; checked at {s.dim} = {s.verified_at})", ""]
            continue
        out += [f"| {s.dim} | " + " | ".join(str(x) for x, _ in s.points) + " |"]
        out += ["|---|" + "--:|" * len(s.points)]
        out += ["| MACs | " + " | ".join(format_macs(y) for _, y in s.points) + " |", ""]
    return out


def model_card(anchored: AnchoredModel, names: LineNames = PLAIN) -> str:
    m = anchored.report
    title = f"### {m.display_name}"
    if m.status == "error" and m.error is not None:
        return f"{title}\n\n**{m.error.type}**: {m.error.text()}\n\n{_footer(anchored)}"
    if m.status != "ok" or m.total is None:
        return f"{title}\n\nnot analysed: no input shape (add `# flopsight: input=(...)`)"
    t = m.total
    lines = [
        title,
        "",
        f"**{format_macs(t.macs)}** · {format_flops(t.flops)} · "
        f"{params_text(t.params, t.active_params)}"
        + (
            f" ({format_params(t.trainable_params)} trainable)"
            if t.trainable_params != t.params
            else ""
        ),
        "",
    ]
    lines += training_lines(m)
    if m.ops:
        lines += [op_breakdown(m.ops), ""]
    compared = short_line(m)
    if compared:
        lines += [compared, ""]
    lines += scaling_lines(m)
    measured = measured_summary(m, m.peak_gflops_per_s)
    if measured:
        lines += [f"measured on {_measured_on(m)}: {measured}", ""]
    if m.measure_error is not None:
        lines += [f"_Not measured: {m.measure_error.type}: {m.measure_error.text()}_", ""]
    if m.memory is not None:  # issue 15: peak memory of a training step (or inference)
        lines += [memory_summary(m.memory) or f"_memory: {m.memory.get('error')}_", ""]
    leaves = _leaves(m.layers)
    heaviest = sorted(leaves, key=lambda layer: -layer.macs)[:HEAVIEST]
    if heaviest:
        lines += ["| heaviest layers | type | MACs | share | params |", "|---|---|--:|--:|--:|"]
        for layer in heaviest:
            where = ""
            if layer.line is not None:
                at = names.line(layer.line) if layer.file is None else f"{layer.file}:{layer.line}"
                where = f" ({at})"
            lines.append(
                f"| `{layer.path}`{where} | {layer.type} | {format_macs(layer.macs)} | "
                f"{format_share(layer.macs, t.macs)} | {format_params(layer.params)} |"
            )
        lines.append("")
    if m.uncounted_ops:
        lines += ["not counted: " + ", ".join(f"`{u.op}` ×{u.count}" for u in m.uncounted_ops), ""]
    lines += [f"_{note}_\n" for note in m.notes]
    lines.append(_footer(anchored))
    return "\n".join(lines)


def _measured_on(model: ModelReport) -> str:
    info = model.measure or {}
    return str(info.get("device_name") or info.get("device") or "the device")


def _leaves(layers: Sequence[LayerCost]) -> list[LayerCost]:
    paths = [layer.path for layer in layers]
    return [
        layer
        for layer in layers
        if layer.path and not any(p.startswith(layer.path + ".") for p in paths)
    ]


def layer_card(anchored: AnchoredModel, layers: Sequence[LayerCost]) -> str:
    m = anchored.report
    total = m.total.macs if m.total else 0
    out: list[str] = []
    for layer in layers:
        out += [
            f"### {layer.path} · {layer.type}",
            "",
            f"**{format_macs(layer.macs)}** · {format_flops(layer.flops)} · "
            f"{params_text(layer.params)} · {format_share(layer.macs, total)} of {m.display_name}",
            "",
            f"output `{format_shape(layer.output_shape)}`"
            + (f" · called {layer.calls}×" if layer.calls > 1 else ""),
            "",
        ]
        if _split_text(layer):
            out += [f"train step: {_split_text(layer)}", ""]
        if layer.ops:
            out += [op_breakdown(layer.ops), ""]
        measured = measured_summary(layer, m.peak_gflops_per_s)
        if measured:
            share = f" · {100.0 * layer.time_share:.1f}% of the time" if layer.time_share else ""
            out += [f"measured on {_measured_on(m)}: {measured}{share}", ""]
    out.append(_footer(anchored))
    return "\n".join(out)


def line_card(anchored: AnchoredModel, cost: LineCost, names: LineNames = PLAIN) -> str:
    m = anchored.report
    total = m.total.macs if m.total else 0
    out = [
        f"### {names.line(cost.line)} of {m.display_name}.forward",
        "",
        f"**{format_macs(cost.macs)}** · {format_flops(cost.flops)} · "
        f"{format_share(cost.macs, total)} of {m.display_name}",
        "",
        f"output `{format_shape(cost.output_shape)}`"
        + (f" · runs {cost.calls}×" if cost.calls > 1 else ""),
        "",
    ]
    if _split_text(cost):
        out += [f"train step: {_split_text(cost)}", ""]
    if cost.ops:
        out += [op_breakdown(cost.ops), ""]
    out.append(_footer(anchored))
    return "\n".join(out)


def _inside(span: Span, line: int, col: int) -> bool:
    if line < span.line or line > span.end_line:
        return False
    if line == span.line and col < span.col:
        return False
    return not (line == span.end_line and col > span.end_col)


_ATTRIBUTE = re.compile(r"self\.([A-Za-z_][A-Za-z0-9_]*)")


def _attribute_at(text: str, col: int) -> str | None:
    """``fc2`` when ``col`` is on ``self.fc2`` in ``text``."""
    for match in _ATTRIBUTE.finditer(text):
        if match.start() <= col <= match.end():
            return match.group(1)
    return None


def hover_markdown(
    view: DocumentView,
    source: SourceAnalysis | None,
    line: int,
    col: int,
    text: str = "",
    names: LineNames = PLAIN,
) -> tuple[str, int] | None:
    """The card at 1-based ``line``, 0-based ``col`` (a Python index) of the line ``text``:
    a model's name, a layer used as ``self.name`` in its class, a layer's constructor line, a
    forward line. ``names`` says lines as the user sees them (a notebook's cell and line)."""
    if source is not None:
        for spec in source.models:
            if _inside(spec.name_span, line, col):
                anchored = view.model(spec.name)
                if anchored is not None and anchored.report.line == spec.line:
                    return model_card(anchored, names), line
        attribute = _attribute_at(text, col)
        for spec in source.models if attribute else ():
            anchored = view.model(spec.name)
            if anchored is None or not spec.line <= line <= spec.end_line:
                continue
            used = [layer for layer in anchored.report.layers if layer.path == attribute]
            if used:
                return layer_card(anchored, used), line
    for anchored in view.models:
        report: ModelReport = anchored.report
        layers = layers_by_line(report).get(line)
        if layers:
            return layer_card(anchored, layers), line
        cost = lines_by_line(report).get(line)
        if cost is not None and cost.macs > 0:
            return line_card(anchored, cost, names), line
    return None
