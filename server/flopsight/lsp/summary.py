"""What an editor's status bar and report view show, as display strings: clients only show them.

``summary`` is the ``flopsight/summary`` notification's params (sent after every analysis);
``report_view`` is what ``flopsight.server.showReport`` answers with ``{"format": "view"}``: the
report page's facts, rows and bars, every number already formatted by ``flopsight.report.units``.
Both are documented in ``flopsight.lsp.handlers``. Protocol-free.
"""

from __future__ import annotations

from typing import Any

from flopsight.gpus import format_bytes as format_peak
from flopsight.lsp.documents import AnchoredModel, DocumentView
from flopsight.lsp.lens import model_title
from flopsight.report.model import LayerCost, ModelReport
from flopsight.report.units import (
    format_bytes,
    format_flops,
    format_macs,
    format_params,
    format_shape,
    format_share,
)

MAX_BARS = 10
NO_SHAPE_HINT = "Add `# flopsight: input=(...)` to a model class to count it."


def cost_text(m: ModelReport) -> str | None:
    """``7.82 GMac · 28.68 M``: what a status bar shows for a counted model."""
    if m.status != "ok" or m.total is None:
        return None
    return f"{format_macs(m.total.macs)} · {format_params(m.total.params)}"


def detail_text(m: ModelReport) -> str:
    """One model in a tooltip: ``NeuralNetwork (line 7): 670.73 KMac · 1.34 MFLOPs · 669.71 k
    params``, or why it has no figures."""
    where = f"{m.display_name} (line {m.line})"
    if m.status == "ok" and m.total is not None:
        t = m.total
        figures = f"{format_macs(t.macs)} · {format_flops(t.flops)} · {format_params(t.params)}"
        return f"{where}: {figures} params"
    if m.status == "skipped":
        return f"{where}: not analysed (no input shape)"
    return f"{where}: failed" + (f" — {m.error.text()}" if m.error else "")


def _status(models: list[ModelReport], heaviest: ModelReport | None) -> dict[str, Any] | None:
    """The status bar: ``text``, ``tooltip`` and ``warning`` (a model failed); None: hide it."""
    if not models:
        return None
    lines = [detail_text(m) for m in models]
    failed = [m for m in models if m.status == "error"]
    if heaviest is not None:
        title = f"Heaviest model: {heaviest.display_name}" if len(models) > 1 else None
        return {
            "text": f"⚡ {cost_text(heaviest)}",
            "tooltip": "\n".join([title or heaviest.display_name, *lines]),
            "warning": bool(failed),
        }
    if failed:
        what = (
            f"{failed[0].display_name} failed"
            if len(failed) == 1
            else f"{len(failed)} models failed"
        )
        return {"text": f"flopsight: {what}", "tooltip": "\n".join(lines), "warning": True}
    return {
        "text": "⚡ no input shape",
        "tooltip": "\n".join([*lines, NO_SHAPE_HINT]),
        "warning": False,
    }


def summary(uri: str, view: DocumentView) -> dict[str, Any]:
    """The ``flopsight/summary`` notification's params (see ``flopsight.lsp.handlers``)."""
    reports = [anchored.report for anchored in view.models]
    models: list[dict[str, Any]] = []
    for m in reports:
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
                "error": m.error.text() if m.error else None,
                "cost": cost_text(m),
                "detail": detail_text(m),
            }
        )
    macs = {i: m.total.macs for i, m in enumerate(reports) if m.status == "ok" and m.total}
    best = max(macs, key=lambda i: macs[i], default=None)
    heaviest = None if best is None else reports[best]
    return {
        "uri": uri,
        "models": models,
        "heaviest": None if best is None else models[best],
        "text": summary_text(heaviest, len(models)),
        "status": _status(reports, heaviest),
        "lines": [detail_text(m) for m in reports],
    }


def summary_text(heaviest: ModelReport | None, count: int) -> str:
    """One line for a log: the heaviest model's MACs and params."""
    if heaviest is None:
        return "flopsight: no results" if count else "flopsight: no models"
    more = f" (+{count - 1})" if count > 1 else ""
    return f"{heaviest.display_name}: {cost_text(heaviest)}{more}"


def _is_leaf(layer: LayerCost, paths: list[str]) -> bool:
    return layer.path != "" and not any(p.startswith(layer.path + ".") for p in paths)


def _depth(layer: LayerCost) -> int:
    return 0 if layer.path == "" else layer.path.count(".") + 1


def _facts(m: ModelReport) -> list[list[str]]:
    facts: list[list[str]] = []
    t = m.total
    if t is not None:
        frozen = t.params - t.trainable_params
        params = format_params(t.params) + (f" ({format_params(frozen)} frozen)" if frozen else "")
        facts += [
            ["MACs", format_macs(t.macs)],
            ["FLOPs", format_flops(t.flops)],
            ["Params", params],
            ["Param memory", format_bytes(t.param_bytes)],
            ["Activations", format_bytes(t.activation_bytes)],
        ]
    inputs = [
        f"{i.name}: {format_shape(i.shape)}" + ("" if i.dtype == "float32" else f" {i.dtype}")
        for i in m.inputs
    ]
    facts.append(["Input", ", ".join(inputs) or "—"])
    if m.device:
        facts.append(["Built on", m.device])
    if m.elapsed_ms:
        facts.append(["Analysis", f"{round(m.elapsed_ms)} ms"])
    return facts


def memory_chart(m: ModelReport) -> dict[str, Any] | None:
    """The live bytes over the tracked step as geometry (x, y in 0..1, y relative to the peak),
    its phase spans in order and the peak's labels; None without a memory timeline (issue 15)."""
    mem, timeline = m.memory, m.memory_timeline
    if not mem or not timeline or not isinstance(mem.get("peak_bytes"), int):
        return None
    raw = [p for p in timeline.get("points", []) if isinstance(p, dict)]
    points = [(int(p["step"]), int(p["bytes"]), str(p["phase"])) for p in raw]
    peak = max(int(mem["peak_bytes"]), *(b for _, b, _ in points), 0)
    if not points or peak <= 0:
        return None
    first, last = points[0][0], points[-1][0]
    span = (last - first) or 1

    def x_of(step: int) -> float:
        return round((step - first) / span, 4)

    xy = [[x_of(s), round(b / peak, 4)] for s, b, _ in points]
    phases: list[dict[str, Any]] = []
    for s, _, phase in points:
        if not phases or phases[-1]["name"] != phase:
            if phases:
                phases[-1]["to"] = x_of(s)
            phases.append({"name": phase, "from": x_of(s), "to": 1.0})
    top = max(range(len(points)), key=lambda i: points[i][1])
    at: dict[str, Any] = mem.get("peak_at") or {}
    where = str(at.get("phase") or points[top][2])
    if at.get("path"):
        where += f", at {at['path']}"
    at_peak: dict[str, Any] = mem.get("at_peak") or {}
    parts = [f"{k} {format_bytes(v)}" for k, v in at_peak.items() if isinstance(v, int) and v]
    return {
        "title": "Memory over the step",
        "points": xy,
        "phases": phases,
        "peak": {
            "index": top,
            "x": xy[top][0],
            "y": xy[top][1],
            "label": f"peak {format_peak(int(mem['peak_bytes']))} ({where})",
        },
        "max_label": format_peak(peak),
        "summary": "At the peak: " + (" · ".join(parts) or "nothing live"),
    }


def model_view(anchored: AnchoredModel, max_bars: int = MAX_BARS) -> dict[str, Any]:
    """One model of the report page: facts, the layer tree, the heaviest leaf layers."""
    m = anchored.report
    whole = m.total.macs if m.total else 0
    root = f"({m.display_name})"
    rows = [
        {
            "path": root if layer.path == "" else layer.path,
            "name": root if layer.path == "" else layer.path.rsplit(".", 1)[-1],
            "type": layer.type,
            "depth": _depth(layer),
            # The line in this document; a layer built in another file names it in ``file``.
            "line": layer.line if layer.file is None else None,
            "file": None if layer.file is None else f"{layer.file}:{layer.line}",
            "calls": layer.calls,
            "macs": format_macs(layer.macs),
            "share": format_share(layer.macs, whole),
            "params": format_params(layer.params),
            "shape": format_shape(layer.output_shape),
        }
        for layer in m.layers
    ]
    paths = [layer.path for layer in m.layers]
    heavy = sorted(
        (layer for layer in m.layers if layer.macs > 0 and _is_leaf(layer, paths)),
        key=lambda layer: -layer.macs,
    )[:max_bars]
    top = heavy[0].macs if heavy else 0
    bars = [
        {
            "label": layer.path,
            "type": layer.type,
            "line": layer.line if layer.file is None else None,
            "macs": format_macs(layer.macs),
            "share": format_share(layer.macs, whole),
            "width": round(1000 * layer.macs / top) / 10 if top else 0,
        }
        for layer in heavy
    ]
    error = None
    if m.status == "error" and m.error is not None:
        at = f" (line {m.error.line})" if m.error.line else ""
        error = f"{m.error.type}: {m.error.text()}{at}"
    elif m.status == "skipped":
        error = "Not analysed: the model has no input shape. " + NO_SHAPE_HINT
    return {
        "name": m.name,
        "title": m.display_name,
        "line": m.line,
        "status": m.status,
        "error": error,
        "facts": _facts(m),
        "rows": rows,
        "bars": bars,
        "uncounted": [f"{u.op} ×{u.count}" for u in m.uncounted_ops],
        "memory": memory_chart(m),
    }


def report_view(view: DocumentView, path: str, name: str | None = None) -> dict[str, Any]:
    """The report page of a document (every model, or the one named)."""
    models = [m for m in view.models if name is None or m.report.name == name]
    return {
        "schema": "flopsight.view/1",
        "file": path,
        "convention": models[0].convention if models else "macs",
        "models": [model_view(m) for m in models],
        "warnings": [f"line {w.line}: {w.message}" if w.line else w.message for w in view.warnings],
        "notes": list(view.notes),
    }
