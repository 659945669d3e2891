"""Count a model's forward pass: per op, per module and per source line (design: Counting).

One ``TorchDispatchMode`` sees every aten op. Global module hooks keep the stack of running
modules, so each op is charged to the innermost one; a walk up the Python stack charges it to
the innermost line of the analysed file. Under the ``ptflops`` convention the cost comes
from per-module formulas (charged at the line that called the module) and ops are free.
"""

from __future__ import annotations

import inspect
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, cast

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from flopsight.counting import formulas, moe, ptflops_rules
from flopsight.counting.meta_fast import FAST_META
from flopsight.report.model import (
    Device,
    InputSpec,
    LayerCost,
    LineCost,
    ModelReport,
    OutputShape,
    Totals,
    UncountedOp,
)
from flopsight.report.units import format_macs

CONVENTIONS = ("macs", "ptflops")

# torch.nn.Module's own file: the frames between a module call and its forward hooks.
_MODULE_PY = nn.modules.module.__file__


@dataclass
class _Cost:
    """MACs charged to one module (its own ops, not its children's) or one line."""

    macs: int = 0
    ops: Counter[str] = field(default_factory=Counter)

    def add(self, family: str, macs: int) -> None:
        self.macs += macs
        if macs:
            self.ops[family] += macs


@dataclass
class _LineState:
    cost: _Cost = field(default_factory=_Cost)
    calls: int = 0
    output_shape: OutputShape = None


@dataclass
class _ModuleState:
    cost: _Cost = field(default_factory=_Cost)
    calls: int = 0
    output_shape: OutputShape = None


_SDPA = torch.nn.functional.scaled_dot_product_attention


class _AttentionScope(TorchFunctionMode):
    """Marks the matmuls that ``F.scaled_dot_product_attention`` decomposes into as attention.

    The mode sees the calls in the model's own code, however it imported the function; torch
    functions that call it internally (``F.multi_head_attention_forward``) run with the mode
    off, so ``torch.nn.functional.scaled_dot_product_attention`` is wrapped too while counting.
    """

    def __init__(self, tally: _Tally) -> None:
        super().__init__()
        self._tally = tally

    def _marked(self, *args: Any, **kwargs: Any) -> Any:
        self._tally.attention_depth += 1
        try:
            return _SDPA(*args, **kwargs)
        finally:
            self._tally.attention_depth -= 1

    def __enter__(self) -> _AttentionScope:
        torch.nn.functional.scaled_dot_product_attention = self._marked
        super().__enter__()  # type: ignore[no-untyped-call]
        return self

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)  # type: ignore[no-untyped-call]
        torch.nn.functional.scaled_dot_product_attention = _SDPA

    def __torch_function__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        if func is not _SDPA:
            return func(*args, **(kwargs or {}))
        self._tally.attention_depth += 1
        try:
            return func(*args, **(kwargs or {}))
        finally:
            self._tally.attention_depth -= 1


# What a post hook registered with ``always_call=True`` gets as output when forward raised.
_RAISED: Any = object()


class _Tally(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """The counting session: the dispatch mode plus the module and line bookkeeping."""

    def __init__(self, model: nn.Module, convention: str, source_file: str | None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.charge_ops = convention == "macs"
        self.charge_modules = convention == "ptflops"
        self.modules: dict[int, _ModuleState] = {}
        self.known: dict[int, nn.Module] = {id(m): m for m in model.modules()}
        self.stack: list[nn.Module] = []
        # ptflops: a module with a formula is charged once; its children are not.
        self.charged_depth = 0
        self.lines: dict[int, _LineState] = {}
        self.source_files = _spellings(source_file)
        self.uncounted: Counter[str] = Counter()
        self.activation_bytes = 0
        self.attention_depth = 0
        # ptflops: MACs of functional ops it leaves out (a note for the report), and where.
        self.functional_macs = 0
        self.functional_lines: set[int] = set()
        # Where the last op ran (frame, line, instruction), and where the last module call
        # started from: together they tell a new run of a line from more ops of the same run.
        self._last_visit: tuple[FrameType | None, int, int] = (None, 0, -1)
        self._call_site: tuple[FrameType | None, int] = (None, -1)
        self._is_leaf: dict[int, bool] = {}

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # Nothing here is compiled; skipping the torch._dynamo wrapper saves its import
        # (about a second) and a wrapper call per op.
        return False

    # --- modules ---------------------------------------------------------------------------

    def pre_hook(self, module: nn.Module, inputs: Any) -> None:
        if id(module) not in self.known:
            return
        self.stack.append(module)
        if self.source_files:
            # Only a call written in the analysed file marks a call site; calls made inside
            # an imported block (torchvision's, say) are part of that call.
            frame: FrameType | None = sys._getframe(1)
            while frame is not None and frame.f_code.co_filename == _MODULE_PY:
                frame = frame.f_back
            if frame is not None and frame.f_code.co_filename in self.source_files:
                self._call_site = (frame, frame.f_lasti)
        state = self.modules.get(id(module))
        if state is None:
            state = self.modules[id(module)] = _ModuleState()
        state.calls += 1
        if self.charge_modules and ptflops_rules.rule_for(module) is not None:
            self.charged_depth += 1

    def post_hook(
        self, module: nn.Module, inputs: Any, kwargs: dict[str, Any], output: Any = _RAISED
    ) -> None:
        if not self.stack or self.stack[-1] is not module:
            return
        self.stack.pop()
        if output is _RAISED:  # always_call: forward raised; keep the stack right, count nothing
            if self.charge_modules and ptflops_rules.rule_for(module) is not None:
                self.charged_depth -= 1
            return
        state = self.modules[id(module)]
        state.output_shape = _output_shape(output)
        if self._leaf(module):
            self.activation_bytes += _nbytes(output)
        if not self.charge_modules:
            return
        rule = ptflops_rules.rule_for(module)
        if rule is None:
            # ptflops treats it as a zero-op (its verbose warning); a leaf holding weights
            # surely computes something, so the report says it was not counted.
            if (
                not self.charged_depth
                and self._leaf(module)
                and any(p is not None for p in module._parameters.values())
            ):
                self.uncounted[f"module:{type(module).__name__}"] += 1
            return
        self.charged_depth -= 1
        if self.charged_depth:
            return
        try:
            macs = int(rule.formula(module, _positional(module, inputs, kwargs), output))
        except Exception:  # a call the formula cannot read (ptflops would fail on it too)
            self.uncounted[f"module:{type(module).__name__}"] += 1
            return
        state.cost.add(rule.family, macs)
        line = self._line_state(sys._getframe(1))
        if line is not None:
            line.cost.add(rule.family, macs)

    def _leaf(self, module: nn.Module) -> bool:
        leaf = self._is_leaf.get(id(module))
        if leaf is None:
            leaf = self._is_leaf[id(module)] = not module._modules
        return leaf

    # --- ops -------------------------------------------------------------------------------

    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        packet = func._overloadpacket
        fast = FAST_META.get(packet)
        out = fast(args, kwargs) if fast is not None and "out" not in kwargs else None
        if out is None:
            out = func(*args, **kwargs)
        macs = 0
        family = ""
        if self.charge_ops:
            rule = formulas.CLASSIFIED.get(packet) or formulas.classify(packet)
            if rule is formulas.UNCOUNTED:
                self.uncounted[packet._qualified_op_name] += 1
            elif rule is not formulas.FREE:
                try:
                    macs = int(rule.formula(args, kwargs, out))
                except Exception:  # arguments the formula does not understand: say so
                    self.uncounted[packet._qualified_op_name] += 1
                family = "attention" if self.attention_depth else rule.family
        elif not self.charged_depth:
            self._note_functional(packet, args, kwargs, out)
        if macs and self.stack:
            self.modules[id(self.stack[-1])].cost.add(family, macs)
        if self.source_files:
            line = self._line_state(sys._getframe(1), count_visit=True)
            if line is not None:
                line.cost.add(family, macs)
                shape = _first_tensor_shape(out)
                if shape is not None:
                    line.output_shape = shape
        return out

    def _note_functional(self, packet: Any, args: tuple[Any, ...], kwargs: Any, out: Any) -> None:
        """ptflops: what a matmul outside any counted module would cost under ``macs``."""
        rule = formulas.CLASSIFIED.get(packet) or formulas.classify(packet)
        if rule is formulas.FREE or rule is formulas.UNCOUNTED:
            return
        try:
            macs = int(rule.formula(args, kwargs, out))
        except Exception:
            return
        self.functional_macs += macs
        if macs and self.source_files:
            frame = self._source_frame(sys._getframe(2))
            if frame is not None:
                self.functional_lines.add(frame.f_lineno)

    # --- lines -----------------------------------------------------------------------------

    def _source_frame(self, frame: FrameType | None) -> FrameType | None:
        files = self.source_files
        while frame is not None and frame.f_code.co_filename not in files:
            frame = frame.f_back
        return frame

    def _line_state(self, frame: FrameType | None, count_visit: bool = False) -> _LineState | None:
        if not self.source_files:
            return None
        frame = self._source_frame(frame)
        if frame is None:
            return None
        lineno = frame.f_lineno
        state = self.lines.get(lineno)
        if state is None:
            state = self.lines[lineno] = _LineState()
        if count_visit and self._new_visit(frame, lineno, frame.f_lasti):
            state.calls += 1
        return state

    def _new_visit(self, frame: FrameType, lineno: int, lasti: int) -> bool:
        """Whether this op starts a new run of its line rather than continuing the last one.

        New when the op before ran in another frame or on another line, when the instruction
        went backwards (a loop), or when the same call instruction started a module again
        (`x = block(x)` in a loop). The previous frame is held, so a new frame cannot reuse
        its identity.
        """
        last_frame, last_line, last_lasti = self._last_visit
        self._last_visit = (frame, lineno, lasti)
        recalled = self._call_site[0] is frame and self._call_site[1] == lasti
        self._call_site = (None, -1)
        if last_frame is not frame or last_line != lineno or lasti < last_lasti:
            return True
        return lasti == last_lasti and recalled


def _positional(module: nn.Module, args: Any, kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """The call's arguments in ``forward``'s order, so `mha(query=q, key=k, value=v)` reads
    like `mha(q, k, v)` to the ptflops formulas."""
    if not kwargs:
        return tuple(args)
    try:
        bound = inspect.signature(module.forward).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return tuple(args)
    return tuple(bound.arguments.values())


def _spellings(source_file: str | None) -> frozenset[str]:
    if not source_file:
        return frozenset()
    return frozenset({source_file, os.path.abspath(source_file), os.path.realpath(source_file)})


def _shape_of(t: torch.Tensor) -> list[int]:
    return [int(d) for d in t.shape]


def _first_tensor_shape(out: Any) -> list[int] | None:
    if isinstance(out, torch.Tensor):
        return _shape_of(out)
    if isinstance(out, (tuple, list)):
        for item in out:
            if isinstance(item, torch.Tensor):
                return _shape_of(item)
    return None


def _tensors(output: Any) -> Iterator[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        yield output
    elif isinstance(output, (tuple, list)):
        for item in output:
            yield from _tensors(item)
    elif isinstance(output, Mapping):
        for item in output.values():
            yield from _tensors(item)


def _output_shape(output: Any) -> OutputShape:
    if isinstance(output, torch.Tensor):
        return _shape_of(output)
    shapes = [_shape_of(t) for t in _tensors(output)]
    if not shapes:
        return None
    return shapes[0] if len(shapes) == 1 else shapes


def _nbytes(output: Any) -> int:
    return sum(int(t.numel()) * t.element_size() for t in _tensors(output))


# --- the report --------------------------------------------------------------------------


def _layers(
    model: nn.Module, tally: _Tally, constructed_at: Mapping[int, int] | None
) -> list[LayerCost]:
    """Every module in ``named_modules()`` order; containers carry their subtree's totals."""
    layers: list[LayerCost] = []
    seen: set[int] = set()
    # A parameter shared by two subtrees counts in the first one only, so parents add up.
    seen_params: set[int] = set()

    def visit(module: nn.Module, path: str, depth: int) -> tuple[int, Counter[str], int]:
        seen.add(id(module))
        state = tally.modules.get(id(module)) or _ModuleState()
        layer = LayerCost(
            path=path,
            type=type(module).__name__,
            line=constructed_at.get(id(module)) if constructed_at else None,
            calls=state.calls,
            macs=0,
            flops=0,
            params=0,
            output_shape=state.output_shape,
            depth=depth,
        )
        layers.append(layer)
        macs = state.cost.macs
        ops = Counter(state.cost.ops)
        params = 0
        for p in module._parameters.values():
            if p is not None and id(p) not in seen_params:
                seen_params.add(id(p))
                params += int(p.numel())
        for name, child in module._modules.items():
            if child is None or id(child) in seen:
                continue
            child_macs, child_ops, child_params = visit(
                child, f"{path}.{name}" if path else name, depth + 1
            )
            macs += child_macs
            ops.update(child_ops)
            params += child_params
        layer.macs = macs
        layer.flops = 2 * macs
        layer.params = params
        layer.ops = dict(ops)
        return macs, ops, params

    visit(model, "", 0)
    return layers


def _lines(tally: _Tally) -> list[LineCost]:
    return [
        LineCost(
            line=line,
            macs=state.cost.macs,
            flops=2 * state.cost.macs,
            output_shape=state.output_shape,
            calls=max(state.calls, 1),
            ops=dict(state.cost.ops),
        )
        for line, state in sorted(tally.lines.items())
    ]


def _notes(tally: _Tally) -> list[str]:
    if not tally.functional_macs:
        return []
    where = ""
    if tally.functional_lines:
        lines = sorted(tally.functional_lines)
        shown = ", ".join(str(n) for n in lines[:5]) + (", ..." if len(lines) > 5 else "")
        where = f" (line{'s' if len(lines) > 1 else ''} {shown})"
    return [
        f"{format_macs(tally.functional_macs)} of functional ops in forward{where} are not "
        "counted: the ptflops convention counts modules only, as ptflops does with "
        "count_functional=False; the macs convention counts them"
    ]


def _param_totals(model: nn.Module) -> tuple[int, int, int]:
    params = trainable = nbytes = 0
    for p in model.parameters():  # shared parameters are yielded once
        n = int(p.numel())
        params += n
        nbytes += n * p.element_size()
        if p.requires_grad:
            trainable += n
    return params, trainable, nbytes


def _inputs_of(
    model: nn.Module, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> list[InputSpec]:
    try:
        names = [
            p.name
            for p in inspect.signature(model.forward).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        names = []
    specs: list[InputSpec] = []
    for i, value in enumerate(args):
        if isinstance(value, torch.Tensor):
            name = names[i] if i < len(names) else f"input{i}"
            specs.append(InputSpec(name, _shape_of(value), _dtype_name(value.dtype)))
    for name, value in kwargs.items():
        if isinstance(value, torch.Tensor):
            specs.append(InputSpec(name, _shape_of(value), _dtype_name(value.dtype)))
    return specs


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _device_of(model: nn.Module, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Device:
    tensors = [
        *model.parameters(),
        *model.buffers(),
        *_tensors(list(args)),
        *_tensors(dict(kwargs)),
    ]
    types = {t.device.type for t in tensors}
    if "meta" in types:
        return "meta"
    for kind in ("cuda", "mps"):
        if kind in types:
            return cast(Device, kind)
    return "cpu"


def _set_eval(model: nn.Module) -> list[tuple[nn.Module, bool]]:
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    return modes


def count_model(
    model: nn.Module,
    args: tuple[Any, ...],
    kwargs: dict[str, Any] | None = None,
    *,
    convention: str = "macs",
    source_file: str | None = None,
    constructed_at: Mapping[int, int] | None = None,
    name: str | None = None,
    kind: str = "class",
    line: int = 1,
    inputs: list[InputSpec] | None = None,
    device: str | None = None,
) -> ModelReport:
    """Run ``model(*args, **kwargs)`` once in eval mode without gradients and count it.

    ``source_file`` turns on per-line attribution for that file; ``constructed_at`` maps
    ``id(module)`` to the line that built it (see ``record_construction``).
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}: use one of {', '.join(CONVENTIONS)}")
    if kind not in ("class", "instance"):
        raise ValueError(f"unknown model kind {kind!r}: use 'class' or 'instance'")
    kwargs = kwargs or {}
    started = time.perf_counter()
    device = device or _device_of(model, args, kwargs)
    # On meta, tensors the forward creates without a device (`torch.arange(t)`) are meta too.
    default_device = torch.device("meta") if device in ("meta", "meta-params") else nullcontext()
    tally = _Tally(model, convention, source_file)
    moe.begin()
    modes = _set_eval(model)
    pre = nn.modules.module.register_module_forward_pre_hook(tally.pre_hook)
    post = nn.modules.module.register_module_forward_hook(
        tally.post_hook, with_kwargs=True, always_call=True
    )
    try:
        with torch.no_grad(), default_device, _AttentionScope(tally), tally:
            model(*args, **kwargs)
    finally:
        pre.remove()
        post.remove()
        for module, training in modes:
            module.training = training

    params, trainable, param_bytes = _param_totals(model)
    layers = _layers(model, tally, constructed_at)
    root = layers[0]
    report = ModelReport(
        name=name or type(model).__name__,
        kind="instance" if kind == "instance" else "class",
        line=line,
        inputs=inputs if inputs is not None else _inputs_of(model, args, kwargs),
        status="ok",
        device=cast(Device, device),
        total=Totals(
            macs=root.macs,
            flops=root.flops,
            params=params,
            trainable_params=trainable,
            param_bytes=param_bytes,
            activation_bytes=tally.activation_bytes,
            active_params=moe.active_params(model, params),
        ),
        layers=layers,
        lines=_lines(tally),
        uncounted_ops=[UncountedOp(op, n) for op, n in sorted(tally.uncounted.items())],
        ops=dict(root.ops),
        notes=_notes(tally) + moe.routing_notes(),
    )
    report.elapsed_ms = (time.perf_counter() - started) * 1000.0
    return report
