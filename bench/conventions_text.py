"""docs/conventions.md: the totals each tool reports, and why they differ, from peers.json.

The totals and the per-family breakdowns are the tools' own numbers from the bench run. The
reasons are the counting rules of each tool (read in its source) that produce the measured
per-family differences; every difference in the tables is tagged with the rule behind it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.conventions_moe import MOE_AND_DETECTION

if TYPE_CHECKING:
    from bench.render import Peers

REFERENCE = "flopsight_macs"
# Hand-written sections (the fvcore and deepspeed conventions, timm's table) kept after the
# generated ones.
EXTRA = Path(__file__).resolve().parent / "conventions_extra.md"
ORDER = (
    "ptflops_pytorch",
    "ptflops_aten",
    "fvcore",
    "thop",
    "flop_counter",
    "flopsight_macs",
    "flopsight_ptflops",
)
# Families as compared across tools: attention folds into matmul (ptflops books the projections
# of nn.MultiheadAttention as "attention", flopsight books them as "matmul").
FAMILIES = (
    "conv",
    "matmul",
    "norm",
    "activation",
    "softmax",
    "pool",
    "upsample",
    "elementwise",
    "embedding",
    "other",
)
TOLERANCE = 1e-4  # relative to the model's total: smaller differences are rounding

# What each rule tag means: the counting rule (read in the tool's source) behind a difference.
TEXTS: dict[str, str] = {
    "bias-conv": "ptflops adds one per output element of a convolution with a bias (both "
    "backends).",
    "bias-linear": "ptflops adds one per output element of a linear layer with a bias (the "
    "pytorch backend in its `nn.Linear` rule, the aten backend through `addmm`).",
    "mha-module": "ptflops' pytorch backend counts `nn.MultiheadAttention` as one module: "
    "input and output projections with their biases, and both attention products.",
    "functional": "with `count_functional=False` (what flopsight's `ptflops` convention "
    "matches) ptflops only sees modules: what `forward` computes with functions (`F.linear` "
    "with a module's own weights as in torchvision's Swin, `q @ k.transpose(-2, -1)`, "
    "`F.scaled_dot_product_attention`) is not counted.",
    "norm-ptflops": "ptflops counts BatchNorm, InstanceNorm, GroupNorm and LayerNorm modules "
    "of exactly those types: one per input element, two when the module's `affine` is set. "
    "LayerNorm calls it `elementwise_affine`, so LayerNorm stays at one per element; subclasses "
    "such as torchvision's `LayerNorm2d` (ConvNeXt) are not counted at all.",
    "act-ptflops": "ptflops counts one per output element of ReLU, ReLU6, PReLU, ELU, "
    "LeakyReLU and GELU modules; SiLU, Hardswish, Hardsigmoid and Sigmoid modules, and every "
    "functional activation, count zero.",
    "pool-ptflops": "ptflops counts one per *input* element of every pooling module, max "
    "pooling included.",
    "upsample-ptflops": "ptflops counts one per output element of `nn.Upsample`.",
    "sdpa-cpu": "run on real CPU tensors, `F.scaled_dot_product_attention` (and the attention "
    "inside `nn.MultiheadAttention`) dispatches to the fused kernel "
    "`aten._scaled_dot_product_flash_attention_for_cpu`, which these aten-level counters "
    "have no formula for: both attention products count as zero. On the meta device the same "
    "call decomposes into `bmm`s and is counted.",
    "sdpa-fvcore": "fvcore has no handle for `aten::scaled_dot_product_attention` (it lists it "
    "among the unsupported ops and counts it as zero): the attention products are missing.",
    "norm-fvcore": "fvcore counts `batch_norm` in eval as one per input element, two with an "
    "affine; `layer_norm` and `group_norm` as five per element with an affine, four without.",
    "pool-fvcore": "fvcore counts `adaptive_avg_pool2d` as one per input element; max pooling "
    "and other pooling ops are not in its table (zero).",
    "upsample-fvcore": "fvcore counts upsampling per output element (1 nearest, 4 bilinear).",
    "thop-modules": "thop only counts modules whose exact type is in its table, so "
    "`nn.MultiheadAttention` (and its `out_proj`, a `NonDynamicallyQuantizableLinear`), "
    "`nn.Embedding`, and everything `forward` computes with functions (`@`, `F.linear`, "
    "`F.scaled_dot_product_attention`) count as zero.",
    "norm-thop": "thop counts BatchNorm/LayerNorm/InstanceNorm modules of exactly those types as "
    "two per input element, doubled with an affine (`affine` or `elementwise_affine`): four "
    "per element, twice ptflops' BatchNorm and four times its LayerNorm. `LayerNorm2d` and "
    "other subclasses count zero.",
    "pool-thop": "thop counts average pooling as (kernel size + 1) per output element and max "
    "pooling as zero.",
    "act-thop": "thop counts ReLU, ReLU6 and LeakyReLU as zero, PReLU per element in eval; "
    "GELU, SiLU, Hardswish and Sigmoid have no rule (zero).",
    "softmax-thop": "thop counts `nn.Softmax` modules per element.",
    "upsample-thop": "thop counts `nn.Upsample` per output element.",
}

# (tool, family, sign of the difference against flopsight's `macs` convention) -> rule tags.
# flopsight's `macs` convention: convolutions and matmuls, one per multiply-accumulate, no bias,
# attention products included (torchvision's published column).
RULES: dict[tuple[str, str, str], tuple[str, ...]] = {
    ("ptflops", "conv", "+"): ("bias-conv",),
    ("ptflops_pytorch", "matmul", "+"): ("bias-linear", "mha-module"),
    ("ptflops_pytorch", "matmul", "-"): ("functional", "bias-linear"),
    ("ptflops_aten", "matmul", "+"): ("bias-linear",),
    ("ptflops_aten", "matmul", "-"): ("sdpa-cpu", "bias-linear"),
    ("ptflops", "norm", "+"): ("norm-ptflops",),
    ("ptflops", "activation", "+"): ("act-ptflops",),
    ("ptflops", "pool", "+"): ("pool-ptflops",),
    ("ptflops", "upsample", "+"): ("upsample-ptflops",),
    ("flop_counter", "matmul", "-"): ("sdpa-cpu",),
    ("fvcore", "matmul", "-"): ("sdpa-fvcore",),
    ("fvcore", "norm", "+"): ("norm-fvcore",),
    ("fvcore", "pool", "+"): ("pool-fvcore",),
    ("fvcore", "upsample", "+"): ("upsample-fvcore",),
    ("thop", "matmul", "-"): ("thop-modules",),
    ("thop", "norm", "+"): ("norm-thop",),
    ("thop", "pool", "+"): ("pool-thop",),
    ("thop", "activation", "+"): ("act-thop",),
    ("thop", "softmax", "+"): ("softmax-thop",),
    ("thop", "upsample", "+"): ("upsample-thop",),
}
_FAMILY_FALLBACK = {
    "ptflops_pytorch": "ptflops",
    "ptflops_aten": "ptflops",
    "flopsight_ptflops": "ptflops_pytorch",
}


def rule_for(tool: str, fam: str, sign: str) -> tuple[str, ...]:
    """The rule tags behind ``tool`` counting more (+) or less (-) in ``fam``."""
    key: str | None = tool
    while key is not None:
        if (key, fam, sign) in RULES:
            return RULES[(key, fam, sign)]
        key = _FAMILY_FALLBACK.get(key)
    return (f"unexplained-{fam}",)


def families(record: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for fam, value in (record.get("breakdown") or {}).items():
        key = "matmul" if fam == "attention" else fam
        out[key] = out.get(key, 0.0) + float(value)
    return out


def fmt_g(macs: float | None, unit: float) -> str:
    if macs is None:
        return "–"
    digits = 3 if unit >= 1e9 else 2
    return f"{macs / unit:,.{digits}f}"


def unit_for(macs: float) -> tuple[float, str]:
    if macs >= 1e12:
        return 1e12, "T"
    if macs >= 1e9:
        return 1e9, "G"
    if macs >= 1e6:
        return 1e6, "M"
    return 1e3, "K"


def _record(p: Peers, model: str, tool: str) -> dict[str, Any] | None:
    """The tool's result; for a model larger than memory, its count of a meta-built model."""
    return p.get(model, tool) or p.get(model, tool, "meta")


def bias_terms(p: Peers, model: str) -> dict[str, float]:
    """Bias adds per family: ptflops' aten backend is torch's flop counter plus the biases."""
    aten, torch_counter = _record(p, model, "ptflops_aten"), _record(p, model, "flop_counter")
    if aten is None or torch_counter is None:
        return {}
    a, b = families(aten), families(torch_counter)
    return {fam: a.get(fam, 0.0) - b.get(fam, 0.0) for fam in ("conv", "matmul")}


def _relevant(tag: str, p: Peers, model: str, bias: dict[str, float], total: float) -> bool:
    if tag == "bias-linear":
        return bias.get("matmul", 0.0) > TOLERANCE * total
    if tag == "bias-conv":
        return bias.get("conv", 0.0) > TOLERANCE * total
    if tag == "mha-module":
        return any("no_grad" in r for r in p.data["results"] if r["model"] == model)
    return True


def differences(
    p: Peers, model: str, tool: str, rules_used: dict[str, str]
) -> list[tuple[str, float, tuple[str, ...]]]:
    """(family, MACs difference against flopsight macs, rule tag) for one tool and model."""
    mine, ref = _record(p, model, tool), p.get(model, REFERENCE)
    if mine is None or ref is None:
        return []
    bias = bias_terms(p, model)
    a, b = families(mine), families(ref)
    total = max(float(ref["macs"]), 1.0)
    out = []
    for fam in FAMILIES:
        delta = a.get(fam, 0.0) - b.get(fam, 0.0)
        if abs(delta) / total > TOLERANCE:
            tags = rule_for(tool, fam, "+" if delta > 0 else "-")
            tags = tuple(t for t in tags if _relevant(t, p, model, bias, total)) or tags[:1]
            for tag in tags:
                rules_used[tag] = TEXTS.get(tag, "no known rule explains this difference.")
            out.append((fam, delta, tags))
    return out


# Training mode's section (issue 14): static text, its figures by hand in
# tests/test_count_training.py.
TRAINING_SECTION = (Path(__file__).parent / "conventions_training.md").read_text().rstrip()
# Memory's section (issue 15), written by hand: kept here so that a re-render keeps it.
MEMORY_SECTION = (Path(__file__).parent / "conventions_memory.md").read_text().rstrip()


def render_conventions(p: Peers) -> str:
    tools = [t for t in ORDER if any(x["key"] == t for x in p.tools)]
    out: list[str] = ["# Why ptflops, fvcore, thop and torch's flop counter disagree\n"]
    out.append(
        "Every number below was computed by the tool itself in the same `make bench` run as "
        f"[benchmarks.md](benchmarks.md) ({p.data['generated']}), on the same model and input, "
        "and is committed in `bench/results/peers.json`. The peers ran on real CPU tensors as "
        "their documentation shows, models in `eval()`; flopsight ran on the meta device.\n"
    )
    out.append("## What each tool's number means\n")
    out.append(
        "| tool | its unit | normalised to MACs | what it sees |\n| --- | --- | --- | --- |\n"
        "| ptflops, pytorch backend (`count_functional=False`) | MACs | as is | forward "
        "hooks on known module types |\n"
        "| ptflops, aten backend | MACs | as is | aten ops (`mm`, `addmm`, `bmm`, "
        "`convolution`), through a dispatch mode |\n"
        "| fvcore `FlopCountAnalysis` | 'flops', one per fused multiply-add | as is | the "
        "TorchScript graph of a JIT trace |\n"
        "| thop `profile` | MACs | as is | forward hooks on exactly-typed modules, under "
        "`torch.no_grad()` |\n"
        "| `torch.utils.flop_counter.FlopCounterMode` | FLOPs, 2 per multiply-accumulate | "
        "÷ 2 | aten ops through a dispatch mode |\n"
        "| flopsight, `macs` convention | MACs | as is | aten ops through a dispatch mode, "
        "on meta: convolutions and matmuls only (torchvision's published column) |\n"
        "| flopsight, `ptflops` convention | MACs | as is | ptflops' module rules (pytorch "
        "backend, `count_functional=False`), applied on the meta device |\n"
    )

    out.append("## Totals (multiply-accumulates)\n")
    header = ["model", "unit", *[p.label(t) for t in tools], "params"]
    rows = []
    for m in p.models:
        name = m["name"]
        ref = p.get(name, REFERENCE)
        unit, prefix = unit_for(float(ref["macs"]) if ref else 1e9)
        cells = [name, f"{prefix}MAC"]
        for t in tools:
            r = p.get(name, t)
            variant = ""
            if r is None and m["huge"]:
                r, variant = p.get(name, t, "meta"), " †"
            if r is None:
                raw = p.raw(name, t)
                cells.append("fails" if raw is not None else "–")
            else:
                cells.append(fmt_g(float(r["macs"]), unit) + variant)
        params = ref.get("params") if ref else None
        cells.append(f"{params / 1e6:,.2f} M" if params else "–")
        rows.append(cells)
    out.append(
        "| "
        + " | ".join(header)
        + " |\n|"
        + "|".join(["---"] * 2 + ["---:"] * (len(header) - 2))
        + "|"
    )
    out.extend("| " + " | ".join(r) + " |" for r in rows)
    out.append(
        "\n`torch flop_counter` is its FLOPs ÷ 2. † the peer fails with real weights "
        f"(out of memory under the {p.data['memory_limit_gb']} GB limit); this is its count "
        "of a model built by hand on the meta device. " + _params_agreement(p, tools) + "\n"
    )

    rules_used: dict[str, str] = {}
    out.append("## Where they differ, by op family\n")
    out.append(
        "Each tool's total split by op family (from its own per-layer or per-op numbers), "
        "in the model's unit; only the families where some tool differs are shown, and "
        "attention is folded into `matmul`. Below each table: every difference against "
        "flopsight's `macs` convention, tagged with the rule that causes it (listed after the "
        "tables).\n"
    )
    for m in p.models:
        out.extend(_model_section(p, m["name"], tools, rules_used))
    out.append("## The rules behind the differences\n")
    for tag, text in sorted(rules_used.items()):
        out.append(f"- <a id='{tag}'></a>**{tag}**: {text}")
    out.append("")
    out.extend(_fast_path_section(p, tools))
    out.extend(_reproduce_section(p))
    out.append(MOE_AND_DETECTION)
    out.append(TRAINING_SECTION)
    out.append("")
    out.append(MEMORY_SECTION)
    return "\n".join(out).rstrip() + "\n"


def _model_section(p: Peers, model: str, tools: list[str], rules_used: dict[str, str]) -> list[str]:
    records = {t: _record(p, model, t) for t in tools}
    ok = {t: r for t, r in records.items() if r is not None}
    if REFERENCE not in ok or len(ok) < 2:
        return []
    ref = ok[REFERENCE]
    unit, prefix = unit_for(float(ref["macs"]))
    total = float(ref["macs"])
    per_tool = {t: families(r) for t, r in ok.items()}
    shown = [
        fam
        for fam in FAMILIES
        if max(f.get(fam, 0.0) for f in per_tool.values())
        - min(f.get(fam, 0.0) for f in per_tool.values())
        > TOLERANCE * total
    ]
    out = [f"### {model}\n"]
    if not shown:
        out.append("All tools agree.\n")
        return out
    header = [f"family ({prefix}MAC)", *[p.label(t) + _dagger(p, model, t) for t in ok]]
    out.append("| " + " | ".join(header) + " |\n|---|" + "---:|" * len(ok))
    for fam in shown:
        cells = [fmt_g(per_tool[t].get(fam, 0.0), unit) for t in ok]
        out.append(f"| {fam} | " + " | ".join(cells) + " |")
    out.append("| **total** | " + " | ".join(fmt_g(float(r["macs"]), unit) for r in ok.values()))
    out[-1] += " |"
    out.append("")
    for t in ok:
        if t == REFERENCE:
            continue
        diffs = differences(p, model, t, rules_used)
        if not diffs:
            continue
        parts = [
            f"{fam} {'+' if d > 0 else '−'}{fmt_g(abs(d), unit)} {prefix} ("
            + ", ".join(f"[{tag}](#{tag})" for tag in tags)
            + ")"
            for fam, d, tags in diffs
        ]
        out.append(f"- {p.label(t)}: " + "; ".join(parts))
    skipped = (ok.get("fvcore") or {}).get("unsupported_ops")
    if skipped:
        names = ", ".join(f"`{k.removeprefix('aten::')}`" for k in sorted(skipped))
        out.append(f"- fvcore skipped (unsupported, counted as zero): {names}")
    out.append("")
    return out


def _params_agreement(p: Peers, tools: list[str]) -> str:
    """Which tools report other params than flopsight, model by model."""
    odd = []
    for m in p.models:
        ref = _record(p, m["name"], REFERENCE)
        if ref is None:
            continue
        for t in tools:
            r = _record(p, m["name"], t)
            if r and r.get("params") and r["params"] != ref["params"]:
                odd.append(f"{m['name']}: {p.label(t)} {r['params'] / 1e6:,.2f} M")
    agree = "Every other tool that reports params agrees with the params column"
    if not odd:
        return agree + "."
    return (
        f"{agree}, except ({'; '.join(odd)}): thop sums the params of the modules it has a "
        "rule for only, so an `nn.MultiheadAttention`'s `in_proj_weight` or an `nn.Embedding` "
        "is left out."
    )


def _dagger(p: Peers, model: str, tool: str) -> str:
    return " †" if p.get(model, tool) is None else ""


def _fast_path_section(p: Peers, tools: list[str]) -> list[str]:
    rows = []
    model = None
    for r in p.data["results"]:
        if "no_grad" in r and r.get("tool") in tools:
            model = r["model"]
            ng = r["no_grad"]
            after = f"{ng['macs'] / 1e9:,.3f}" if "macs" in ng else f"fails ({ng['error']['type']})"
            rows.append(f"| {p.label(r['tool'])} | {r['macs'] / 1e9:,.3f} | {after} |")
    if not rows:
        return []
    return [
        "## The attention fast path (`torch.no_grad()` + `eval()`)\n",
        f"`{model}` uses `nn.MultiheadAttention`. In `eval()` with autograd off, as most "
        "inference scripts call a model, PyTorch replaces the whole attention block (input "
        "projection, both products, output projection) with one fused op, "
        "`aten._native_multi_head_attention`. Counters that read aten ops and have no formula "
        "for it lose the block; thop loses it either way (it runs under `no_grad` itself and "
        "has no rule for the module). flopsight has a formula for the fused op, and on the "
        "meta device takes the same path whatever the grad mode.\n",
        "| tool | as called above (GMAC) | under `torch.no_grad()` (GMAC) |\n|---|---:|---:|",
        *rows,
        "",
    ]


def _differing(p: Peers, a: str, b: str) -> tuple[list[str], int]:
    """Models where tools a and b give different totals (beyond rounding), and how many both ran."""
    differ, both = [], 0
    for m in p.models:
        ra, rb = _record(p, m["name"], a), _record(p, m["name"], b)
        if ra is None or rb is None:
            continue
        both += 1
        if abs(float(ra["macs"]) - float(rb["macs"])) > 1e-6 * max(float(rb["macs"]), 1.0):
            differ.append(m["name"])
    return differ, both


def _where(p: Peers, a: str, b: str) -> str:
    differ, both = _differing(p, a, b)
    if not differ:
        return f"equal totals on all {both} models above"
    return f"equal on {both - len(differ)} of {both}; differs on {', '.join(differ)}"


def _reproduce_section(p: Peers) -> list[str]:
    rows = [
        (
            "`torch.utils.flop_counter` ÷ 2, torchvision's published GFLOPS",
            "`flopsight report FILE` (`--convention macs`, the default)",
            _where(p, "flop_counter", REFERENCE)
            + ": attention that runs as a fused CPU kernel ([sdpa-cpu](#sdpa-cpu)) and the "
            "MHA fast path (below)",
        ),
        (
            "`torch.utils.flop_counter` FLOPs",
            "the FLOPs column of the same report (2 × MACs)",
            "as above",
        ),
        (
            "ptflops, pytorch backend, `count_functional=False`",
            "`flopsight report FILE --convention ptflops`",
            _where(p, "ptflops_pytorch", "flopsight_ptflops"),
        ),
        (
            "ptflops, aten backend",
            "`--convention macs` plus the bias terms ([bias-conv](#bias-conv), "
            "[bias-linear](#bias-linear)): the `conv` and `matmul` rows of `--convention "
            "ptflops` where they exceed `macs`",
            "fused CPU attention ([sdpa-cpu](#sdpa-cpu)), which ptflops' aten backend misses",
        ),
        (
            "fvcore `FlopCountAnalysis(...).total()`, `by_module()`, and "
            "`ActivationCountAnalysis` (timm's `infer_gmacs`, `infer_macts`)",
            "`flopsight report FILE --convention fvcore` (`total.activations` in the JSON)",
            "equal, total, per module and activations, on the 24 models of "
            "`tests/test_count_fvcore.py`; timm's table below",
        ),
        (
            "DeepSpeed `get_model_profile` MACs and FLOPs",
            "`flopsight report FILE --convention deepspeed` (FLOPs are DeepSpeed's, not 2 × MACs)",
            "equal, both figures and per module, on the 22 models of "
            "`tests/test_count_deepspeed.py`",
        ),
        (
            "thop",
            "`--convention macs` minus what thop cannot see ([thop-modules](#thop-modules)), "
            "plus its norm terms: 2 × the BatchNorm and 4 × the LayerNorm of `--convention "
            "ptflops` ([norm-thop](#norm-thop))",
            "average pooling at (kernel + 1) per output element",
        ),
    ]
    lines = ["| to get | with flopsight | differs where |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return [
        "## Reproducing each tool's number with flopsight\n",
        "\n".join(lines) + "\n",
        "In Python: `flopsight.count(model, x, convention='ptflops').total.macs`; "
        "`report.ops` holds the per-family split used in the tables above. "
        "`flopsight report FILE --compare` prints every convention from one pass with the "
        "op families behind each difference.\n",
        EXTRA.read_text(),
    ]
