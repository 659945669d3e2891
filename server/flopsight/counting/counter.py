"""Count a model's forward pass: per op, per module and per source line (design: Counting).

One ``TorchDispatchMode`` sees every aten op. Global module hooks keep the stack of running
modules, so each op is charged to the innermost one; a walk up the Python stack charges it to
the innermost line of the workspace's code: the analysed file, or another file under the
workspace root (``spellings.SourceFiles``). What each op or module costs is up to the
conventions being counted (``conventions/``): the same pass charges each of them in its own
``ConventionTally``; ``assemble`` turns the pass into the report, ``training`` holds a
training step's loss and backward.

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
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from types import FrameType
from typing import Any, cast, overload

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from flopsight.counting import conventions as registry
from flopsight.counting import moe
from flopsight.counting.assemble import (
    Site,
    all_tallies,
    convention_count,
    device_of,
    inputs_of,
    layer_costs,
    line_costs,
    main_phases,
    param_totals,
    uncounted_ops,
)
from flopsight.counting.conventions.base import (
    FREE,
    UNCOUNTED,
    Convention,
    ConventionTally,
    FunctionRule,
)
from flopsight.counting.dataless import data_checks_skipped
from flopsight.counting.meta_fast import FAST_META
from flopsight.counting.spellings import Loc, SourceFiles
from flopsight.counting.tensors import first_tensor_shape, nbytes, output_shape, tensors
from flopsight.counting.training import (
    loss_of,
    no_backward_reason,
    parse_mode,
    run_backward,
    set_mode,
    training_notes,
)
from flopsight.report.model import (
    Device,
    InputSpec,
    ModelReport,
    Totals,
)

CONVENTIONS = registry.CONVENTIONS

# The key of an autograd node's metadata holding where the forward created it.
_NODE_KEY = "flopsight"
# (id of the innermost running module or None, the line (file, line) or None, attention)
_NodeSite = tuple[int | None, Loc | None, bool]

# torch.nn.Module's own file: the frames between a module call and its forward hooks.
_MODULE_PY = nn.modules.module.__file__


_SDPA = torch.nn.functional.scaled_dot_product_attention


class _AttentionScope(TorchFunctionMode):
    """Marks the matmuls that ``F.scaled_dot_product_attention`` decomposes into as attention.

    The mode sees the calls in the model's own code, however it imported the function; torch
    functions that call it internally (``F.multi_head_attention_forward``) run with the mode
    off, so ``torch.nn.functional.scaled_dot_product_attention`` is wrapped too while counting.
    """

    def __init__(self, session: CountingSession) -> None:
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

    def __init__(self, session: CountingSession) -> None:
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


class CountingSession(TorchDispatchMode):  # type: ignore[no-untyped-call]
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
        root: str | None = None,
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
        self.modules: dict[int, Site] = {}
        self.known: dict[int, nn.Module] = {id(m): m for m in model.modules()}
        self.stack: list[nn.Module] = []
        self.lines: dict[Loc, Site] = {}
        self.source_files = SourceFiles(source_file, root)
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
            # Only a call written in the workspace's code marks a call site; calls made
            # inside an imported block (torchvision's, say) are part of that call.
            frame: FrameType | None = sys._getframe(1)
            while frame is not None and frame.f_code.co_filename == _MODULE_PY:
                frame = frame.f_back
            if frame is not None and self.source_files.is_charged(frame.f_code.co_filename):
                self._call_site = (frame, frame.f_lasti)
        site = self.modules.get(id(module))
        if site is None:
            site = self.modules[id(module)] = Site()
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
        self.modules[id(module)].output_shape = output_shape(output)
        leaf = self._leaf(module)
        if leaf:
            self.activation_bytes += nbytes(output)
        line: Loc | None = (None, -1)  # not looked up yet
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
            if line == (None, -1):
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
            for tally, family, macs in charged or ():
                tally.charge_line(line, family, macs)
            shape = first_tensor_shape(out)
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
        for tensor in tensors(out):
            node = tensor.grad_fn
            if node is None:
                if self.grad_off_line is None and not torch.is_grad_enabled():
                    line = self._line(self._source_frame(sys._getframe(1)))
                    self.grad_off_line = line[1] if line is not None and line[0] is None else 0
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
                    line = self._loc(frame) if frame is not None else None
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
        if macs and frame is not None and self.source_files.key(frame.f_code.co_filename) is None:
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
        """The innermost frame in the analysed file or another workspace file, if any."""
        files = self.source_files
        if not files:
            return None
        charged = files.charged
        while frame is not None:
            filename = frame.f_code.co_filename
            known = charged.get(filename)
            if known is None:
                known = files.is_charged(filename)
            if known:
                return frame
            frame = frame.f_back
        return None

    def _loc(self, frame: FrameType) -> Loc:
        return (self.source_files.key(frame.f_code.co_filename), frame.f_lineno)

    @overload
    def _line(self, frame: FrameType, count_visit: bool = False) -> Loc: ...
    @overload
    def _line(self, frame: FrameType | None, count_visit: bool = False) -> Loc | None: ...

    def _line(self, frame: FrameType | None, count_visit: bool = False) -> Loc | None:
        """The (file, line) ``frame`` is on (its site made if new); None if no frame."""
        if frame is None:
            return None
        lineno = frame.f_lineno
        loc = (self.source_files.key(frame.f_code.co_filename), lineno)
        site = self.lines.get(loc)
        if site is None:
            site = self.lines[loc] = Site()
        if count_visit and self._new_visit(frame, lineno, frame.f_lasti):
            site.calls += 1
        return loc

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


def count_model(
    model: nn.Module,
    args: tuple[Any, ...],
    kwargs: dict[str, Any] | None = None,
    *,
    convention: str | None = None,
    conventions: Sequence[str] = (),
    source_file: str | None = None,
    root: str | None = None,
    constructed_at: Mapping[int, Loc] | None = None,
    name: str | None = None,
    kind: str = "class",
    line: int = 1,
    inputs: list[InputSpec] | None = None,
    device: str | None = None,
    mode: str = "inference",
) -> ModelReport:
    """Run ``model(*args, **kwargs)`` once in eval mode without gradients and count it.

    ``mode="train"`` (or ``"training"``) counts a training step instead: the forward in
    ``train()`` with gradients, then the loss's backward (``loss_of``), each backward op
    charged to the forward's module and line. The layers', lines' and total's ``macs`` are
    then the sum of ``forward_macs``, ``backward_macs`` and ``recompute_macs``.

    ``convention`` (default ``macs``, else the first of ``conventions``) fills the report's
    figures; with ``conventions`` the same pass also charges each of them, and
    ``report.counts`` holds every one's figures (``report.count_in("ptflops")``).
    ``source_file`` turns on per-line attribution for that file, and ``root`` for the other
    files under that workspace root; ``constructed_at`` maps ``id(module)`` to the
    ``(file, line)`` that built it (see ``record_construction``).
    """
    main = convention or (conventions[0] if conventions else "macs")
    names = list(dict.fromkeys([main, *conventions]))
    chosen = [registry.get(n) for n in names]
    if kind not in ("class", "instance"):
        raise ValueError(f"unknown model kind {kind!r}: use 'class' or 'instance'")
    kwargs = kwargs or {}
    training = parse_mode(mode) == "training"
    device = device or device_of(model, args, kwargs)
    # On meta, tensors the forward creates without a device (`torch.arange(t)`) are meta too.
    default_device = torch.device("meta") if device in ("meta", "meta-params") else nullcontext()
    session = CountingSession(model, chosen, source_file, training, root)
    moe.begin()
    modes = set_mode(model, training)
    pre = nn.modules.module.register_module_forward_pre_hook(session.pre_hook)
    post = nn.modules.module.register_module_forward_hook(
        session.post_hook, with_kwargs=True, always_call=True
    )
    grad = torch.enable_grad() if training else torch.no_grad()
    # train() updates real buffers (batch-norm statistics): the count leaves them as they were.
    buffers = [(b, b.clone()) for b in model.buffers() if training and not b.is_meta]
    no_backward: str | None = None
    loss_from = ""
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
                loss, loss_from = loss_of(output)
                no_backward = no_backward_reason(loss, loss_from, session.grad_off_line)
                del output
                if loss is not None and no_backward is None:
                    session.in_backward = True
                    try:
                        run_backward(model, loss, args, kwargs)
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

    params, trainable, param_bytes = param_totals(model)
    layers, charges = layer_costs(model, session, constructed_at)
    whole = layers[0]
    tally = session.tallies[0]
    phases = main_phases(session)
    report = ModelReport(
        name=name or type(model).__name__,
        kind="instance" if kind == "instance" else "class",
        line=line,
        inputs=inputs if inputs is not None else inputs_of(model, args, kwargs),
        status="ok",
        device=cast(Device, device),
        total=Totals(
            macs=whole.macs,
            flops=whole.flops,
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
        lines=line_costs(session, phases),
        uncounted_ops=uncounted_ops(phases),
        ops=dict(whole.ops),
        notes=tally.convention.notes(tally) + moe.routing_notes(),
        mode="training" if training else "inference",
    )
    if training:
        training_notes(report, phases, loss_from, no_backward)
    tallies = all_tallies(session)
    if len(tallies) > 1:
        report.counts = [
            convention_count(session, t, by_path)
            for t, by_path in zip(tallies, charges, strict=True)
        ]
    return report
