"""Code lenses above each analysed model, the ``flopsight.server.showReport`` table, the summary.

The lens reads ``7.82 GMac · 15.64 GFLOPs · 28.68 M params · (1, 3, 224, 224)`` (a training
step: ``train step 23.46 GMac (fwd 7.82 · bwd 15.64) · 28.68 M params · ...``) and runs the
command ``flopsight.server.showReport`` with ``[uri, model name]``, whose answer is the per-layer
table as markdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flopsight.gpus import memory_summary
from flopsight.lsp.baseline import Baseline
from flopsight.lsp.documents import AnchoredModel, DocumentView
from flopsight.lsp.hover import format_inputs
from flopsight.report.diff import ModelDelta, lens_delta, totals_of
from flopsight.report.hints import params_text
from flopsight.report.markdown import render_model_markdown
from flopsight.report.model import FileReport, ModelReport
from flopsight.report.table import PLAIN, LineNames
from flopsight.report.units import (
    format_flops,
    format_macs,
    step_title,
)

# The server's commands; editor commands (the VS Code extension's flopsight.showReport) differ.
SHOW_REPORT = "flopsight.server.showReport"
MEASURE = "flopsight.server.measure"
MAX_ERROR = 80


@dataclass(frozen=True)
class Lens:
    line: int  # 1-based, current text
    title: str
    model: str
    # The document the model is in, when not the lens's own (a class another file's model runs).
    uri: str | None = None


def model_title(model: ModelReport) -> str | None:
    if model.status == "ok" and model.total is not None:
        t = model.total
        parts = [format_macs(t.macs), format_flops(t.flops), params_text(t.params, t.active_params)]
        if t.forward_macs is not None:
            step = step_title(t.macs, t.forward_macs, t.backward_macs or 0, t.recompute_macs or 0)
            parts = [step, params_text(t.params, t.active_params)]
        if model.inputs:
            parts.append(format_inputs(model.inputs))
        if model.memory is not None and memory_summary(model.memory):  # issue 15
            parts.append(memory_summary(model.memory))
        return " · ".join(parts)
    if model.status == "error" and model.error is not None:
        text = model.error.text().strip()
        message = text.splitlines()[0] if text else ""
        text = f"flopsight: {model.error.type}: {message}"
        return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 1] + "…"
    return None


def lenses(view: DocumentView, baseline: Baseline | None = None) -> list[Lens]:
    out = []
    for anchored in view.models:
        title = model_title(anchored.report)
        if title is not None and baseline is not None and anchored.report.status == "ok":
            then = baseline.models.get(anchored.report.name)
            delta = ModelDelta(anchored.report.name, totals_of(then), totals_of(anchored.report))
            change = lens_delta(delta, baseline.rev)
            title = f"{title} · {change}" if change else title
        if title is not None:
            out.append(Lens(anchored.report.line, title, anchored.report.name))
    return out


def report_markdown(anchored: AnchoredModel, path: str = "", names: LineNames = PLAIN) -> str:
    """The per-layer table of one model as markdown (``flopsight report --format markdown``)."""
    return render_model_markdown(anchored.report, path, anchored.convention, names=names)


def log_lines(path: str, view: DocumentView, names: LineNames = PLAIN) -> Sequence[str]:
    out = []
    for anchored in view.models:
        m = anchored.report
        out.append(f"{names.at(path, m.line)}: {m.display_name}: {model_title(m) or m.status}")
    return out


def show_report(
    view: DocumentView | None,
    path: str,
    name: str | None,
    fmt: str | None = None,
    names: LineNames = PLAIN,
) -> str | dict[str, Any]:
    """What ``flopsight.server.showReport`` answers: markdown, or the FileReport JSON
    (``fmt="json"``)."""
    if view is None:
        return "flopsight: no analysis for this document (is flopsight.execute off?)"
    models = [m for m in view.models if name is None or m.report.name == name]
    if fmt == "json":
        convention = models[0].convention if models else "macs"
        report = FileReport(
            file=path,
            convention=convention,
            models=[m.report for m in models],
            warnings=list(view.warnings),
            notes=list(view.notes),
        )
        return report.to_json()
    if not models:
        return f"flopsight: no analysed model named {name!r} in {path}"
    return "\n\n".join(report_markdown(m, path, names) for m in models)
