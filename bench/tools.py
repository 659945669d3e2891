"""Each counting tool, called the way its own documentation shows, inside a benchmark child.

A tool builds the model (flopsight on the meta device, as it does in the editor; the peers on the
CPU with real weights, which is what their documentation asks for) and counts it. Every tool's
total is also broken down into op families (conv, matmul, norm, ...) so that docs/conventions.md
can say where two tools differ, from the tools' own per-layer or per-op numbers.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.models import BenchModel

# Op or module names -> family; first match wins (checked in order, on the lower-cased name).
_FAMILIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("attention", ("attention", "multihead", "sdpa", "_transformer_encoder")),
    ("conv", ("conv",)),
    ("norm", ("norm", "batch_norm", "layer_norm", "group_norm", "rms")),
    ("softmax", ("softmax",)),
    (
        "activation",
        (
            "relu",
            "gelu",
            "silu",
            "swish",
            "hardswish",
            "hardsigmoid",
            "sigmoid",
            "tanh",
            "elu",
            "prelu",
            "mish",
            "hardtanh",
        ),
    ),
    ("pool", ("pool",)),
    ("upsample", ("upsample", "interpolate")),
    ("embedding", ("embedding",)),
    ("matmul", ("linear", "addmm", "matmul", "bmm", "einsum", "mm", "dot", "mv")),
    ("elementwise", ("add", "mul", "sub", "div", "rsqrt", "pow", "mean", "sum", "exp")),
)

FAMILY_ORDER = (
    "conv",
    "matmul",
    "attention",
    "norm",
    "activation",
    "softmax",
    "pool",
    "upsample",
    "elementwise",
    "embedding",
    "other",
)


def family(name: str) -> str:
    """``aten.convolution``, ``Conv2d`` -> ``conv``; ``adaptive_avg_pool2d`` -> ``pool``."""
    key = name.lower().rsplit(".", 1)[-1] if name.startswith("aten.") else name.lower()
    for fam, needles in _FAMILIES:
        if any(needle in key for needle in needles):
            return fam
    return "other"


@dataclass
class Count:
    """One tool's answer for one model, in the tool's own unit and in MACs."""

    raw: float  # the number the tool returns
    macs: float  # normalised to multiply-accumulates
    params: int | None
    breakdown: Callable[[], dict[str, float]]  # family -> MACs, computed after the timings
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Tool:
    key: str
    label: str
    unit: str  # what the tool's raw number counts
    builds_on_meta: bool
    count: Callable[[Any, tuple[Any, ...]], Count]


def _by_family(items: dict[str, float], scale: float = 1.0) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for name, value in items.items():
        if value:
            out[family(name)] += value * scale
    return dict(out)


def _params(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


# -- flopsight ---------------------------------------------------------------------------------


def _flopsight(convention: str) -> Callable[[Any, tuple[Any, ...]], Count]:
    def count(model: Any, inputs: tuple[Any, ...]) -> Count:
        import flopsight

        report = flopsight.count(model, *inputs, convention=convention)
        assert report.total is not None, report.error
        ops = dict(report.ops)
        return Count(
            raw=report.total.macs,
            macs=report.total.macs,
            params=report.total.params,
            breakdown=lambda: {k: float(v) for k, v in ops.items() if v},
            extra={"flops": report.total.flops},
        )

    return count


# -- ptflops -----------------------------------------------------------------------------------


def _ptflops_pytorch(model: Any, inputs: tuple[Any, ...]) -> Count:
    from ptflops import get_model_complexity_info

    macs, params = get_model_complexity_info(
        model,
        tuple(inputs[0].shape[1:]),
        input_constructor=lambda _res: inputs[0],
        as_strings=False,
        print_per_layer_stat=False,
        backend="pytorch",
        backend_specific_config={"count_functional": False},
    )
    if macs is None:
        raise RuntimeError("ptflops returned None (it printed the exception above)")

    def breakdown() -> dict[str, float]:
        from ptflops import pytorch_engine as engine

        flops_model = engine.add_flops_counting_methods(model)
        flops_model.eval()
        flops_model.start_flops_count(ost=io.StringIO(), verbose=False, ignore_list=[])
        model(*inputs)
        per_type: dict[str, float] = defaultdict(float)

        def walk(module: Any) -> None:
            if engine.is_supported_instance(module):
                per_type[type(module).__name__] += float(module.__flops__)
            else:
                for child in module.children():
                    walk(child)

        walk(model)
        flops_model.stop_flops_count()
        return _by_family(per_type)

    return Count(raw=macs, macs=macs, params=int(params), breakdown=breakdown)


def _ptflops_aten(model: Any, inputs: tuple[Any, ...]) -> Count:
    from ptflops import get_model_complexity_info

    macs, params = get_model_complexity_info(
        model,
        tuple(inputs[0].shape[1:]),
        input_constructor=lambda _res: inputs[0],
        as_strings=False,
        print_per_layer_stat=False,
        backend="aten",
    )
    if macs is None:
        raise RuntimeError("ptflops returned None (it printed the exception above)")

    def breakdown() -> dict[str, float]:
        from ptflops.aten_engine import FlopCounterMode

        counter = FlopCounterMode(model)
        with counter:
            model(*inputs)
        return _by_family({str(k): float(v) for k, v in counter.flop_counts["Global"].items()})

    return Count(raw=macs, macs=macs, params=int(params), breakdown=breakdown)


# -- fvcore ------------------------------------------------------------------------------------


def _fvcore(model: Any, inputs: tuple[Any, ...]) -> Count:
    from fvcore.nn import FlopCountAnalysis, parameter_count

    analysis = FlopCountAnalysis(model, inputs)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    with contextlib.redirect_stderr(io.StringIO()):
        total = analysis.total()
    skipped = dict(analysis.unsupported_ops())
    return Count(
        raw=total,
        macs=total,  # fvcore counts one fused multiply-add as one "flop"
        params=int(parameter_count(model)[""]),
        breakdown=lambda: _by_family({k: float(v) for k, v in analysis.by_operator().items()}),
        extra={"unsupported_ops": skipped},
    )


# -- thop --------------------------------------------------------------------------------------


def _thop(model: Any, inputs: tuple[Any, ...]) -> Count:
    from thop import profile

    total, params, layers = profile(model, inputs=inputs, verbose=False, ret_layer_info=True)

    def breakdown() -> dict[str, float]:
        per_type: dict[str, float] = defaultdict(float)

        def walk(tree: dict[str, Any], prefix: str) -> None:
            for name, (ops, _params, children) in tree.items():
                path = f"{prefix}{name}"
                if children:
                    walk(children, path + ".")
                elif ops:
                    per_type[type(model.get_submodule(path)).__name__] += float(ops)

        walk(layers, "")
        return _by_family(per_type)

    return Count(raw=float(total), macs=float(total), params=int(params), breakdown=breakdown)


# -- torch.utils.flop_counter ------------------------------------------------------------------


def _flop_counter(model: Any, inputs: tuple[Any, ...]) -> Count:
    from torch.utils.flop_counter import FlopCounterMode

    mode = FlopCounterMode(display=False)
    with mode:
        model(*inputs)
    flops = mode.get_total_flops()
    per_op = {str(k): float(v) for k, v in mode.get_flop_counts()["Global"].items()}
    return Count(
        raw=flops,
        macs=flops / 2,  # it counts FLOPs: 2 per multiply-accumulate
        params=_params(model),
        breakdown=lambda: _by_family(per_op, 0.5),
    )


# -- DeepSpeed ---------------------------------------------------------------------------------


def _deepspeed(model: Any, inputs: tuple[Any, ...]) -> Count:
    import logging

    from deepspeed.profiling.flops_profiler import get_model_profile

    logging.getLogger("DeepSpeed").setLevel(logging.WARNING)  # its "profiler started" lines
    flops, macs, params = get_model_profile(
        model,
        args=list(inputs),
        kwargs={},
        print_profile=False,
        detailed=False,
        as_string=False,
    )

    def breakdown() -> dict[str, float]:
        return _by_family(_deepspeed_macs_by_function(model, inputs))

    return Count(
        raw=float(macs),
        macs=float(macs),  # DeepSpeed reports MACs, and FLOPs apart (not always 2 per MAC)
        params=int(params),
        breakdown=breakdown,
        extra={"flops": float(flops)},
    )


def _deepspeed_macs_by_function(model: Any, inputs: tuple[Any, ...]) -> dict[str, float]:
    """One profiled forward, DeepSpeed's MACs summed per patched function (``linear``, ``mm``).

    Each counting wrapper appends ``(func.__str__, macs)`` to the innermost module's list in
    ``profiler.module_mac_count``; a recording stack in its place reads them as they arrive.
    """
    from deepspeed.profiling.flops_profiler import profiler

    sums: dict[str, float] = defaultdict(float)

    class Frame(list[Any]):
        def append(self, item: Any) -> None:
            name, value = item
            text = name() if callable(name) else str(name)
            found = re.search(r"(?:function|method) '?(\w+)", text)
            sums[found.group(1) if found else text] += float(value)
            super().append(item)

    class Stack(list[Any]):
        def append(self, item: Any) -> None:
            super().append(Frame(item))

    saved = profiler.module_mac_count
    profiler.module_mac_count = Stack()
    prof = profiler.FlopsProfiler(model)
    try:
        prof.start_profile()
        model(*inputs)
        prof.stop_profile()
        prof.end_profile()
    finally:
        profiler.module_mac_count = saved
    return dict(sums)


TOOLS: tuple[Tool, ...] = (
    Tool("flopsight_macs", "flopsight (macs)", "MACs", True, _flopsight("macs")),
    Tool("flopsight_ptflops", "flopsight (ptflops)", "MACs", True, _flopsight("ptflops")),
    Tool("ptflops_pytorch", "ptflops (pytorch)", "MACs", False, _ptflops_pytorch),
    Tool("ptflops_aten", "ptflops (aten)", "MACs", False, _ptflops_aten),
    Tool("fvcore", "fvcore", "fused multiply-adds", False, _fvcore),
    Tool("thop", "thop", "MACs", False, _thop),
    Tool("flop_counter", "torch flop_counter", "FLOPs (2 per MAC)", False, _flop_counter),
    Tool("deepspeed", "DeepSpeed", "MACs (FLOPs apart)", False, _deepspeed),
)
BY_KEY = {t.key: t for t in TOOLS}
PEERS = tuple(t for t in TOOLS if not t.key.startswith("flopsight"))


def build(
    tool: Tool,
    spec: BenchModel,
    on_meta: bool,
    by_hand: bool = False,
    notes: dict[str, Any] | None = None,
) -> tuple[Any, tuple[Any, ...], str]:
    """The model in eval mode, its example inputs, and the device it was built on.

    ``by_hand``: what a user can do for a peer, ``with torch.device("meta"): model = ...`` and
    meta inputs, without flopsight's fallbacks (meta parameters, skipped init kernels). Where
    that constructor needs data, the user's next option: build on the CPU, then ``.to("meta")``
    (device ``cpu-then-meta``; why ``meta`` failed goes to ``notes["meta_build_error"]``).
    """
    import torch

    factory = spec.factory()
    if on_meta and by_hand:
        try:
            with torch.device("meta"):
                model, device = factory(), "meta"
        except Exception as exc:
            if notes is not None:
                lines = str(exc).strip().splitlines()
                notes["meta_build_error"] = {
                    "type": type(exc).__name__,
                    "message": (lines[0] if lines else "")[:300],
                }
            torch.manual_seed(0)
            model, device = factory().to("meta"), "cpu-then-meta"
    elif on_meta:
        from flopsight.counting.build import build_model

        model, device = build_model(factory)
    else:
        torch.manual_seed(0)
        model, device = factory(), "cpu"
    model.eval()
    inputs: list[Any] = []
    for inp in spec.inputs:
        dtype = getattr(torch, inp.dtype)
        if device != "cpu":
            inputs.append(torch.empty(inp.shape, dtype=dtype, device="meta"))
        elif dtype.is_floating_point:
            inputs.append(torch.randn(inp.shape, dtype=dtype))
        else:
            inputs.append(torch.zeros(inp.shape, dtype=dtype))
    return model, tuple(inputs), device
