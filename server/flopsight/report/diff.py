"""A model's cost against another version of its file: the code lens's
``Δ +12.40 GMac (+11.7 %) · +7.09 M params vs HEAD`` and ``flopsight diff``'s markdown table."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from flopsight.report.model import ModelReport, Totals
from flopsight.report.units import format_macs, format_params


@dataclass(frozen=True)
class ModelDelta:
    """One model in both versions; None where it is absent from one or was not counted there."""

    name: str
    before: Totals | None
    after: Totals | None

    @property
    def macs(self) -> int:
        return (self.after.macs if self.after else 0) - (self.before.macs if self.before else 0)

    @property
    def params(self) -> int:
        after = self.after.params if self.after else 0
        return after - (self.before.params if self.before else 0)

    @property
    def macs_share(self) -> float | None:
        """The MACs' change as a fraction of the old MACs; None without an old count."""
        if self.before is None or self.after is None or self.before.macs == 0:
            return None
        return self.macs / self.before.macs

    @property
    def changed(self) -> bool:
        if self.before is None or self.after is None:
            return (self.before is None) != (self.after is None)
        return bool(self.macs or self.params)


def totals_of(model: ModelReport | None) -> Totals | None:
    return model.total if model is not None and model.status == "ok" else None


def signed(value: int, unit: str) -> str:
    """``+12.40 GMac``, ``-512 Mac``, ``+7.09 M params``."""
    sign = "-" if value < 0 else "+"
    text = format_macs(abs(value)) if unit == "macs" else format_params(abs(value))
    return f"{sign}{text}" if unit == "macs" else f"{sign}{text} params"


def percent(share: float | None) -> str:
    return "" if share is None else f"{'-' if share < 0 else '+'}{abs(100 * share):.1f} %"


def lens_delta(delta: ModelDelta, rev: str) -> str | None:
    """``Δ +12.40 GMac (+11.7 %) · +7.09 M params vs HEAD``; None when nothing changed."""
    if delta.before is None or delta.after is None or not delta.changed:
        return None
    share = percent(delta.macs_share)
    macs = signed(delta.macs, "macs") + (f" ({share})" if share else "")
    return f"Δ {macs} · {signed(delta.params, 'params')} vs {rev}"


def render_diff_markdown(path: str, rev: str, deltas: Sequence[ModelDelta]) -> str:
    """One markdown table per model: before, after, Δ, Δ % for MACs and params."""
    out: list[str] = []
    for d in deltas:
        out.append(f"### {d.name} · `{path}` vs {rev}\n")
        out.append("| | before | after | Δ | Δ % |")
        out.append("|---|---:|---:|---:|---:|")
        for label, unit in (("MACs", "macs"), ("params", "params")):
            before = getattr(d.before, unit) if d.before else None
            after = getattr(d.after, unit) if d.after else None
            fmt = format_macs if unit == "macs" else format_params
            diff = (after or 0) - (before or 0)
            share = diff / before if before else None
            out.append(
                f"| {label} | {fmt(before) if before is not None else '—'} "
                f"| {fmt(after) if after is not None else '—'} "
                f"| {signed(diff, unit).removesuffix(' params')} | {percent(share) or '—'} |"
            )
        out.append("")
    return "\n".join(out)


_INCREASE = re.compile(r"^\s*\+?([0-9]*\.?[0-9]+)\s*%?\s*$")


def parse_increase(text: str) -> float:
    """``5%`` or ``5`` → 0.05: the growth ``flopsight diff --max-increase`` allows."""
    m = _INCREASE.match(text)
    if m is None:
        raise ValueError(f"not a percentage: {text!r} (write e.g. 5%)")
    return float(m.group(1)) / 100
