"""Count a model's forward pass: per op, per module and per source line (design: Counting).

One ``TorchDispatchMode`` sees every aten op. Global module hooks keep the stack of running
modules, so each op is charged to the innermost one; a walk up the Python stack charges it to
the innermost line of the analysed file. What each op or module costs is up to the
conventions being counted (``conventions/``): the same pass charges each of them in its own
``ConventionTally``.

Training mode (``mode="training"``) then runs the loss's backward under the same dispatch
mode. Autograd runs it with no frame of the model on the stack, so while the forward runs
every autograd node it creates is tagged (in ``node.metadata``) with the module and line of
the torch call that made it; each backward op is charged to the tag of the node executing it
(``torch._C._current_autograd_node()``). Ops run with grad enabled during the backward are
activation checkpointing re-running forward segments: charged as ``recompute`` to the module
and line running them.
"""

from __future__ import annotations

import inspect
import sys
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from types import FrameType
from typing import Any, cast

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from flopsight.counting import conventions as registry
from flopsight.counting import moe
from flopsight.counting.conventions.base import (
    FREE,
    UNCOUNTED,
    Convention,
    ConventionTally,
    Cost,
    FunctionRule,
)
from flopsight.counting.dataless import data_checks_skipped
from flopsight.counting.meta_fast import FAST_META
from flopsight.counting.spellings import source_spellings
from flopsight.report.model import (
    Charge,
    ConventionCount,
    Device,
    InputSpec,
    LayerCost,
    LineCost,
    Mode,
    ModelReport,
    OutputShape,
    Totals,
    UncountedOp,
)

CONVENTIONS = registry.CONVENTIONS

# The key of an autograd node's metadata holding where the forward created it.
_NODE_KEY = "flopsight"
# (id of the innermost running module or None, line in the analysed file or None, attention)
_NodeSite = tuple[int | None, int | None, bool]

# torch.nn.Module's own file: the frames between a module call and its forward hooks.
_MODULE_PY = nn.modules.module.__file__


@dataclass
class _Site:
    """What one pass saw of a module or a line, whatever the convention: runs and output shape."""

    calls: int = 0
    output_shape: OutputShape = None


_SDPA = torch.nn.functional.scaled_dot_product_attention


class _AttentionScope(TorchFunctionMode):
    """Marks the matmuls that ``F.scaled_dot_product_attention`` decomposes into as attention.

    The mode sees the calls in the model's own code, however it imported the function; torch
    functions that call it internally (``F.multi_head_attention_forward``) run with the mode
    off, so ``torch.nn.functional.scaled_dot_product_attention`` is wrapped too while counting.
    """

    def __init__(self, session: _Session) -> None:
        super().__init__()
        self._session = session

    def _marked(self, *args: Any, **kwargs: Any) -> Any:
        self._session.attention_depth += 1
        try:
            out = _SDPA(*args, **kwargs)
        finally:
            self._session.attention_depth -= 1
        if self._session.recording:
            self._session.record_nodes(out, attention=True)
        return out

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
        session = self._session
        if func is not _SDPA:
            out = func(*args, **(kwargs or {}))
            if session.recording:
                session.record_nodes(out, attention=False)
            return out
        session.attention_depth += 1
        try:
            out = func(*args, **(kwargs or {}))
        finally:
            session.attention_depth -= 1
        if session.recording:
            session.record_nodes(out, attention=True)
        return out


class _FunctionScope:
    """Wraps the torch functions the conventions' function rules name, while counting.

    Each wrapper charges the call to every tally with a rule for it (innermost module, line of
    the analysed file); a covering rule holds the tally's ``charged_depth`` up during the call,
    so its ops and nested wrapped calls are not charged again. Nothing is wrapped when no
    convention has function rules.
    """

    def __init__(self, session: _Session) -> None:
        self._session = session
        self._saved: list[tuple[object, str, object, bool]] = []

    def __enter__(self) -> _FunctionScope:
        by_site: dict[tuple[int, str], list[tuple[ConventionTally, FunctionRule]]] = {}
        owners: dict[tuple[int, str], object] = {}
        for tally in self._session.tallies:
            for (owner, attr), rule in tally.convention.function_rules.items():
                key = (id(owner), attr)
                owners[key] = owner
                by_site.setdefault(key, []).append((tally, rule))
        for key, entries in by_site.items():
            owner, attr = owners[key], key[1]
            original = getattr(owner, attr, None)
            if original is None:
                continue
            own = attr in vars(owner)
            self._saved.append((owner, attr, original, own))
            setattr(owner, attr, self._wrap(original, attr, entries))
        self._session.wrapping = bool(self._saved)
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, attr, original, own in reversed(self._saved):
            if own:
                setattr(owner, attr, original)
            else:
                delattr(owner, attr)
        self._saved.clear()
        self._session.wrapping = False

    def _wrap(
        self, original: Any, name: str, entries: list[tuple[ConventionTally, FunctionRule]]
    ) -> Any:
        session = self._session
        getframe = sys._getframe
        covers = any(r.covers for _, r in entries)

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if (
                session.dispatching
                or session.in_backward  # no convention with function rules has a backward
                or getframe(1).f_code.co_name == "__torch_function__"
            ):
                # Called by an aten kernel, or a torch function mode (ours, the meta device's)
                # is handed this wrapper by name (a Python functional passes itself, `x + y`
                # passes Tensor.add): the model made no such call, or made it once already.
                return original(*args, **kwargs)
            live = [
                (t, r)
                for t, r in entries
                if not t.charged_depth and (r.applies is None or r.applies(args, kwargs))
            ]
            if not covers:
                out = original(*args, **kwargs)
            else:
                covering = [t for t, r in live if r.covers]
                for tally in covering:
                    tally.charged_depth += 1
                try:
                    out = original(*args, **kwargs)
                finally:
                    for tally in covering:
                        tally.charged_depth -= 1
            if live and session.stack:
                session.charge_call(live, name, args, kwargs, out)
            return out

        return wrapped


# What a post hook registered with ``always_call=True`` gets as output when forward raised.
_RAISED: Any = object()


class _Session(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """The counting session: the dispatch mode plus the module and line bookkeeping.

    It charges every convention in ``tallies`` in the same pass; what a convention charges
    is its own rules' business (``conventions/``), where is the session's.
    """

    def __init__(
        self,
        model: nn.Module,
        conventions: Sequence[Convention],
        source_file: str | None,
        training: bool = False,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        # One tally per convention for the forward; in training mode one "backward" and one
        # "recompute" tally more for each convention that has a backward.
        self.tallies = [ConventionTally(c) for c in conventions]
        with_backward = [c for c in conventions if training and c.has_backward]
        self.backward_tallies = [ConventionTally(c, "backward") for c in with_backward]
        self.recompute_tallies = [ConventionTally(c, "recompute") for c in with_backward]
        self.root_id = id(model)
        # Training forward: tag the autograd nodes each torch call creates (``record_nodes``).
        self.recording = training
        # Set while the backward runs: ops are charged to the nodes' tags (``_backward_op``).
        self.in_backward = False
        # The first line (0 if outside the file) that ran a torch call with grad disabled.
        self.grad_off_line: int | None = None
        # (tally, whether its op rules charge, the convention pricing the ops it leaves out)
        self._op_tallies = [
            (t, t.convention.charges_ops, t.convention.prices_left_out_ops)
            for t in self.tallies
            if t.convention.charges_ops or t.convention.prices_left_out_ops is not None
        ]
        self._module_tallies = [t for t in self.tallies if t.convention.charges_modules]
        self.modules: dict[int, _Site] = {}
        self.known: dict[int, nn.Module] = {id(m): m for m in model.modules()}
        self.stack: list[nn.Module] = []
        self.lines: dict[int, _Site] = {}
        self.source_files = source_spellings(source_file)
        self.activation_bytes = 0
        self.attention_depth = 0
        # Whether ``_FunctionScope`` wraps functions, and how deep in aten kernels we are.
        self.wrapping = False
        self.dispatching = 0
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
        if self.in_backward:  # a checkpointed segment re-running: counted as recompute
            return
        if self.source_files:
            # Only a call written in the analysed file marks a call site; calls made inside
            # an imported block (torchvision's, say) are part of that call.
            frame: FrameType | None = sys._getframe(1)
            while frame is not None and frame.f_code.co_filename == _MODULE_PY:
                frame = frame.f_back
            if frame is not None and frame.f_code.co_filename in self.source_files:
                self._call_site = (frame, frame.f_lasti)
        site = self.modules.get(id(module))
        if site is None:
            site = self.modules[id(module)] = _Site()
        site.calls += 1
        for tally in self._module_tallies:
            if tally.convention.module_rule(module) is not None:
                tally.charged_depth += 1

    def post_hook(
        self, module: nn.Module, inputs: Any, kwargs: dict[str, Any], output: Any = _RAISED
    ) -> None:
        if not self.stack or self.stack[-1] is not module:
            return
        self.stack.pop()
        if self.in_backward:
            # Reentrant checkpoint re-runs the segment with grad on, on the engine's thread
            # where the torch function mode is off, then differentiates what it built: tag
            # those nodes here, module by module (the innermost first).
            if self.recording and output is not _RAISED and torch.is_grad_enabled():
                self.record_nodes(output, attention=False, module=module)
            return
        if output is _RAISED:  # always_call: forward raised; keep the stack right, count nothing
            for tally in self._module_tallies:
                if tally.convention.module_rule(module) is not None:
                    tally.charged_depth -= 1
            return
        self.modules[id(module)].output_shape = _output_shape(output)
        leaf = self._leaf(module)
        if leaf:
            self.activation_bytes += _nbytes(output)
        line: int | None = -1  # not looked up yet
        for tally in self._module_tallies:
            rule = tally.convention.module_rule(module)
            if rule is None:
                # ptflops treats it as a zero-op (its verbose warning); a leaf holding weights
                # surely computes something, so the report says it was not counted.
                # (Conventions wrapping functions price those layers through their calls.)
                if (
                    not tally.charged_depth
                    and not tally.convention.function_rules
                    and leaf
                    and any(p is not None for p in module._parameters.values())
                ):
                    tally.uncounted[f"module:{type(module).__name__}"] += 1
                continue
            tally.charged_depth -= 1
            if tally.charged_depth:
                continue
            try:
                positional = _positional(module, inputs, kwargs)
                macs = int(rule.formula(module, positional, output))
                flops = None if rule.flops is None else int(rule.flops(module, positional, output))
            except Exception:  # a call the formula cannot read (ptflops would fail on it too)
                tally.uncounted[f"module:{type(module).__name__}"] += 1
                continue
            tally.charge_module(id(module), rule.family, macs, flops)
            if line == -1:
                line = self._line(self._source_frame(sys._getframe(1)))
            if line is not None:
                tally.charge_line(line, rule.family, macs, flops)

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
        if self.wrapping:
            # Kernels written in Python (meta decompositions) call torch functions too; the
            # model did not, so wrapped functions do not charge them.
            self.dispatching += 1
            try:
                out = self._run(func, packet, args, kwargs)
            finally:
                self.dispatching -= 1
        else:
            out = self._run(func, packet, args, kwargs)
        if self.in_backward:
            self._backward_op(packet, args, kwargs, out)
            return out
        frame = self._source_frame(sys._getframe(1)) if self.source_files else None
        charged: list[tuple[ConventionTally, str, int]] | None = None
        shared_formula: Any = None
        shared_macs = 0
        for tally, charges_ops, pricer in self._op_tallies:
            if tally.charged_depth:  # inside a module its rules charge: the module covers it
                continue
            rule = tally.convention.op_rule(packet) if charges_ops else FREE
            if rule is FREE:
                if pricer is not None:
                    self._price_left_out(tally, pricer, packet, args, kwargs, out, frame)
                continue
            if rule is UNCOUNTED:
                tally.uncounted[packet._qualified_op_name] += 1
                continue
            if rule.formula is shared_formula:  # two conventions with one formula (fvcore, macs)
                macs = shared_macs
            else:
                try:
                    macs = int(rule.formula(args, kwargs, out))
                except Exception:  # arguments the formula does not understand: say so
                    tally.uncounted[packet._qualified_op_name] += 1
                    continue
                shared_formula, shared_macs = rule.formula, macs
            if rule.activations is not None and self.stack and tally.convention.counts_activations:
                tally.charge_activations(id(self.stack[-1]), int(rule.activations(out)))
            if macs:
                family = "attention" if self.attention_depth else rule.family
                if self.stack:
                    tally.charge_module(id(self.stack[-1]), family, macs)
                if charged is None:
                    charged = []
                charged.append((tally, family, macs))
        if frame is not None:
            line = self._line(frame, count_visit=True)
            if line is not None:
                for tally, family, macs in charged or ():
                    tally.charge_line(line, family, macs)
                shape = _first_tensor_shape(out)
                if shape is not None:
                    self.lines[line].output_shape = shape
        return out

    @staticmethod
    def _run(func: Any, packet: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        fast = FAST_META.get(packet)
        out = fast(args, kwargs) if fast is not None and "out" not in kwargs else None
        return func(*args, **kwargs) if out is None else out

    # --- training ----------------------------------------------------------------------------

    def record_nodes(self, out: Any, attention: bool, module: nn.Module | None = None) -> None:
        """Tag the autograd nodes behind ``out`` that no earlier call tagged with this call's
        module and line (the nodes of ops a torch function ran inside itself included)."""
        if self.in_backward and not torch.is_grad_enabled():
            return  # the backward's own nodes (create_graph) differentiate nothing of ours
        site: _NodeSite | None = None
        for tensor in _tensors(out):
            node = tensor.grad_fn
            if node is None:
                if self.grad_off_line is None and not torch.is_grad_enabled():
                    line = self._line(self._source_frame(sys._getframe(1)))
                    self.grad_off_line = line or 0
                continue
            pending = [node]
            while pending:
                node = pending.pop()
                metadata = _metadata(node)
                if _NODE_KEY in metadata:
                    continue
                if site is None:
                    frame = self._source_frame(sys._getframe(1))
                    if module is None and self.stack:
                        module = self.stack[-1]
                    line = frame.f_lineno if frame is not None else None
                    site = (id(module) if module is not None else None, line, attention)
                metadata[_NODE_KEY] = site
                pending.extend(n for n, _ in node.next_functions if n is not None)

    def discard_backward(self) -> None:
        """Forget what a backward that failed half-way had charged."""
        for tally in (*self.backward_tallies, *self.recompute_tallies):
            tally.modules.clear()
            tally.lines.clear()
            tally.uncounted.clear()
        del self.stack[:]

    def _backward_op(
        self, packet: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any
    ) -> None:
        """Charge an op run by the backward to the forward site it differentiates."""
        node = torch._C._current_autograd_node()
        site: _NodeSite = (None, None, False)
        if node is not None:
            site = _metadata(node).get(_NODE_KEY, site)
        module_id, line, attention = site
        tallies = self.backward_tallies
        # The engine runs backward functions with grad off; checkpoint re-runs the forward
        # segment with grad on, in the model's own frames and modules.
        if torch.is_grad_enabled():
            tallies = self.recompute_tallies
            if self.stack:
                module_id = id(self.stack[-1])
            frame = self._source_frame(sys._getframe(2))
            if frame is not None:
                line = self._line(frame)
            attention = attention or bool(self.attention_depth)
        if module_id is None:
            module_id = self.root_id
        for tally in tallies:
            rule = tally.convention.op_rule(packet)
            if rule is FREE:
                continue
            if rule is UNCOUNTED:
                tally.uncounted[packet._qualified_op_name] += 1
                continue
            try:
                macs = int(rule.formula(args, kwargs, out))
            except Exception:
                tally.uncounted[packet._qualified_op_name] += 1
                continue
            if macs:
                family = "attention" if attention else rule.family
                tally.charge_module(module_id, family, macs)
                if line is not None:
                    tally.charge_line(line, family, macs)

    def _price_left_out(
        self,
        tally: ConventionTally,
        pricer: Convention,
        packet: Any,
        args: tuple[Any, ...],
        kwargs: Any,
        out: Any,
        frame: FrameType | None,
    ) -> None:
        """What an op the convention leaves out would cost under ``pricer`` (for a note)."""
        rule = pricer.op_rule(packet)
        if rule is FREE or rule is UNCOUNTED:
            return
        try:
            macs = int(rule.formula(args, kwargs, out))
        except Exception:
            return
        tally.left_out_macs += macs
        if macs and frame is not None:
            tally.left_out_lines.add(frame.f_lineno)

    def charge_call(
        self,
        live: list[tuple[ConventionTally, FunctionRule]],
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        out: Any,
    ) -> None:
        """Charge one call of a wrapped function to the tallies in ``live`` (``_FunctionScope``)."""
        module_id = id(self.stack[-1])
        line = self._line(self._source_frame(sys._getframe(2))) if self.source_files else None
        for tally, rule in live:
            try:
                macs, flops = rule.formula(args, kwargs, out)
            except Exception:  # arguments the formula does not understand: say so
                tally.uncounted[f"function:{name}"] += 1
                continue
            tally.charge_module(module_id, rule.family, int(macs), int(flops))
            if line is not None:
                tally.charge_line(line, rule.family, int(macs), int(flops))
            if rule.activations is not None and tally.convention.counts_activations:
                tally.charge_activations(module_id, int(rule.activations(out)))

    # --- lines -----------------------------------------------------------------------------

    def _source_frame(self, frame: FrameType | None) -> FrameType | None:
        files = self.source_files
        if not files:
            return None
        while frame is not None and frame.f_code.co_filename not in files:
            frame = frame.f_back
        return frame

    def _line(self, frame: FrameType | None, count_visit: bool = False) -> int | None:
        """The analysed file's line ``frame`` is on (its site made if new); None if none."""
        if frame is None:
            return None
        lineno = frame.f_lineno
        site = self.lines.get(lineno)
        if site is None:
            site = self.lines[lineno] = _Site()
        if count_visit and self._new_visit(frame, lineno, frame.f_lasti):
            site.calls += 1
        return lineno

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


def _metadata(node: Any) -> dict[str, Any]:
    # A property at run time; torch's stubs declare it a method.
    return cast(dict[str, Any], node.metadata)


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


def _all_tallies(session: _Session) -> list[ConventionTally]:
    """Every tally of the pass: the forward ones (main convention first), then the backward
    and the recompute ones of the conventions that have a backward."""
    return [*session.tallies, *session.backward_tallies, *session.recompute_tallies]


def _main_phases(session: _Session) -> list[ConventionTally]:
    """The main convention's tallies: its forward, and its backward and recompute if any."""
    main = session.tallies[0].convention
    return [t for t in _all_tallies(session) if t.convention is main]


def _layers(
    model: nn.Module, session: _Session, constructed_at: Mapping[int, int] | None
) -> tuple[list[LayerCost], list[dict[str, Charge]]]:
    """Every module in ``named_modules()`` order; containers carry their subtree's totals.

    The layers carry the main convention's figures (in training mode the sum of its phases,
    each phase also on its own); the second list, per tally of ``_all_tallies``, each
    layer's subtree ``Charge`` by path.
    """
    layers: list[LayerCost] = []
    tallies = _all_tallies(session)
    main = [i for i, t in enumerate(tallies) if t.convention is tallies[0].convention]
    training = len(main) > 1
    by_tally: list[dict[str, Charge]] = [{} for _ in tallies]
    seen: set[int] = set()
    # A parameter shared by two subtrees counts in the first one only, so parents add up.
    seen_params: set[int] = set()
    empty = Cost()

    def visit(module: nn.Module, path: str, depth: int) -> tuple[list[Cost | None], int]:
        seen.add(id(module))
        site = session.modules.get(id(module)) or _Site()
        layer = LayerCost(
            path=path,
            type=type(module).__name__,
            line=constructed_at.get(id(module)) if constructed_at else None,
            calls=site.calls,
            macs=0,
            flops=0,
            params=0,
            output_shape=site.output_shape,
            depth=depth,
        )
        layers.append(layer)
        # Made now, filled below: the charges keep the layers' (pre-)order.
        charges = [Charge() for _ in tallies]
        for by_path, charge in zip(by_tally, charges, strict=True):
            by_path[path] = charge
        # A subtree's cost is shared with the module or child it came from until a second
        # part is added: then it is copied (``owned``), so no tally's own cost is changed.
        subtree = [tally.modules.get(id(module)) for tally in tallies]
        owned = [False] * len(tallies)
        params = 0
        for p in module._parameters.values():
            if p is not None and id(p) not in seen_params:
                seen_params.add(id(p))
                params += int(p.numel())
        for name, child in module._modules.items():
            if child is None or id(child) in seen:
                continue
            child_costs, child_params = visit(child, f"{path}.{name}" if path else name, depth + 1)
            for i, part in enumerate(child_costs):
                if part is None:
                    continue
                total = subtree[i]
                if total is None:
                    subtree[i] = part
                    continue
                if not owned[i]:
                    total = subtree[i] = total.copy()
                    owned[i] = True
                total.merge(part)
            params += child_params
        phases = [subtree[i] or empty for i in main]
        ops: Counter[str] = Counter()
        for cost in phases:
            ops.update(cost.ops)
        layer.macs = sum(cost.macs for cost in phases)
        layer.flops = sum(cost.flops for cost in phases)
        layer.params = params
        layer.ops = dict(ops)
        if training:
            layer.forward_macs, layer.backward_macs, layer.recompute_macs = (
                cost.macs for cost in phases
            )
        for charge, part in zip(charges, subtree, strict=True):
            _fill_charge(charge, part or empty)
        return subtree, params

    visit(model, "", 0)
    return layers, by_tally


def _fill_charge(charge: Charge, cost: Cost) -> None:
    charge.macs, charge.ops = cost.macs, dict(cost.ops)
    charge.flops, charge.flop_ops = cost.flops, dict(cost.flop_ops)
    charge.activations = cost.activations


def _lines(session: _Session, phases: Sequence[ConventionTally]) -> list[LineCost]:
    """The lines with the figures of ``phases`` (one convention's tallies) summed; with more
    than one phase, each phase's MACs too."""
    empty = Cost()
    lines = []
    numbers = set(session.lines)
    for tally in phases[1:]:
        numbers.update(tally.lines)
    for line in sorted(numbers):
        site = session.lines.get(line) or _Site()
        costs = [tally.lines.get(line, empty) for tally in phases]
        ops: Counter[str] = Counter()
        for cost in costs:
            ops.update(cost.ops)
        macs = sum(cost.macs for cost in costs)
        entry = LineCost(
            line=line,
            macs=macs,
            flops=sum(cost.flops for cost in costs),
            output_shape=site.output_shape,
            calls=max(site.calls, 1),
            ops=dict(ops),
        )
        if len(costs) > 1:
            entry.forward_macs, entry.backward_macs, entry.recompute_macs = (
                cost.macs for cost in costs
            )
        lines.append(entry)
    return lines


def _uncounted(phases: Sequence[ConventionTally]) -> list[UncountedOp]:
    counts: Counter[str] = Counter()
    for tally in phases:
        counts.update(tally.uncounted)
    return [UncountedOp(op, n) for op, n in sorted(counts.items())]


def _convention_count(
    session: _Session, tally: ConventionTally, layers: dict[str, Charge]
) -> ConventionCount:
    root = layers[""]
    lines = {}
    for line in sorted(set(session.lines) | set(tally.lines)):
        charge = lines[line] = Charge()
        _fill_charge(charge, tally.lines.get(line) or Cost())
    return ConventionCount(
        convention=tally.convention.name,
        phase=tally.phase,
        macs=root.macs,
        ops=dict(root.ops),
        flops=root.total_flops,
        flop_ops=dict(root.flop_ops or {}),
        activations=root.activations if tally.convention.counts_activations else None,
        layers=layers,
        lines=lines,
        uncounted_ops=_uncounted([tally]),
        notes=tally.convention.notes(tally) if tally.phase == "forward" else [],
    )


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


@contextmanager
def _slow_attention(conventions: Sequence[Convention]) -> Iterator[None]:
    """Turn off nn.MultiheadAttention's fused path when a convention wraps functions.

    fvcore and DeepSpeed run the model with gradients on, so their references take the
    Python path (linear, bmm, softmax) that their rules price; flopsight counts under
    no_grad, where the fused kernel would hide those calls.
    """
    if not any(c.function_rules for c in conventions):
        yield
        return
    enabled = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(enabled)


def _set_mode(model: nn.Module, training: bool) -> list[tuple[nn.Module, bool]]:
    modes = [(m, m.training) for m in model.modules()]
    model.train(training)
    return modes


MODES: dict[str, Mode] = {
    "inference": "inference",
    "eval": "inference",
    "training": "training",
    "train": "training",
}


def _mode(name: str) -> Mode:
    mode = MODES.get(name)
    if mode is None:
        raise ValueError(f"unknown mode {name!r}: use 'inference' or 'train'")
    return mode


def _is_loss(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.dim() == 0 and value.is_floating_point()


def _loss_of(output: Any) -> tuple[torch.Tensor | None, str]:
    """The loss a training step differentiates, and which output it is (for the report).

    A 0-d floating tensor: ``.loss`` (Hugging Face with ``labels``), a ``loss`` key, an
    element of a returned tuple (nanoGPT's ``(logits, loss)``) or the output itself; else the
    sum of every floating output. None (and what the output is) when there is none.
    """
    if not isinstance(output, torch.Tensor):
        attribute = getattr(output, "loss", None)
        if _is_loss(attribute):
            return attribute, "output.loss"
    if isinstance(output, Mapping) and _is_loss(output.get("loss")):
        return output["loss"], 'output["loss"]'
    if isinstance(output, (tuple, list)):
        for i, item in enumerate(output):
            if _is_loss(item):
                return item, f"output[{i}] (a 0-d tensor)"
    if _is_loss(output):
        return output, "the output (a 0-d tensor)"
    floats = [t for t in _tensors(output) if t.is_floating_point() or t.is_complex()]
    if not floats:
        kinds = sorted({_dtype_name(t.dtype) for t in _tensors(output)})
        got = f"only {', '.join(kinds)} tensors" if kinds else f"a {type(output).__name__}"
        return None, got
    loss = floats[0].sum()
    for tensor in floats[1:]:
        loss = loss + tensor.sum()
    n = len(floats)
    return loss, f"the sum of the floating output{'s' if n > 1 else ''} ({n} tensor{'s' * (n > 1)})"


def _no_backward_reason(
    loss: torch.Tensor | None, described: str, grad_off_line: int | None
) -> str | None:
    """Why the training step has no backward (None when it has one)."""
    if loss is None:
        return (
            f"no backward: the output has no floating tensor to take as the loss ({described}); "
            "return logits or a 0-d loss for training mode to count the backward"
        )
    if loss.requires_grad:
        return None
    if grad_off_line is not None:
        where = f"; line {grad_off_line} ran under it" if grad_off_line else ""
        return (
            f"no backward: forward ran with gradients off (under torch.no_grad() or "
            f"torch.inference_mode(){where}), so autograd recorded nothing to differentiate; "
            "remove it to count the training step"
        )
    return (
        f"no backward: the loss ({described}) does not require grad: no trainable parameter "
        "or input feeds it (all frozen, or only integer or detached ops on the way)"
    )


def _backward(model: nn.Module, loss: torch.Tensor, args: tuple[Any, ...], kwargs: Any) -> None:
    """``loss.backward()``, leaving the parameters' and inputs' ``.grad`` as they were."""
    leaves = [*model.parameters(), *_tensors(list(args)), *_tensors(dict(kwargs))]
    grads = [(t, t.grad) for t in leaves if t.requires_grad]
    try:
        torch.autograd.backward(loss)
    finally:
        for tensor, grad in grads:
            tensor.grad = grad


def count_model(
    model: nn.Module,
    args: tuple[Any, ...],
    kwargs: dict[str, Any] | None = None,
    *,
    convention: str | None = None,
    conventions: Sequence[str] = (),
    source_file: str | None = None,
    constructed_at: Mapping[int, int] | None = None,
    name: str | None = None,
    kind: str = "class",
    line: int = 1,
    inputs: list[InputSpec] | None = None,
    device: str | None = None,
    mode: str = "inference",
) -> ModelReport:
    """Run ``model(*args, **kwargs)`` once in eval mode without gradients and count it.

    ``mode="train"`` (or ``"training"``) counts a training step instead: the forward in
    ``train()`` with gradients, then the loss's backward (``_loss_of``), each backward op
    charged to the forward's module and line. The layers', lines' and total's ``macs`` are
    then the sum of ``forward_macs``, ``backward_macs`` and ``recompute_macs``.

    ``convention`` (default ``macs``, else the first of ``conventions``) fills the report's
    figures; with ``conventions`` the same pass also charges each of them, and
    ``report.counts`` holds every one's figures (``report.count_in("ptflops")``).
    ``source_file`` turns on per-line attribution for that file; ``constructed_at`` maps
    ``id(module)`` to the line that built it (see ``record_construction``).
    """
    main = convention or (conventions[0] if conventions else "macs")
    names = list(dict.fromkeys([main, *conventions]))
    chosen = [registry.get(n) for n in names]
    if kind not in ("class", "instance"):
        raise ValueError(f"unknown model kind {kind!r}: use 'class' or 'instance'")
    kwargs = kwargs or {}
    training = _mode(mode) == "training"
    device = device or _device_of(model, args, kwargs)
    # On meta, tensors the forward creates without a device (`torch.arange(t)`) are meta too.
    default_device = torch.device("meta") if device in ("meta", "meta-params") else nullcontext()
    session = _Session(model, chosen, source_file, training)
    moe.begin()
    modes = _set_mode(model, training)
    pre = nn.modules.module.register_module_forward_pre_hook(session.pre_hook)
    post = nn.modules.module.register_module_forward_hook(
        session.post_hook, with_kwargs=True, always_call=True
    )
    grad = torch.enable_grad() if training else torch.no_grad()
    # train() updates real buffers (batch-norm statistics): the count leaves them as they were.
    buffers = [(b, b.clone()) for b in model.buffers() if training and not b.is_meta]
    no_backward: str | None = None
    loss_of = ""
    try:
        with (
            grad,
            default_device,
            data_checks_skipped() if device in ("meta", "meta-params") else nullcontext(),
            _AttentionScope(session),
            _FunctionScope(session),
            _slow_attention(chosen),
            session,
        ):
            output = model(*args, **kwargs)
            if training:
                loss, loss_of = _loss_of(output)
                no_backward = _no_backward_reason(loss, loss_of, session.grad_off_line)
                del output
                if loss is not None and no_backward is None:
                    session.in_backward = True
                    try:
                        _backward(model, loss, args, kwargs)
                    except Exception as e:  # the forward's counts stand; say why no backward
                        session.discard_backward()
                        no_backward = f"no backward: it raised {type(e).__name__}: {e}"
                    finally:
                        session.in_backward = False
                del loss
    finally:
        pre.remove()
        post.remove()
        for module, was_training in modes:
            module.training = was_training
        with torch.no_grad():
            for buffer, value in buffers:
                buffer.copy_(value)

    params, trainable, param_bytes = _param_totals(model)
    layers, charges = _layers(model, session, constructed_at)
    root = layers[0]
    tally = session.tallies[0]
    phases = _main_phases(session)
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
            activation_bytes=session.activation_bytes,
            active_params=moe.active_params(model, params),
            activations=(
                sum(c.activations for c in tally.modules.values())
                if tally.convention.counts_activations
                else None
            ),
        ),
        layers=layers,
        lines=_lines(session, phases),
        uncounted_ops=_uncounted(phases),
        ops=dict(root.ops),
        notes=tally.convention.notes(tally) + moe.routing_notes(),
        mode="training" if training else "inference",
    )
    if training:
        _training_notes(report, phases, loss_of, no_backward)
    tallies = _all_tallies(session)
    if len(tallies) > 1:
        report.counts = [
            _convention_count(session, t, by_path)
            for t, by_path in zip(tallies, charges, strict=True)
        ]
    return report


def _training_notes(
    report: ModelReport, phases: list[ConventionTally], loss_of: str, no_backward: str | None
) -> None:
    """A training step's totals per phase, which output was the loss, and what is missing."""
    assert report.total is not None
    root = report.layers[0]
    convention = phases[0].convention
    if len(phases) > 1:
        report.total.forward_macs = root.forward_macs
        report.total.backward_macs = root.backward_macs
        report.total.recompute_macs = root.recompute_macs
    report.loss = loss_of or None
    if no_backward is not None:
        report.no_backward = no_backward
        return
    if not convention.has_backward:
        report.notes.append(
            f"training mode: the {convention.name} convention has no backward of its own, so "
            "only the forward (in train()) is shown; the macs convention counts the backward"
        )
        return
    report.notes.append(
        f"training step: forward in train(), then the backward of {loss_of}; each backward op "
        "is charged to the forward module and line it differentiates"
    )
