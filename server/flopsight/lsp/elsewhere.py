"""Numbers in the workspace's other files: what analysed models charge to a document they run
through (``layers.py`` shows what ``GPT`` in ``model.py`` spends in its ``Attention``).

A model's report keys each layer and line by file (``file`` None: the model's own file); the
session finds the models that ran a document's current text (``Use``) and these functions turn
their entries for that file into hints, hover sections and lenses. Protocol-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flopsight.lsp.hints import HintOptions, LineHint, label_tooltip
from flopsight.report.hints import layers_by_line, model_line_labels, share_percent
from flopsight.report.model import LayerCost, LineCost, ModelReport
from flopsight.report.units import format_macs, format_params, format_share
from flopsight.source.model import SourceAnalysis


@dataclass(frozen=True)
class Use:
    """One analysed model that ran a document's current text."""

    report: ModelReport
    # The analysed document, and where the model is, as the hover says it: ``model.py:6``.
    uri: str
    where: str


def _header(use: Use, runs: int) -> str:
    return f"in {use.report.display_name}, {use.where}" + (f" · ×{runs}" if runs > 1 else "")


def _runs(layers: Sequence[LayerCost], cost: LineCost | None) -> int:
    """How often a line ran in one pass: the modules it built (their calls), or its own runs."""
    if layers:
        return sum(max(layer.calls, 1) for layer in layers)
    return cost.calls if cost is not None else 0


def hints(use: Use, file: str, options: HintOptions) -> list[LineHint]:
    """The hints ``use``'s model puts on ``file``'s lines; each tooltip names the model."""
    out = []
    for label in model_line_labels(use.report, options.show, options.min_share, file=file):
        runs = _runs(label.layers, label.cost)
        tooltip = f"**{_header(use, runs)}**\n\n{label_tooltip(use.report, label)}"
        out.append(LineHint(label.line, label.label, tooltip, label.kind))
    return out


def hover(uses: Sequence[Use], file: str, line: int) -> str | None:
    """A section per model with work on ``file``'s ``line``: which model, where, how often."""
    sections = []
    for use in uses:
        report = use.report
        total = report.total.macs if report.total else 0
        layers = layers_by_line(report, file).get(line, [])
        cost = next((c for c in report.lines if c.file == file and c.line == line), None)
        if not layers and (cost is None or not cost.macs):
            continue
        runs = _runs(layers, cost)
        macs = sum(layer.macs for layer in layers) if layers else cost.macs if cost else 0
        parts = [f"**{format_macs(macs)}**", f"{format_share(macs, total)} of the model"]
        if layers:
            parts.append(f"{format_params(sum(layer.params for layer in layers))} params")
            parts.append(", ".join(f"`{layer.path}`" for layer in layers[:4]))
            if len(layers) > 4:
                parts[-1] += f" +{len(layers) - 4}"
        sections.append(f"#### {_header(use, runs)}\n\n" + " · ".join(parts))
    return "\n\n".join(sections) if sections else None


@dataclass(frozen=True)
class ClassCost:
    line: int  # the class line in the document
    title: str


def class_lenses(use: Use, file: str, source: SourceAnalysis) -> list[ClassCost]:
    """A lens above each class of ``file`` that ``use``'s model instantiates: its modules'
    MACs and params summed, how many, and their share (``in GPT: 737.28 KMac ×3 · 60.1 %``)."""
    report = use.report
    total = report.total.macs if report.total else 0
    out = []
    for spec in source.models:
        if spec.kind != "class":
            continue
        # The model's modules of a class this file defines (by name: the model runs the file).
        mine = [layer for layer in report.layers if layer.type == spec.name and layer.path]
        if not mine:
            continue
        macs = sum(layer.macs for layer in mine)
        params = sum(layer.params for layer in mine)
        count = f" ×{len(mine)}" if len(mine) > 1 else ""
        title = (
            f"in {report.display_name}: {format_macs(macs)}{count} · "
            f"{share_percent(macs, total):.1f} % · {format_params(params)} params · {use.where}"
        )
        out.append(ClassCost(spec.line, title))
    return out
