"""Every convention side by side (``flopsight report --compare``, the class line's hover).

Reads ``ModelReport.counts`` (every convention from one pass) and says where each differs
from the ``macs`` convention, by op family: "fvcore − macs = +1.2 %: norm 0.9 %, pool 0.3 %".
"""

from __future__ import annotations

from collections.abc import Sequence

from flopsight.report.model import ConventionCount, FileReport, ModelReport
from flopsight.report.table import PLAIN, LineNames, model_heading
from flopsight.report.units import format_flops, format_macs, format_params

# The order and the names people quote them by (``macs`` is torchvision's published column).
ORDER = ("macs", "ptflops", "fvcore", "deepspeed")
LABELS = {"macs": "torchvision", "ptflops": "ptflops", "fvcore": "fvcore", "deepspeed": "DeepSpeed"}
_PREFIXES = ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K"))


def _ordered(model: ModelReport) -> list[ConventionCount]:
    rank = {name: i for i, name in enumerate(ORDER)}
    forward = [c for c in model.counts if c.phase == "forward"]
    return sorted(forward, key=lambda c: rank.get(c.convention, len(ORDER)))


def short_line(model: ModelReport) -> str | None:
    """``torchvision 7.73 · ptflops 7.82 · fvcore 7.79 · DeepSpeed 7.73 GMac``, one unit for all."""
    counts = _ordered(model)
    if len(counts) < 2:
        return None
    largest = max(c.macs for c in counts)
    scale, prefix = next(((s, p) for s, p in _PREFIXES if largest >= s), (1, ""))
    parts = [f"{LABELS.get(c.convention, c.convention)} {c.macs / scale:.2f}" for c in counts]
    return " · ".join(parts) + f" {prefix}Mac"


def _percent(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:+.1f} %"


def family_difference(
    ops: dict[str, int], base_ops: dict[str, int], base_total: int, limit: int = 4
) -> str:
    """The families that make up a difference, largest first: ``norm +0.9 %, pool +0.3 %``."""
    families = set(ops) | set(base_ops)
    deltas = [(f, ops.get(f, 0) - base_ops.get(f, 0)) for f in families]
    # Families under 0.05 % of the base would print as +0.0 %: left out.
    deltas = [(f, d) for f, d in deltas if abs(d) * 2000 >= base_total]
    deltas.sort(key=lambda fd: -abs(fd[1]))
    shown = [f"{f} {_percent(d, base_total)}" for f, d in deltas[:limit]]
    if len(deltas) > limit:
        rest = sum(d for _, d in deltas[limit:])
        shown.append(f"other {_percent(rest, base_total)}")
    return ", ".join(shown)


def difference_lines(model: ModelReport, base: str = "macs") -> list[str]:
    """Per convention: how far it is from ``base`` in MACs (and FLOPs where they are apart)."""
    counts = _ordered(model)
    reference = next((c for c in counts if c.convention == base), None)
    if reference is None or not reference.macs:
        return []
    out = []
    for count in counts:
        if count is reference:
            continue
        name = count.convention
        delta = count.macs - reference.macs
        line = f"{name} − {base} = {_percent(delta, reference.macs)}"
        if delta or count.ops != reference.ops:
            detail = family_difference(count.ops, reference.ops, reference.macs)
            line += f": {detail}" if detail else ""
        out.append(line)
        if count.flops != 2 * count.macs:
            base_flops = {f: 2 * v for f, v in reference.ops.items()}
            flops_delta = count.flops - 2 * reference.macs
            detail = family_difference(count.flop_ops, base_flops, 2 * reference.macs)
            out.append(
                f"{name} FLOPs − 2 × {base} MACs = {_percent(flops_delta, 2 * reference.macs)}"
                + (f": {detail}" if detail else "")
            )
    return out


def render_model_compare(model: ModelReport, file: str, names: LineNames = PLAIN) -> str:
    lines = [model_heading(model, file, names)]
    if model.status != "ok" or not model.counts:
        lines.append("  not counted" if model.status != "error" else "  error (see below)")
        return "\n".join(lines)
    counts = _ordered(model)
    rows = [("Convention", "counts as", "MACs", "FLOPs", "activations")]
    for c in counts:
        rows.append(
            (
                c.convention,
                LABELS.get(c.convention, c.convention),
                format_macs(c.macs),
                format_flops(c.flops),
                format_params(c.activations) if c.activations is not None else "",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [cell.rjust(width) for cell, width in zip(row[2:], widths[2:], strict=True)]
        lines.append("  " + "  ".join(cells).rstrip())
        if i == 0:
            lines.append("  " + "─" * (sum(widths) + 2 * (len(widths) - 1)))
    lines += [f"  {line}" for line in difference_lines(model)]
    for c in counts:
        for op in c.uncounted_ops:
            lines.append(f"  {c.convention}: not counted: {op.op} ×{op.count}")
        lines += [f"  {c.convention}: {note}" for note in c.notes]
    return "\n".join(lines)


def render_compare(report: FileReport, names: LineNames = PLAIN) -> str:
    """Every model of a file: each convention's MACs, FLOPs and where they differ."""
    blocks = [render_model_compare(m, report.file, names) for m in report.models]
    return "\n\n".join(blocks) + "\n"


def conventions_besides(main: str, known: Sequence[str] = ORDER) -> list[str]:
    """The conventions a compare pass charges besides ``main``."""
    return [c for c in known if c != main]
