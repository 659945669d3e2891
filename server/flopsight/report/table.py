"""A report as text: the module tree like ptflops' ``print_per_layer_stat`` / torchinfo, then
ptflops' footer (``Computational complexity: 7.82 GMac`` ...). Pure functions, no torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flopsight.report.model import (
    ErrorSetting,
    FileReport,
    InputSpec,
    LayerCost,
    ModelReport,
    SourceWarning,
    editor_setting,
)
from flopsight.report.units import (
    format_bytes,
    format_flops,
    format_macs,
    format_params,
    format_shape,
    format_share,
)
from flopsight.source.notebook import VirtualModule

MAX_NAME_WIDTH = 64
DEVICE_TEXT = {
    "meta": "meta (no memory)",
    "meta-params": "meta parameters",
    "cpu": "CPU",
    "cuda": "CUDA",
    "mps": "MPS",
}


class LineNames:
    """How a report's lines are named: plain numbers here; a notebook says cell and line."""

    def column(self, line: int) -> str:
        """The table's Line column."""
        return str(line)

    def at(self, file: str, line: int | None) -> str:
        """``file:line``, for messages."""
        return f"{file}:{line}" if line is not None else file

    def line(self, line: int) -> str:
        """``line 12``, in prose."""
        return f"line {line}"


PLAIN = LineNames()

# How a setting is named to the reader: the editor's key, or the CLI's flag.
SettingName = Callable[[ErrorSetting], str]


class NotebookLines(LineNames):
    """A notebook's lines as cell and line: the analysed text joins its code cells."""

    def __init__(self, module: VirtualModule) -> None:
        self.module = module

    def column(self, line: int) -> str:
        where = self.module.to_cell(line)
        return f"{where[0].index + 1}:{where[1]}" if where else str(line)

    def at(self, file: str, line: int | None) -> str:
        return f"{file} ({self.module.describe(line)})" if line is not None else file

    def line(self, line: int) -> str:
        return self.module.describe(line)


@dataclass
class TreeRow:
    """One row of the module tree: ``prefix`` holds the tree's drawing (``│  ├─ ``)."""

    layer: LayerCost
    prefix: str
    # For a row standing for a run of identical siblings: how many, and the one they copy.
    copies: int = 0
    like: str = ""

    @property
    def name(self) -> str:
        layer = self.layer
        calls = f" ×{layer.calls}" if layer.calls > 1 else ""
        if layer.path == "":
            return f"{layer.type}{calls}"
        if self.copies:
            last = layer.path.rsplit(".", 1)[-1]
            return f"{self.prefix}{last} ({self.copies} × {layer.type}, as {self.like})"
        return f"{self.prefix}{layer.path.rsplit('.', 1)[-1]} ({layer.type}){calls}"


def footer_lines(model: ModelReport) -> list[str]:
    """ptflops' three closing lines, from the model's totals (a training step's split first)."""
    if model.total is None:
        return []
    step = []
    if model.total.forward_macs is not None:
        step.append(f"Training step: {format_macs(model.total.macs)} ({phases_text(model)})")
    return [
        *step,
        f"Computational complexity: {format_macs(model.total.macs)}",
        f"Computational complexity: {format_flops(model.total.flops)}",
        f"Number of parameters: {format_params(model.total.params)}"
        + _active(model.total.active_params),
    ]


def _active(active: int | None) -> str:
    # Mixture-of-Experts: the parameters one token uses, beside the total.
    return "" if active is None else f" · {format_params(active)} active"


def phases_text(model: ModelReport) -> str:
    """``fwd 106.3 GMac · bwd 212.7 GMac`` (and ``recompute``, when checkpointing re-ran any)."""
    total = model.total
    if total is None or total.forward_macs is None:
        return ""
    parts = [
        f"fwd {format_macs(total.forward_macs)}",
        f"bwd {format_macs(total.backward_macs or 0)}",
    ]
    if total.recompute_macs:
        parts.append(f"recompute {format_macs(total.recompute_macs)}")
    return " · ".join(parts)


def _parent(path: str) -> str:
    return path.rsplit(".", 1)[0] if "." in path else ""


def _depth(layer: LayerCost) -> int:
    return 0 if layer.path == "" else layer.path.count(".") + 1


def _root(model: ModelReport) -> LayerCost:
    for layer in model.layers:
        if layer.path == "":
            return layer
    total = model.total
    last_shape = model.lines[-1].output_shape if model.lines else None
    return LayerCost(
        path="",
        type=model.name,
        line=model.line if model.kind == "class" else None,
        calls=1,
        macs=total.macs if total else 0,
        flops=total.flops if total else 0,
        params=total.params if total else 0,
        output_shape=last_shape,
    )


def _leaf(layer: LayerCost) -> str:
    return layer.path.rsplit(".", 1)[-1]


MIN_RUN = 3  # identical siblings from which the rest of a run folds into one row


def tree_rows(model: ModelReport, depth: int | None = None, *, fold: bool = True) -> list[TreeRow]:
    """The module tree in ``named_modules()`` order, cut below ``depth`` (the root is depth 0).

    With ``fold``, a run of identical siblings (80 decoder layers) shows its first member with
    its subtree, then one row for the others, their costs summed: ``1–79 (79 × Block, as 0)``.
    """
    root = _root(model)
    everything: dict[str, list[LayerCost]] = {}
    for layer in model.layers:
        if layer.path != "":
            everything.setdefault(_parent(layer.path), []).append(layer)
    signatures: dict[str, tuple[object, ...]] = {}

    def signature(layer: LayerCost) -> tuple[object, ...]:
        # What makes two siblings the same: their own costs and their subtrees', by position.
        if layer.path not in signatures:
            own = (layer.type, layer.macs, layer.params, layer.calls, repr(layer.output_shape))
            kids = tuple(signature(k) for k in everything.get(layer.path, []))
            signatures[layer.path] = (own, kids)
        return signatures[layer.path]

    def runs(kids: list[LayerCost]) -> list[list[LayerCost]]:
        out: list[list[LayerCost]] = []
        for kid in kids:
            if fold and out and signature(out[-1][0]) == signature(kid):
                out[-1].append(kid)
            else:
                out.append([kid])
        split: list[list[LayerCost]] = []
        for run in out:
            split.extend([run] if len(run) >= MIN_RUN else [[k] for k in run])
        return split

    rows = [TreeRow(root, "")]

    def walk(path: str, indent: str, level: int) -> None:
        if depth is not None and level > depth:
            return
        groups = runs(everything.get(path, []))
        for i, group in enumerate(groups):
            last = i == len(groups) - 1
            first = group[0]
            if len(group) == 1:
                rows.append(TreeRow(first, indent + ("└─ " if last else "├─ ")))
                walk(first.path, indent + ("   " if last else "│  "), level + 1)
                continue
            rows.append(TreeRow(first, indent + "├─ "))
            walk(first.path, indent + "│  ", level + 1)
            rest = group[1:]
            folded = LayerCost(
                path=f"{path + '.' if path else ''}{_leaf(rest[0])}–{_leaf(rest[-1])}",
                type=first.type,
                line=first.line,
                calls=1,
                macs=sum(k.macs for k in rest),
                flops=sum(k.flops for k in rest),
                params=sum(k.params for k in rest),
                output_shape=first.output_shape,
            )
            if first.forward_macs is not None:
                folded.forward_macs = sum(k.forward_macs or 0 for k in rest)
                folded.backward_macs = sum(k.backward_macs or 0 for k in rest)
                folded.recompute_macs = sum(k.recompute_macs or 0 for k in rest)
            prefix = indent + ("└─ " if last else "├─ ")
            rows.append(TreeRow(folded, prefix, copies=len(rest), like=_leaf(first)))

    walk("", "", 1)
    return rows


def line_cell(layer: LayerCost, model: ModelReport, names: LineNames = PLAIN) -> str:
    if layer.file is not None and layer.line is not None:  # built in another workspace file
        return f"{layer.file}:{layer.line}"
    if layer.line is not None:
        return names.column(layer.line)
    return names.column(model.line) if layer.path == "" else ""


def _truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def duration_text(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def inputs_text(inputs: list[InputSpec]) -> str:
    return ", ".join(f"{i.name} {format_shape(i.shape)} {i.dtype}" for i in inputs) or "none"


def model_heading(model: ModelReport, file: str, names: LineNames = PLAIN) -> str:
    kind = "class" if model.kind == "class" else "instance"
    shown = model.display_name
    name = shown if shown == model.name else f"{shown} ({model.name})"
    return f"{name} · {kind} at {names.at(file, model.line)}"


def render_model_table(
    model: ModelReport,
    file: str,
    convention: str,
    depth: int | None = None,
    names: LineNames = PLAIN,
    settings: SettingName = editor_setting,
) -> str:
    """One model: heading, module tree with MACs/params and their shares, then ptflops' footer."""
    lines = [model_heading(model, file, names)]
    why = not_counted_text(model, file, names, settings)
    if why is not None or model.total is None:
        lines.append(f"  {why}")
        return "\n".join(lines)
    lines.append(
        f"  input {inputs_text(model.inputs)} · {convention} convention · "
        f"built on {DEVICE_TEXT.get(model.device or '', model.device or '?')}"
        + (f" · {duration_text(model.elapsed_ms)}" if model.elapsed_ms else "")
    )
    total = model.total
    rows = tree_rows(model, depth)
    header: tuple[str, ...] = (
        "Module (type)",
        "MACs",
        "share",
        "Params",
        "share",
        "Output shape",
        "Line",
    )
    cells: list[tuple[str, ...]] = [
        (
            _truncate(row.name, MAX_NAME_WIDTH),
            format_macs(row.layer.macs),
            format_share(row.layer.macs, total.macs),
            format_params(row.layer.params),
            format_share(row.layer.params, total.params),
            format_shape(row.layer.output_shape),
            line_cell(row.layer, model, names),
        )
        for row in rows
    ]
    right = {1, 2, 3, 4, 6}
    if total.forward_macs is not None:
        # Training step: MACs is fwd + bwd (+ recompute); the split goes after it.
        split = ["fwd", "bwd"] + (["recompute"] if total.recompute_macs else [])
        header = (header[0], header[1], *split, *header[2:])
        cells = [
            (
                c[0],
                c[1],
                format_macs(row.layer.forward_macs or 0),
                format_macs(row.layer.backward_macs or 0),
                *([format_macs(row.layer.recompute_macs or 0)] if total.recompute_macs else []),
                *c[2:],
            )
            for row, c in zip(rows, cells, strict=True)
        ]
        right = {c for c in range(1, len(header)) if header[c] != "Output shape"}
    widths = [max(len(header[c]), *(len(r[c]) for r in cells)) for c in range(len(header))]

    def fmt(values: tuple[str, ...]) -> str:
        out = [
            v.rjust(widths[c]) if c in right else v.ljust(widths[c]) for c, v in enumerate(values)
        ]
        return "  ".join(out).rstrip()

    rule = "─" * (sum(widths) + 2 * (len(widths) - 1))
    lines += [rule, fmt(header), rule, *(fmt(c) for c in cells), rule]
    lines += footer_lines(model)
    extra = []
    if total.trainable_params != total.params:
        extra.append(f"trainable {format_params(total.trainable_params)}")
    extra.append(f"weights {format_bytes(total.param_bytes)}")
    extra.append(f"activations {format_bytes(total.activation_bytes)}")
    lines.append("  (" + " · ".join(extra) + ")")
    if model.uncounted_ops:
        ops = ", ".join(f"{u.op} ×{u.count}" for u in model.uncounted_ops)
        lines.append(f"Not counted (no formula in the {convention} convention): {ops}")
    if model.no_backward:
        lines.append(f"FS206 {model.no_backward} (the forward is counted)")
    lines += [f"note: {n}" for n in model.notes]
    return "\n".join(lines)


# The phases a model error names in prose (the other kinds say what happened themselves).
PHASES = {"build": "building it", "forward": "running forward"}


def error_text(
    model: ModelReport, file: str, names: LineNames = PLAIN, settings: SettingName = editor_setting
) -> str:
    """``FS202 RuntimeError: mat1 and mat2 ... (at file:21, while running forward)``."""
    err = model.error
    if err is None:
        return f"{model.name} could not be counted"
    where = names.at(file, err.line if err.line is not None else model.line)
    phase = PHASES.get(err.kind)
    during = f", while {phase}" if phase else ""
    return f"{err.code} {err.type}: {err.text(settings)} (at {where}{during})"


def not_counted_text(
    model: ModelReport,
    file: str,
    names: LineNames = PLAIN,
    settings: SettingName = editor_setting,
    verb: str = "counted",
) -> str | None:
    """Why a model has no table (no input shape, or its error); None when it has one. The one
    copy every renderer (text, Markdown, measure) shows."""
    if model.status == "skipped":
        return (
            f"not {verb}: no input shape (add `# flopsight: input=(...)` to "
            f"{names.line(model.line)} or pass --input)"
        )
    if model.status == "error":
        return f"error: {error_text(model, file, names, settings)}"
    return None


def file_tail(
    report: FileReport, names: LineNames = PLAIN, verb: str = "counted"
) -> tuple[str | None, list[str], list[str]]:
    """What follows a file's tables, undecorated: the models without an input shape (one
    sentence, None when there are none), the failed top-level statements, the notes."""
    skipped = [m for m in report.models if m.status == "skipped"]
    listed = skipped_text(skipped, names, verb) if skipped else None
    return listed, [warning_text(w, report.file, names) for w in report.warnings], report.notes


def skipped_text(models: list[ModelReport], names: LineNames = PLAIN, verb: str = "counted") -> str:
    """``Not counted (no input shape): RMSNorm (line 12), Attention (line 27)``."""
    listed = ", ".join(f"{m.name} ({names.line(m.line)})" for m in models)
    return (
        f"Not {verb} (no input shape): {listed}; add `# flopsight: input=(...)` to count one "
        "on its own, or pass --model NAME --input SHAPE"
    )


def warning_text(warning: SourceWarning, file: str, names: LineNames = PLAIN) -> str:
    where = names.at(file, warning.line)
    return f"{where}: top-level statement failed (counting went on): {warning.message}"


def render_table(
    report: FileReport,
    depth: int | None = None,
    *,
    include_errors: bool = True,
    names: LineNames = PLAIN,
    settings: SettingName = editor_setting,
) -> str:
    """Every model of a file, one table each; warnings and notes after them. Nothing at all
    (not even a blank line) when there is nothing to show."""
    blocks = []
    skipped = [m for m in report.models if m.status == "skipped"]
    for model in report.models:
        if (model.status == "error" and not include_errors) or model.status == "skipped":
            continue
        blocks.append(
            render_model_table(model, report.file, report.convention, depth, names, settings)
        )
    listed, warnings, notes = file_tail(report, names)
    tail = []
    if skipped and len(skipped) == len(report.models):
        tail += [
            render_model_table(m, report.file, report.convention, None, names, settings)
            for m in skipped
        ]
    elif listed is not None:
        tail.append(listed)
    tail += [f"warning: {w}" for w in warnings]
    tail += [f"note: {n}" for n in notes]
    if not report.models:
        tail.insert(0, f"{report.file}: no nn.Module models found")
    if tail:
        blocks.append("\n".join(tail))
    return "\n\n".join(blocks) + "\n" if blocks else ""
