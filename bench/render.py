"""Render docs/benchmarks.md, docs/conventions.md and the plots from bench/results/*.json.

python -m bench.render
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from bench.conventions_text import render_conventions
from bench.models import ROOT

RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "docs"
REFERENCE = "flopsight_macs"


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


# -- formatting --------------------------------------------------------------------------------


def fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"


def fmt_ms(ms: float | None) -> str:
    return "–" if ms is None else (f"{ms:.0f} ms" if ms < 10_000 else f"{ms / 1000:.1f} s")


def fmt_mb(mb: float | None) -> str:
    if mb is None:
        return "–"
    return f"{mb / 1024:.1f} GB" if mb >= 1024 else f"{mb:.0f} MB"


def fmt_ratio(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.1f}×" if value < 100 else f"{value:.0f}×"


def geomean(values: list[float]) -> float | None:
    values = [v for v in values if v and v > 0]
    return math.exp(statistics.fmean(math.log(v) for v in values)) if values else None


def table(header: list[str], rows: list[list[str]], align: str | None = None) -> str:
    align = align or "l" + "r" * (len(header) - 1)
    marks = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# -- peers.json helpers ------------------------------------------------------------------------


class Peers:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.tools = data["tools"]
        self.models = data["models"]
        self.by: dict[tuple[str, str, str], dict[str, Any]] = {}
        for r in data["results"]:
            self.by[(r["model"], r["tool"], r.get("variant", ""))] = r

    def get(self, model: str, tool: str, variant: str = "") -> dict[str, Any] | None:
        r = self.by.get((model, tool, variant))
        return r if r is not None and "error" not in r else None

    def raw(self, model: str, tool: str, variant: str = "") -> dict[str, Any] | None:
        return self.by.get((model, tool, variant))

    def label(self, tool: str) -> str:
        return next(t["label"] for t in self.tools if t["key"] == tool)

    def normal_models(self) -> list[str]:
        return [m["name"] for m in self.models if not m["huge"]]

    def ratio(self, model: str, tool: str, key: str, variant: str = "") -> float | None:
        """tool ÷ flopsight for ``key``; flopsight's own record always (it counts on meta)."""
        mine, ref = self.get(model, tool, variant), self.get(model, REFERENCE)
        if mine is None or ref is None or not ref.get(key) or mine.get(key) is None:
            return None
        return float(mine[key]) / float(ref[key])

    def headline(self, tool: str, key: str, variant: str = "") -> float | None:
        return geomean([self.ratio(m, tool, key, variant) or 0.0 for m in self.normal_models()])

    def counted(self, tool: str, variant: str = "") -> list[str]:
        """The normal models both this tool (in this variant) and flopsight counted."""
        return [
            m for m in self.normal_models() if self.get(m, tool, variant) and self.get(m, REFERENCE)
        ]

    def meta_failures(self, tool: str) -> dict[str, list[str]]:
        """One line per distinct reason the tool failed on a meta-built model -> its models."""
        out: dict[str, list[str]] = {}
        for m in self.normal_models():
            r = self.raw(m, tool, "meta")
            if r is not None and "error" in r:
                out.setdefault(failure_line(r["error"]), []).append(m)
        return out


def failure_text(error: dict[str, str]) -> str:
    """``TypeError: cond must be a bool, but got a Tensor`` (the message's first sentence)."""
    first = error.get("message", "").split(". ", 1)[0].rstrip(".")
    return f"{error['type']}: {_short(first, 70)}" if first else error["type"]


def failure_line(error: dict[str, str]) -> str:
    """The failure as code, and the frame it was raised in."""
    line = f"`{failure_text(error)}`"
    return line + (f" (in `{error['at']}`)" if error.get("at") else "")


def _cell(p: Peers, model: str, tool: str, key: str, fmt: Any, variant: str = "") -> str:
    if tool.startswith("flopsight"):
        variant = ""  # flopsight builds on meta itself: one record serves both ways
    r = p.raw(model, tool, variant)
    if r is None:
        return "–"
    if "error" in r:
        if variant == "meta":
            return f"fails on meta: `{r['error']['type']}`"
        return f"fails ({r['error']['type']})"
    ratio = "" if tool == REFERENCE else f" · {fmt_ratio(p.ratio(model, tool, key, variant))}"
    return f"{fmt(r.get(key))}{ratio}{_moved(r)}"


def _moved(r: dict[str, Any]) -> str:
    return " ‡" if r.get("device") == "cpu-then-meta" else ""


def _per_model_table(p: Peers, key: str, fmt: Any, variant: str = "") -> str:
    tools = [t["key"] for t in p.tools]
    header = ["model", *[p.label(t) for t in tools]]
    rows = [[m, *[_cell(p, m, t, key, fmt, variant) for t in tools]] for m in p.normal_models()]
    return table(header, rows)


def _both_ways_cell(p: Peers, model: str, tool: str) -> str:
    """As users run it (build + count) · on a meta-built model (the count call alone)."""
    real, meta = p.raw(model, tool), p.raw(model, tool, "meta")
    if real is None or "error" in real:
        first = f"fails ({real['error']['type']})" if real else "–"
    else:
        first = fmt_ratio(p.ratio(model, tool, "warm_s"))
    if meta is None:
        second = "–"
    elif "error" in meta:
        second = f"fails on meta: {failure_text(meta['error'])}"
    else:
        second = fmt_ratio(p.ratio(model, tool, "warm_count_s", "meta")) + _moved(meta)
    return f"{first} · {second}"


def _rss_both_ways_cell(p: Peers, model: str, tool: str) -> str:
    if tool.startswith("flopsight"):
        return fmt_mb(r["peak_rss_mb"]) if (r := p.get(model, tool)) else "–"
    cells = []
    for variant in ("", "meta"):
        r = p.raw(model, tool, variant)
        if r is None:
            cells.append("–")
        elif "error" in r:
            cells.append("fails on meta" if variant else "fails")
        else:
            cells.append(fmt_mb(r.get("peak_rss_mb")) + _moved(r))
    return " · ".join(cells)


def _moved_note(p: Peers) -> list[str]:
    moved = sorted(
        {
            (r["model"], failure_line(r["meta_build_error"]))
            for r in p.data["results"]
            if r.get("device") == "cpu-then-meta" and "meta_build_error" in r
        }
    )
    return [
        f"‡ {model}: `with torch.device('meta')` fails in its constructor ({why}), so the user's "
        "next option is measured: built on the CPU, then `.to('meta')`, with meta inputs.\n"
        for model, why in moved
    ]


# -- benchmarks.md -----------------------------------------------------------------------------


def render_benchmarks(
    p: Peers, worker: dict[str, Any] | None, lsp: dict[str, Any] | None, notes: list[str]
) -> str:
    d = p.data
    machine = d["machine"]
    peers = [t["key"] for t in p.tools if not t["key"].startswith("flopsight")]
    out: list[str] = []
    out.append("# Benchmarks\n")
    out.append(
        "Generated by `make bench` (`python -m bench.run_all`) on "
        f"{d['generated']}: {machine['cpu_count']} CPU cores shared with other work, "
        f"torch {machine['torch']} on the CPU with {machine['torch_threads']} thread, "
        f"Python {machine['python']}. The numbers are committed in `bench/results/*.json`; "
        "the way two tools count differently is in [conventions.md](conventions.md).\n"
    )
    out.append("## How it is measured\n")
    out.append(
        "- Every (tool, model) pair runs in a fresh Python process, one at a time, under an "
        f"address-space limit of {d['memory_limit_gb']} GB. The process imports torch, "
        "torchvision and the tool first (not timed); then it builds the model and counts it "
        f"1 + {d['repeats']} times. *Cold* is the first build + count in the process, *warm* "
        "the median of the others.\n"
        "- flopsight builds the model on the meta device, as it does in the editor "
        "(`flopsight.counting.build.build_model`, then `flopsight.count(model, *inputs)`). "
        "The peers get what their documentation asks for: the model built on the CPU with "
        "(random) weights and real CPU input tensors; each is called as its README shows "
        "(ptflops `get_model_complexity_info` with the pytorch backend and "
        "`count_functional=False`, and with the aten backend; fvcore `FlopCountAnalysis(...)"
        ".total()`; thop `profile`; `torch.utils.flop_counter.FlopCounterMode`; DeepSpeed "
        "`get_model_profile(model, args=[x], print_profile=False, detailed=False, "
        "as_string=False)`, its MACs, with its default one warm-up forward before the "
        "profiled one).\n"
        "- Each peer runs a second time per model on the same model built on meta by hand, "
        "as a user can do it (`with torch.device('meta'): model = ...`, meta input tensors; "
        "variant `meta` in `bench/results/peers.json`). flopsight's own record is its normal "
        "path, which already builds on meta.\n"
        "- Time is build + count (what a user waits for); *count call alone* leaves the build "
        "out (`warm_count_s`). Peak RSS is the process's `ru_maxrss` after counting; the same "
        "process's `ru_maxrss` after its imports is the baseline (about the same for every "
        "tool: torch + torchvision).\n"
        "- Ratios are peer ÷ flopsight (`macs` convention): above 1× flopsight is faster or "
        "smaller. Each ratio is of medians over the warm repeats; headline ratios are "
        "geometric means over the models both counted (their number is given).\n"
    )

    out.append("## Headline\n")
    out.extend(_summary(p, peers))
    out.append("### As users run it: the peers on real weights on the CPU\n")
    out.append(
        "What a user waits for when calling each tool as its documentation shows. This ratio "
        "is the engine's speed (next table) times what building on meta saves: no weights to "
        "allocate or initialise, no real arithmetic in the forward pass.\n"
    )
    rows = []
    for tool in [*peers, "flopsight_ptflops"]:
        failed = [m for m in p.normal_models() if p.get(m, tool) is None]
        label = p.label(tool) if tool in peers else "flopsight (ptflops convention)"
        rows.append(
            [
                label,
                fmt_ratio(p.headline(tool, "warm_s")),
                fmt_ratio(p.headline(tool, "cold_s")),
                fmt_ratio(p.headline(tool, "warm_count_s")),
                fmt_ratio(p.headline(tool, "peak_rss_mb")),
                fmt_ratio(p.headline(tool, "delta_rss_mb")),
                str(len(p.counted(tool))),
                (", ".join(failed) or "none") if tool in peers else "",
            ]
        )
    out.append(
        table(
            [
                "tool ÷ flopsight",
                "time (warm)",
                "time (cold)",
                "count call alone (warm)",
                "peak RSS",
                "RSS above imports",
                "models",
                "failed on",
            ],
            rows,
            "lrrrrrrl",
        )
        + "\n"
    )
    out.append("### The engine alone: the peers on a model built on meta by hand\n")
    out.append(
        "Every tool gets a meta model with no weights anywhere, so the count call alone "
        "compares the counting engines themselves (module hooks, dispatch modes or a JIT "
        "trace walking the same graph); build + count adds the by-hand meta build. On meta "
        "every tool also pays torch's meta kernels for the ops the model runs; flopsight "
        "answers batch and layer norm, activations, softmax, `addmm`, `cat` and elementwise "
        "ops from their shapes directly (`server/flopsight/counting/meta_fast.py`), which is "
        "part of its engine's speed here.\n"
    )
    rows = []
    for tool in peers:
        failures = p.meta_failures(tool)
        fails = "; ".join(
            f"{len(models)} of {len(p.normal_models())}: {line}"
            for line, models in failures.items()
        )
        rows.append(
            [
                p.label(tool),
                fmt_ratio(p.headline(tool, "warm_count_s", "meta")),
                fmt_ratio(p.headline(tool, "warm_s", "meta")),
                fmt_ratio(p.headline(tool, "peak_rss_mb", "meta")),
                fmt_ratio(p.headline(tool, "delta_rss_mb", "meta")),
                str(len(p.counted(tool, "meta"))),
                f"fails on meta: {fails}" if fails else "none",
            ]
        )
    out.append(
        table(
            [
                "tool ÷ flopsight",
                "count call alone (warm)",
                "build + count (warm)",
                "peak RSS",
                "RSS above imports",
                "models",
                "fails on meta",
            ],
            rows,
            "lrrrrrl",
        )
        + "\n"
    )
    out.extend(_meta_failure_notes(p, peers))
    out.extend(_meta_count_notes(p, peers))
    out.extend(_headline_notes(p))
    out.extend(_huge_section(p))
    out.append("## Both ratios per model\n")
    out.append(
        "Each cell: peer ÷ flopsight *as users run it* (build + count, real weights on the "
        "CPU) · *the engine alone* (the count call, on a model built on meta by hand).\n"
    )
    out.append(_both_ways_table(p, peers, _both_ways_cell) + "\n")
    out.append("Peak RSS both ways (real weights · meta built by hand; flopsight: its own run):\n")
    out.append(_both_ways_table(p, [REFERENCE, *peers], _rss_both_ways_cell) + "\n")
    out.extend(_moved_note(p))
    out.append("## Counting time per model (build + count, warm, real weights for the peers)\n")
    out.append(_per_model_table(p, "warm_s", fmt_s) + "\n")
    out.append("![counting time per model](bench_time.png)\n")
    out.append("## Counting time per model (cold: first call in a fresh process)\n")
    out.append(_per_model_table(p, "cold_s", fmt_s) + "\n")
    out.append("## Peak RSS per model\n")
    out.append(
        "The whole process, torch and torchvision included (about "
        f"{fmt_mb(_baseline(p))} after imports).\n"
    )
    out.append(_per_model_table(p, "peak_rss_mb", fmt_mb) + "\n")
    out.append("![peak RSS per model](bench_rss.png)\n")
    out.append("RSS above the imports (what counting this model added):\n")
    out.append(_per_model_table(p, "delta_rss_mb", fmt_mb) + "\n")
    out.append("## Count call alone per model, on a model built on meta by hand (warm)\n")
    out.append(_per_model_table(p, "warm_count_s", fmt_s, "meta") + "\n")
    out.extend(_moved_note(p))
    out.append("RSS above the imports on a meta-built model:\n")
    out.append(_per_model_table(p, "delta_rss_mb", fmt_mb, "meta") + "\n")
    out.extend(_cli_section(p))
    out.extend(_editor_section(worker, lsp))
    out.extend(_extra_counts_section(load("extra_counts.json")))
    if notes:
        out.append("## Notes from this run\n")
        out.extend(f"- {n}" for n in notes)
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _both_ways_table(p: Peers, tools: list[str], cell: Any) -> str:
    header = ["model", *[p.label(t) for t in tools]]
    return table(header, [[m, *[cell(p, m, t) for t in tools]] for m in p.normal_models()])


def _range(values: list[float | None]) -> str:
    found = sorted(v for v in values if v)
    if not found:
        return "–"
    low, high = fmt_ratio(found[0]), fmt_ratio(found[-1])
    return low if low == high else f"{low.rstrip('×')}–{high}"


def _summary(p: Peers, peers: list[str]) -> list[str]:
    """The headline in one sentence per ratio, from the numbers below."""
    users = _range([p.headline(t, "warm_s") for t in peers])
    engine = _range([p.headline(t, "warm_count_s", "meta") for t in peers])
    failing = [p.label(t) for t in peers if p.meta_failures(t)]
    text = (
        f"As users run them (real weights on the CPU), the peers take {users} flopsight's "
        "time to build and count a model (geometric means per peer). Handed the same model "
        f"built on meta by hand, their count calls take {engine} flopsight's: that is the "
        "counting engine's speed alone; the rest of the first ratio is what building on meta "
        "saves."
    )
    partial = [
        f"{p.label(t)}'s over the {len(p.counted(t, 'meta'))} models it counts on meta"
        for t in peers
        if len(p.counted(t, "meta")) < len(p.counted(t))
    ]
    if partial:
        text = text.replace("speed alone;", f"speed alone ({_join(partial)});")
    if failing:
        text += f" {_join(failing)} cannot count some meta models (see below)."
    return [text + "\n"]


# Failures on meta whose cause was traced by hand: the frame they are raised in -> why.
_META_CAUSES = {
    "calc_conv_nd_return_shape": (
        "it records the model with `torch.jit.trace`, and under tracing the shapes that "
        "torch's meta kernel for convolution checks are traced tensors, which `torch._check` "
        "rejects; a bare `torch.jit.trace(nn.Conv2d(...))` on meta fails the same way, while "
        "the same convolution runs eagerly on meta and linear layers trace fine"
    ),
}


def _meta_failure_notes(p: Peers, peers: list[str]) -> list[str]:
    lines = []
    for tool in peers:
        for line, models in p.meta_failures(tool).items():
            cause = next((why for at, why in _META_CAUSES.items() if at in line), None)
            counted = p.counted(tool, "meta")
            text = f"- {p.label(tool)} fails on meta on {_join(models)}: {line}"
            text += f". Why: {cause}." if cause else "."
            if counted:
                text += f" It counts {_join(counted)} on meta."
            lines.append(text)
    return [*lines, ""] if lines else []


# Peers whose count of a meta-built model differs from their count with real weights -> why
# (traced by hand).
_SDPA_ON_META = (
    "on real CPU tensors `F.scaled_dot_product_attention` (and the attention inside "
    "`nn.MultiheadAttention`) runs the fused kernel "
    "`aten._scaled_dot_product_flash_attention_for_cpu`, which it has no formula for, so "
    "both attention products count zero; on meta the same call decomposes into `bmm`s and is "
    "counted: there its meta count is the fuller one"
)
_META_COUNT_CAUSES = {
    "ptflops_aten": _SDPA_ON_META,
    "flop_counter": _SDPA_ON_META,
    "deepspeed": (
        "on meta, torch runs `aten.addmm` (a linear layer with a bias) through its Python "
        "decomposition `torch._decomp.decompositions.addmm`, which calls `torch.mm`; DeepSpeed "
        "has patched `torch.mm` while it profiles, so each such linear is counted a second "
        "time, inside `F.linear`'s own count. Linear layers without a bias (the Llama) call "
        "`mm` in C++ and count once. Its timings on meta still measure its engine; its "
        "numbers there are not its real count"
    ),
}


def _meta_count_notes(p: Peers, peers: list[str]) -> list[str]:
    """Where a peer counts a meta-built model, but not as it counts the real one."""
    lines = []
    for tool in peers:
        moved = []
        for m in p.normal_models():
            real, meta = p.get(m, tool), p.get(m, tool, "meta")
            if real and meta and abs(meta["macs"] - real["macs"]) > 1e-9 * max(real["macs"], 1):
                pct = (meta["macs"] / real["macs"] - 1) * 100
                moved.append(f"{m} {pct:+.0f} %" if abs(pct) >= 10 else f"{m} {pct:+.2g} %")
        if moved:
            cause = _META_COUNT_CAUSES.get(tool)
            counted = len(p.counted(tool, "meta"))
            text = (
                f"- {p.label(tool)} counts {counted} of {len(p.normal_models())} models on meta, "
                f"but on {len(moved)} of them its MACs differ from its count with real weights "
                f"(meta against real: {_join(moved)})"
            )
            lines.append(text + (f". Why: {cause}." if cause else "."))
    return [*lines, ""] if lines else []


def _headline_notes(p: Peers) -> list[str]:
    models = p.normal_models()
    peers = [t["key"] for t in p.tools if not t["key"].startswith("flopsight")]
    slower = []
    for m in models:
        ref = p.get(m, REFERENCE)
        if ref is None:
            continue
        beaten = [
            f"{p.label(t)} {fmt_s(r['warm_s'])}"
            for t in peers
            if (r := p.get(m, t)) is not None and r["warm_s"] < ref["warm_s"]
        ]
        if beaten:
            slower.append(f"{m} (flopsight {fmt_s(ref['warm_s'])}; {', '.join(beaten)})")
    fastest = len(models) - len(slower)
    lines = [
        f"- As users run it, flopsight was the fastest (warm build + count) on {fastest} of "
        f"{len(models)} models."
    ]
    if slower:
        lines.append(
            "  Where it was not: "
            + "; ".join(slower)
            + ". These are small models whose real forward pass costs the peers about as much "
            "as flopsight's dispatch-mode walk with per-line attribution, and building on the "
            "meta device saves little when the weights are few."
        )
    lines.extend(_engine_notes(p, models, peers))
    deltas = [r["delta_rss_mb"] for m in models if (r := p.get(m, REFERENCE)) is not None]
    if deltas:
        lines.append(
            f"- flopsight's counting added at most {fmt_mb(max(deltas))} to its process's RSS "
            "on any model: it allocates no weights and no activations."
        )
    return [*lines, ""]


def _engine_notes(p: Peers, models: list[str], peers: list[str]) -> list[str]:
    """Where a peer's count call on a meta-built model beat flopsight's."""
    slower, compared = [], 0
    for m in models:
        ref = p.get(m, REFERENCE)
        if ref is None:
            continue
        rivals = [(t, r) for t in peers if (r := p.get(m, t, "meta")) is not None]
        if not rivals:
            continue
        compared += 1
        beaten = [
            f"{p.label(t)} {fmt_s(r['warm_count_s'])}"
            for t, r in rivals
            if r["warm_count_s"] < ref["warm_count_s"]
        ]
        if beaten:
            slower.append(f"{m} (flopsight {fmt_s(ref['warm_count_s'])}; {', '.join(beaten)})")
    lines = [
        f"- The engine alone (count call on a meta-built model): flopsight was the fastest on "
        f"{compared - len(slower)} of the {compared} models some peer counted on meta."
    ]
    if slower:
        lines.append("  Where it was not: " + "; ".join(slower) + ".")
    worse = [
        m
        for m in models
        if (pairs := [(p.get(m, t), p.get(m, t, "meta")) for t in peers])
        and all(r and q and q["warm_count_s"] > r["warm_count_s"] for r, q in pairs if r and q)
        and any(r and q for r, q in pairs)
    ]
    if worse:
        lines.append(
            f"- A meta model does not make every peer's count call faster: on {_join(worse)} "
            "each peer's count call took longer on meta than on real tensors. torch's meta "
            "kernels for batch and layer norm, activations and softmax are Python "
            "decompositions of about 1–3 ms a call, dearer than the real CPU kernels on "
            "small tensors; what meta saves there is the weights' memory and allocation."
        )
    return lines


def _baseline(p: Peers) -> float:
    values = [r["baseline_rss_mb"] for r in p.data["results"] if "baseline_rss_mb" in r]
    return statistics.median(values) if values else 0.0


def _huge_section(p: Peers) -> list[str]:
    huge = [m["name"] for m in p.models if m["huge"]]
    out: list[str] = []
    for model in huge:
        spec = next(m for m in p.models if m["name"] == model)
        out.append(f"## {model}: {spec['source']}\n")
        ref = p.get(model, REFERENCE)
        if ref:
            out.append(
                f"flopsight counts it on the meta device in {fmt_s(ref.get('cold_s'))} cold, "
                f"{fmt_s(ref.get('warm_s'))} warm, with a peak RSS of "
                f"{fmt_mb(ref.get('peak_rss_mb'))} ({fmt_mb(ref.get('delta_rss_mb'))} above "
                f"its imports): {ref['macs'] / 1e12:.1f} TMACs, {ref['params'] / 1e9:.1f} B "
                "params. Its weights alone would take "
                f"{ref['params'] * 4 / 2**30:.0f} GiB in float32.\n"
            )
        rows = []
        for t in p.tools:
            for variant, how in (("", "real weights on the CPU"), ("meta", "meta, built by hand")):
                r = p.raw(model, t["key"], variant)
                if r is None:
                    continue
                if t["key"].startswith("flopsight"):
                    how = "meta (automatic)"
                if "error" in r:
                    err = r["error"]
                    result = f"fails: `{err['type']}: {_short(err['message'])}`"
                    took = fmt_s(r.get("failed_after_s"))
                else:
                    result = f"{r['macs'] / 1e12:.2f} TMACs"
                    took = fmt_s(r.get("cold_s"))
                rows.append([t["label"], how, result, took, fmt_mb(r.get("peak_rss_mb"))])
        out.append(table(["tool", "model built", "result", "time", "peak RSS"], rows, "lllrr"))
        peers = [t["key"] for t in p.tools if not t["key"].startswith("flopsight")]
        on_meta = [p.label(t) for t in peers if p.get(model, t, "meta")]
        not_meta = [
            p.label(t) for t in peers if p.raw(model, t, "meta") and not p.get(model, t, "meta")
        ]
        fail_cpu = [p.label(t) for t in peers if p.raw(model, t) and not p.get(model, t)]
        text = (
            f"\nWith real weights, {_join(fail_cpu) or 'no peer'} fail under the "
            f"{p.data['memory_limit_gb']} GB limit while allocating them. "
        )
        if on_meta:
            text += (
                "Handed a model the user built on the meta device by hand "
                "(`with torch.device('meta'): model = Llama()`) and meta inputs, "
                f"{_join(on_meta)} count it too"
                + (f" ({_join(not_meta)} cannot)" if not_meta else "")
                + ". flopsight does that step itself, from the file, falling back to meta "
                "parameters when a constructor needs real tensors.\n"
            )
        out.append(text)
    return out


def _join(items: list[str]) -> str:
    return (
        items[0]
        if len(items) == 1
        else ", ".join(items[:-1]) + " and " + items[-1]
        if items
        else ""
    )


def _short(message: str, limit: int = 110) -> str:
    message = message.replace("|", "/").replace("`", "'")
    return message if len(message) <= limit else message[: limit - 1] + "…"


def _fmt_macs(macs: float) -> str:
    for unit, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if macs >= unit:
            return f"{macs / unit:.2f} {prefix}MAC"
    return f"{macs:.0f} MAC"


def _cli_section(p: Peers) -> list[str]:
    cli = p.data.get("cli") or []
    if not cli:
        return []
    rows = []
    for r in cli:
        macs = r.get("macs")
        rows.append(
            [
                r["model"],
                fmt_s(r.get("median_wall_s")),
                fmt_ms(r.get("elapsed_ms")),
                fmt_mb(r.get("largest_process_rss_mb")),
                _fmt_macs(macs) if macs else f"error: {_short(r.get('error', ''))}",
            ]
        )
    return [
        "## End to end: `flopsight report FILE --format json`\n",
        "A fresh CLI process each time: it starts a worker, which imports torch, runs the "
        "file's definitions, builds on meta and counts; the wall time is dominated by that "
        "start-up, which the editor pays once (the worker stays warm, see below).\n",
        table(
            ["model", "wall (median)", "report `elapsed_ms`", "largest process RSS", "MACs"],
            rows,
        )
        + "\n",
    ]


def _get(data: dict[str, Any] | None, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _extra_counts_section(extra: dict[str, Any] | None) -> list[str]:
    """Issue 17's extra counts (scaling, the committed version, other files) and whether they
    delay the first hints (``bench/bench_extra_counts.py``)."""
    out = ["## The extra counts: scaling, HEAD, other files\n"]
    if extra is None:
        out.append("`bench/bench_extra_counts.py` produced no results.\n")
        return out
    engine = extra.get("engine", {})
    cross = extra.get("engine_cross_file", {})
    concrete = extra.get("editor_concrete_shape", {})
    symbolic = extra.get("editor_symbolic_T_vs_HEAD", {})
    editor_cross = extra.get("editor_cross_file", {})
    out.append(
        "Medians of a few runs on the shared machine (`bench/bench_extra_counts.py`, "
        "`bench/results/extra_counts.json`). The engine rows are one in-process analysis; the "
        "editor rows go through a real server over stdio.\n"
    )
    rows = [
        ["engine: a GPT-2 block at T = 1024", fmt_ms(engine.get("plain_ms"))],
        [
            "engine: the same with scaling (T counted at four more values)",
            fmt_ms(engine.get("with_scaling_ms")),
        ],
        ["engine: reading HEAD's text (`git show`)", fmt_ms(engine.get("git_show_head_ms"))],
        [
            "engine: examples/gpt/model.py, lines of model.py only (no workspace root)",
            fmt_ms(cross.get("own_file_lines_ms")),
        ],
        [
            "engine: the same, lines charged across the workspace (layers.py too)",
            fmt_ms(cross.get("workspace_lines_ms")),
        ],
        [
            "editor: save → first hints, concrete shape (nothing extra runs)",
            fmt_ms(concrete.get("save_to_first_hints_ms")),
        ],
        [
            "editor: save → first hints, symbolic T in a repository (scaling and HEAD after)",
            fmt_ms(symbolic.get("save_to_first_hints_ms")),
        ],
        [
            "editor: save → the scaling counts in",
            fmt_ms(symbolic.get("save_to_scaling_in_ms")),
        ],
        [
            "editor: an edit made while the extra counts run → its hints",
            fmt_ms(symbolic.get("edit_while_busy_to_hints_ms")),
        ],
        [
            "editor: an unsaved edit of layers.py → model.py counted again with it",
            fmt_ms(editor_cross.get("edit_of_layers_py_to_hints_ms")),
        ],
    ]
    out.append(table(["what", "time"], rows, "lr") + "\n")
    plain, extra_first = (
        concrete.get("save_to_first_hints_ms"),
        symbolic.get("save_to_first_hints_ms"),
    )
    if plain is not None and extra_first is not None:
        out.append(
            "The extra counts run after a round's hints are out, as jobs of their own that a "
            f"new edit supersedes: with them the first hints came {extra_first - plain:+.0f} ms "
            f"from the run without ({fmt_ms(extra_first)} against {fmt_ms(plain)}; the "
            "machine's noise is of that order).\n"
        )
    return out


def _editor_section(worker: dict[str, Any] | None, lsp: dict[str, Any] | None) -> list[str]:
    out = ["## In the editor: warm save → hints against the cold path\n"]
    if worker is None and lsp is None:
        out.append("`bench/bench_worker.py` and `bench/bench_lsp.py` produced no results.\n")
        return out
    out.append(
        "*save → hints*: the language server gets `didSave` until the client is asked to "
        "refresh its hints, through the warm worker (`bench/bench_lsp.py`). *worker job*: a "
        "job submitted to the warm worker until its report is back; *counting alone*: the "
        "same analysis in a warm process without the worker (`bench/bench_worker.py`). "
        "*cold*: a fresh interpreter that imports torch and analyses the file, what a "
        "CLI-style tool pays on every save.\n"
    )
    names = list(dict.fromkeys([*(_get(lsp, "files") or {}), *(_get(worker, "files") or {})]))
    rows = []
    for name in names:
        lf, wf = _get(lsp, "files", name), _get(worker, "files", name)
        warm = _get(lf, "save_to_refresh", "p50_ms")
        cold = _get(wf, "cold", "p50_ms")
        rows.append(
            [
                name,
                fmt_ms(warm),
                fmt_ms(_get(lf, "save_to_refresh", "p95_ms")),
                fmt_ms(_get(lf, "save_to_refresh_cache_hit", "p50_ms")),
                fmt_ms(_get(wf, "warm", "p50_ms")),
                fmt_ms(_get(wf, "counting_in_process", "p50_ms")),
                fmt_ms(cold),
                fmt_ratio(cold / warm if cold and warm else _get(wf, "cold_over_warm_p50")),
            ]
        )
    out.append(
        table(
            [
                "file",
                "save → hints p50",
                "p95",
                "unchanged file (cache hit) p50",
                "worker job p50",
                "counting alone p50",
                "cold",
                "cold ÷ save → hints",
            ],
            rows,
        )
        + "\n"
    )
    facts = [
        (
            "language server: start → `initialize` reply p50",
            fmt_ms(_get(lsp, "startup_to_initialize", "p50_ms")),
        ),
        (
            "language server: start → first request answered p50",
            fmt_ms(_get(lsp, "startup_to_first_request_answered", "p50_ms")),
        ),
        ("language server idle RSS", fmt_mb(_get(lsp, "server_idle_rss_mb"))),
        (
            "language server RSS after the analyses",
            fmt_mb(_get(lsp, "server_rss_after_analyses_mb")),
        ),
        ("worker host start (imports torch)", fmt_ms(_get(worker, "host_start_ms"))),
        ("worker host idle RSS", fmt_mb(_get(worker, "host_idle_rss_mb"))),
        (
            "worker host idle USS (not shared with other processes)",
            fmt_mb(_get(worker, "host_idle_uss_mb")),
        ),
    ]
    out.append(table(["server and worker", "value"], [[a, b] for a, b in facts if b != "–"], "lr"))
    budgets = []
    init, init_budget = (
        _get(lsp, "startup_to_initialize", "p50_ms"),
        _get(lsp, "budgets", "startup_to_initialize_ms"),
    )
    if init is not None and init_budget:
        verdict = "met" if init <= init_budget else "**not met**"
        budgets.append(f"start → `initialize` ≤ {init_budget} ms: {verdict}")
    rss, rss_budget = _get(lsp, "server_idle_rss_mb"), _get(lsp, "budgets", "server_idle_rss_mb")
    if rss is not None and rss_budget:
        budgets.append(
            f"idle RSS ≤ {rss_budget} MB: {'met' if rss <= rss_budget else '**not met**'}"
        )
    budget = _get(worker, "budget")
    if budget:
        met = "met" if budget.get("met") else "**not met**"
        budgets.append(
            f"resnet50 warm worker job p50 ≤ {budget.get('resnet50_warm_p50_ms')} ms: {met}"
        )
    if budgets:
        out.append("\nBudgets from the design: " + "; ".join(budgets) + ".\n")
    return out


def _flatten_rows(data: dict[str, Any], prefix: str = "") -> list[list[str]]:
    rows: list[list[str]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(_flatten_rows(value, name + " › "))
        elif isinstance(value, bool):
            rows.append([name, "yes" if value else "no"])
        elif isinstance(value, int | float):
            rows.append([name, f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"])
        elif isinstance(value, str) and key not in ("platform", "generated"):
            rows.append([name, value])
    return rows


# -- plots -------------------------------------------------------------------------------------


def render_plots(p: Peers) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = p.normal_models()
    tools = [t["key"] for t in p.tools]
    written = []
    for key, ylabel, name in (
        ("warm_s", "build + count, warm (s, log scale)", "bench_time.png"),
        ("peak_rss_mb", "peak RSS (MB, log scale)", "bench_rss.png"),
    ):
        fig, ax = plt.subplots(figsize=(13, 5.2), dpi=110)
        width = 0.8 / len(tools)
        for i, tool in enumerate(tools):
            xs, ys = [], []
            for j, model in enumerate(models):
                r = p.get(model, tool)
                if r is not None and r.get(key):
                    xs.append(j + (i - (len(tools) - 1) / 2) * width)
                    ys.append(r[key])
            ax.bar(xs, ys, width=width, label=p.label(tool))
        ax.set_yscale("log")
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels(models, rotation=30, ha="right")
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", which="both", alpha=0.3)
        ax.legend(ncol=len(tools), fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0))
        fig.tight_layout()
        path = DOCS / name
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written


def main(notes: list[str] | None = None) -> int:
    data = load("peers.json")
    if data is None:
        print("bench/results/peers.json is missing: run python -m bench.compare_peers first")
        return 1
    peers = Peers(data)
    DOCS.mkdir(exist_ok=True)
    all_notes = list(notes or []) + list(data.get("notes", []))
    text = render_benchmarks(peers, load("worker.json"), load("lsp.json"), all_notes)
    (DOCS / "benchmarks.md").write_text(text)
    (DOCS / "conventions.md").write_text(render_conventions(peers))
    for path in render_plots(peers):
        print(f"wrote {path.relative_to(ROOT)}")
    print("wrote docs/benchmarks.md, docs/conventions.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
