"""A measured report as text (``flopsight measure``): the module tree with each layer's MACs,
FLOPs, median latency, achieved GFLOP/s and share of the model's time, then a footer with the
end-to-end latency, the sum of the leaf layers' times, achieved GFLOP/s, peak and utilisation.
Pure functions, no torch; the hover's one-line summary lives here too.
"""

from __future__ import annotations

from flopsight.report.model import FileReport, LayerCost, ModelReport, editor_setting
from flopsight.report.table import (
    MAX_NAME_WIDTH,
    PLAIN,
    LineNames,
    SettingName,
    file_tail,
    inputs_text,
    line_cell,
    model_heading,
    not_counted_text,
    tree_rows,
)
from flopsight.report.units import format_flops, format_macs


def format_latency(ms: float | None) -> str:
    """``0.0421`` → ``42.1 µs``, ``4.2`` → ``4.20 ms``, ``1234`` → ``1.23 s``; ``—`` unknown."""
    if ms is None:
        return "—"
    if ms >= 1000:
        return f"{ms / 1000:.2f} s"
    if ms >= 1:
        return f"{ms:.2f} ms"
    return f"{ms * 1000:.1f} µs"


def format_gflops_per_s(value: float | None) -> str:
    """``975.3`` → ``975``, ``12.34`` → ``12.3``, ``0.456`` → ``0.46`` (GFLOP/s); ``—`` unknown."""
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def format_fraction(value: float | None) -> str:
    return "—" if value is None else f"{100.0 * value:.1f}%"


def measured_summary(layer: LayerCost | ModelReport, peak: float | None) -> str | None:
    """The hover's line: ``4.20 ms · 975 GFLOP/s · 31% of peak``; None when not measured."""
    if layer.latency_ms is None:
        return None
    parts = [format_latency(layer.latency_ms)]
    if layer.gflops_per_s is not None:
        parts.append(f"{format_gflops_per_s(layer.gflops_per_s)} GFLOP/s")
        if peak:
            parts.append(f"{100.0 * layer.gflops_per_s / peak:.0f}% of peak")
    return " · ".join(parts)


def measure_footer(model: ModelReport) -> list[str]:
    info = model.measure or {}
    lines = [
        f"End-to-end latency: {format_latency(model.latency_ms)} (median of "
        f"{info.get('iters', '?')} runs after {info.get('warmup', '?')} warm-up, no hooks)",
        f"Sum of leaf layer times: {format_latency(model.layers_latency_ms_sum)} (hooked runs, "
        "synchronised per layer)",
        f"Achieved: {format_gflops_per_s(model.gflops_per_s)} GFLOP/s",
    ]
    if model.peak_gflops_per_s is not None:
        source = info.get("peak_source", "")
        lines.append(
            f"Peak: {format_gflops_per_s(model.peak_gflops_per_s)} GFLOP/s"
            + (f" ({source})" if source else "")
        )
        lines.append(f"Utilisation: {format_fraction(model.utilisation)} of peak")
    elif info.get("peak_source"):
        lines.append(f"Peak: unknown ({info['peak_source']})")
    return lines


def render_measure_model(
    model: ModelReport, file: str, names: LineNames = PLAIN, settings: SettingName = editor_setting
) -> str:
    lines = [model_heading(model, file, names)]
    why = not_counted_text(model, file, names, settings, verb="measured")
    if why is not None or model.latency_ms is None:
        lines.append(f"  {why or 'not measured'}")
        return "\n".join(lines)
    info = model.measure or {}
    lines.append(
        f"  input {inputs_text(model.inputs)} · measured on {info.get('device', '?')} "
        f"({info.get('device_name', '?')}) · {info.get('dtype', '?')}"
    )
    header = ("Module (type)", "MACs", "FLOPs", "Latency", "GFLOP/s", "Time", "Line")
    cells = [
        (
            row.name[:MAX_NAME_WIDTH],
            format_macs(row.layer.macs),
            format_flops(row.layer.flops),
            format_latency(row.layer.latency_ms),
            format_gflops_per_s(row.layer.gflops_per_s),
            format_fraction(row.layer.time_share),
            line_cell(row.layer, model, names),
        )
        for row in tree_rows(model, fold=False)
    ]
    widths = [max(len(header[c]), *(len(r[c]) for r in cells)) for c in range(len(header))]

    def fmt(values: tuple[str, ...]) -> str:
        out = [v.ljust(widths[c]) if c == 0 else v.rjust(widths[c]) for c, v in enumerate(values)]
        return "  ".join(out).rstrip()

    rule = "─" * (sum(widths) + 2 * (len(widths) - 1))
    lines += [rule, fmt(header), rule, *(fmt(c) for c in cells), rule]
    lines += measure_footer(model)
    lines += [f"note: {n}" for n in model.notes]
    return "\n".join(lines)


def render_measure_table(
    report: FileReport, names: LineNames = PLAIN, settings: SettingName = editor_setting
) -> str:
    """Every measured model of a file, one table each; warnings and notes after them."""
    blocks = [
        render_measure_model(m, report.file, names, settings)
        for m in report.models
        if m.status == "ok" and m.latency_ms is not None
    ]
    listed, warnings, notes = file_tail(report, names, verb="measured")
    tail = [listed] if listed is not None else []
    tail += [f"warning: {w}" for w in warnings]
    tail += [f"note: {n}" for n in notes]
    if tail:
        blocks.append("\n".join(tail))
    return "\n\n".join(blocks) + "\n" if blocks else ""
