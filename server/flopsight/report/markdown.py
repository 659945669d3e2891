"""A report as Markdown: ``flopsight report --format markdown`` and the editor's
``flopsight.server.showReport`` page. Pure functions, no torch.
"""

from __future__ import annotations

from flopsight.report.model import FileReport, ModelReport, editor_setting
from flopsight.report.table import (
    DEVICE_TEXT,
    PLAIN,
    LineNames,
    SettingName,
    file_tail,
    footer_lines,
    inputs_text,
    line_cell,
    not_counted_text,
    tree_rows,
)
from flopsight.report.units import (
    format_bytes,
    format_flops,
    format_macs,
    format_params,
    format_shape,
    format_share,
)

INDENT = "\u00a0\u00a0\u00a0"  # non-breaking: Markdown keeps it, so the tree shows its depth


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def render_model_markdown(
    model: ModelReport,
    file: str,
    convention: str,
    depth: int | None = None,
    names: LineNames = PLAIN,
    settings: SettingName = editor_setting,
) -> str:
    title = model.display_name
    if title != model.name:
        title = f"{title} ({model.name})"
    out = [f"### {title}", "", f"`{names.at(file, model.line)}` · {model.kind}"]
    why = not_counted_text(model, file, names, settings)
    if why is not None or model.total is None:
        out.append(f"\n{_escape(why or '')}")
        return "\n".join(out)
    total = model.total
    device = DEVICE_TEXT.get(model.device or "", model.device or "?")
    out[-1] += (
        f" · input `{inputs_text(model.inputs)}` · convention `{convention}` · built on {device}"
    )
    out += [
        "",
        f"**{format_macs(total.macs)}** · {format_flops(total.flops)} · "
        f"**{format_params(total.params)} params**"
        + (f" · {format_params(total.active_params)} active" if total.active_params else ""),
        "",
        "| Module | Type | MACs | Share | Params | Share | Output shape | Line |",
        "|---|---|--:|--:|--:|--:|---|--:|",
    ]
    for row in tree_rows(model, depth):
        layer = row.layer
        depth_of = 0 if layer.path == "" else layer.path.count(".") + 1
        name = model.name if layer.path == "" else layer.path.rsplit(".", 1)[-1]
        calls = f" ×{layer.calls}" if layer.calls > 1 else ""
        if row.copies:
            calls = f" ({row.copies} ×, as `{row.like}`)"
        line = line_cell(layer, model, names)
        out.append(
            f"| {INDENT * depth_of}`{_escape(name)}`{calls} | {_escape(layer.type)} | "
            f"{format_macs(layer.macs)} | {format_share(layer.macs, total.macs)} | "
            f"{format_params(layer.params)} | {format_share(layer.params, total.params)} | "
            f"{format_shape(layer.output_shape)} | {line} |"
        )
    out += ["", "```", *footer_lines(model), "```"]
    out.append(
        f"\nTrainable params {format_params(total.trainable_params)} · weights "
        f"{format_bytes(total.param_bytes)} · activations {format_bytes(total.activation_bytes)}"
    )
    if model.uncounted_ops:
        ops = ", ".join(f"`{u.op}` ×{u.count}" for u in model.uncounted_ops)
        out.append(f"\nNot counted (no formula in the `{convention}` convention): {ops}")
    out += [f"\n_{n}_" for n in model.notes]
    return "\n".join(out)


def render_markdown(
    report: FileReport,
    depth: int | None = None,
    names: LineNames = PLAIN,
    settings: SettingName = editor_setting,
) -> str:
    """Every model of a file, then the file's warnings and notes."""
    blocks = [f"## flopsight · `{report.file}`"]
    counted = [m for m in report.models if m.status != "skipped"]
    listed, warnings, notes = file_tail(report, names)
    if not counted:
        counted, listed = report.models, None
    blocks += [
        render_model_markdown(m, report.file, report.convention, depth, names, settings)
        for m in counted
    ]
    if listed is not None:
        blocks.append(_escape(listed))
    if not report.models:
        blocks.append("No `nn.Module` models found.")
    if warnings:
        blocks.append("**Warnings**\n\n" + "\n".join(f"- {_escape(w)}" for w in warnings))
    if notes:
        blocks.append("\n".join(f"_{n}_" for n in notes))
    return "\n\n".join(blocks) + "\n"
