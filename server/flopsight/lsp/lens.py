"""Code lenses above each analysed model, the ``flopsight.showReport`` table and the save summary.

The lens reads ``7.82 GMac · 15.64 GFLOPs · 28.68 M params · (1, 3, 224, 224)`` and runs the
command ``flopsight.showReport`` with ``[uri, model name]``, whose answer is the per-layer table
as markdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flopsight.lsp.baseline import Baseline
from flopsight.lsp.documents import AnchoredModel, DocumentView
from flopsight.lsp.hover import format_inputs
from flopsight.report.diff import ModelDelta, lens_delta, totals_of
from flopsight.report.markdown import render_model_markdown
from flopsight.report.model import FileReport, ModelReport
from flopsight.report.units import (
    format_flops,
    format_macs,
    format_params,
)

SHOW_REPORT = "flopsight.showReport"
MEASURE = "flopsight.measure"
MAX_ERROR = 80


@dataclass(frozen=True)
class Lens:
    line: int  # 1-based, current text
    title: str
    model: str


def model_title(model: ModelReport) -> str | None:
    if model.status == "ok" and model.total is not None:
        t = model.total
        parts = [format_macs(t.macs), format_flops(t.flops), f"{format_params(t.params)} params"]
        if model.inputs:
            parts.append(format_inputs(model.inputs))
        return " · ".join(parts)
    if model.status == "error" and model.error is not None:
        message = model.error.message.strip().splitlines()[0] if model.error.message.strip() else ""
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


def report_markdown(anchored: AnchoredModel, path: str = "") -> str:
    """The per-layer table of one model as markdown (``flopsight report --format markdown``)."""
    return render_model_markdown(anchored.report, path, anchored.convention)


def summary(uri: str, view: DocumentView) -> dict[str, Any]:
    """The ``flopsight/summary`` notification's params (see ``flopsight.lsp.handlers``)."""
    models: list[dict[str, Any]] = []
    for anchored in view.models:
        m = anchored.report
        t = m.total
        models.append(
            {
                "name": m.display_name,
                "line": m.line - 1,
                "status": m.status,
                "macs": t.macs if t else None,
                "flops": t.flops if t else None,
                "params": t.params if t else None,
                "label": model_title(m) or m.status,
                "error": m.error.message if m.error else None,
            }
        )
    ok = [m for m in models if m["status"] == "ok" and m["macs"] is not None]
    heaviest = max(ok, key=lambda m: m["macs"], default=None)
    return {
        "uri": uri,
        "models": models,
        "heaviest": heaviest,
        "text": summary_text(heaviest, len(models)),
    }


def summary_text(heaviest: dict[str, Any] | None, count: int) -> str:
    """Status-bar text: the heaviest model's MACs and params."""
    if heaviest is None:
        return "flopsight: no results" if count else "flopsight: no models"
    more = f" (+{count - 1})" if count > 1 else ""
    macs, params = format_macs(heaviest["macs"]), format_params(heaviest["params"])
    return f"{heaviest['name']}: {macs} · {params}{more}"


def log_lines(path: str, view: DocumentView) -> Sequence[str]:
    out = []
    for anchored in view.models:
        m = anchored.report
        out.append(f"{path}:{m.line}: {m.display_name}: {model_title(m) or m.status}")
    return out


def show_report(
    view: DocumentView | None, path: str, name: str | None, fmt: str | None = None
) -> str | dict[str, Any]:
    """What ``flopsight.showReport`` answers: markdown, or the FileReport JSON (``fmt="json"``)."""
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
    return "\n\n".join(report_markdown(m, path) for m in models)
