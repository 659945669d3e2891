"""What a convention is, and what one counting pass keeps for each convention it charges.

A convention is a set of rules (design: Counting):

- op rules: an aten overload packet -> ``OpRule`` (a family and a MACs formula), charged to the
  innermost running module and to the innermost line of the analysed file;
- which ops are free by the convention's definition (views, copies, elementwise ...); an op
  that has no rule and is not free is listed as uncounted, never dropped;
- module rules: a module type -> ``ModuleRule``, charged once per call at the line that called
  the module; the children of a charged module (and the ops run inside it) are not charged again;
- function rules: a Python-level torch function (``F.linear``, ``torch.einsum``, ``Tensor.mul``)
  -> ``FunctionRule``, charged per call by wrapping the function while counting, as tools that
  patch functionals (DeepSpeed) or trace composite ops (fvcore's JIT) see them.

A convention may have op rules, module rules or both. The counting session (``counter.py``)
only asks these questions, so adding a convention is adding a module to this package.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import torch
from torch import nn

from flopsight.counting.formulas import FREE, UNCOUNTED, OpRule
from flopsight.counting.ptflops_rules import ModuleRule

__all__ = [
    "FREE",
    "UNCOUNTED",
    "Convention",
    "ConventionTally",
    "Cost",
    "FunctionRule",
    "ModuleRule",
    "OpRule",
    "Phase",
    "RuleSet",
]

OpPacket = torch._ops.OpOverloadPacket

# The pass a tally belongs to. Training mode adds "backward" (charged while the backward runs
# under the same dispatch mode, to the forward's module and line) and "recompute" (forward
# segments that activation checkpointing re-runs in the backward); see ``counter._Session``.
Phase = Literal["forward", "backward", "recompute"]


class Convention(Protocol):
    """The questions the counting session asks a convention (``RuleSet`` answers them)."""

    @property
    def name(self) -> str: ...

    @property
    def charges_ops(self) -> bool:
        """Whether ``op_rule`` can answer anything but ``FREE`` (the session skips it if not)."""
        ...

    @property
    def charges_modules(self) -> bool: ...

    @property
    def has_backward(self) -> bool:
        """Whether training mode charges the backward's ops under this convention's op rules."""
        ...

    @property
    def prices_left_out_ops(self) -> Convention | None:
        """A convention whose op rules price the ops this one leaves out, for a note."""
        ...

    @property
    def function_rules(self) -> Mapping[FunctionSite, FunctionRule]:
        """Torch functions charged per call (empty for most conventions)."""
        ...

    @property
    def counts_activations(self) -> bool:
        """Whether the tally's ``activations`` mean something (fvcore's activation count)."""
        ...

    def op_rule(self, packet: OpPacket) -> OpRule:
        """The op's rule: a formula, ``FREE`` or ``UNCOUNTED``."""
        ...

    def module_rule(self, module: nn.Module) -> ModuleRule | None: ...

    def notes(self, tally: ConventionTally) -> list[str]:
        """What the report should say about this pass under this convention."""
        ...


# (positional args, keyword args, output) -> (MACs, FLOPs)
FunctionFormula = Callable[[tuple[Any, ...], dict[str, Any], Any], tuple[int, int]]


@dataclass(frozen=True)
class FunctionRule:
    """How one call of a wrapped torch function is charged.

    ``covers``: the ops and wrapped functions run inside the call are not charged again (the
    call is one op, as in fvcore's trace); otherwise they are charged too (DeepSpeed's
    patched functionals nest).
    """

    family: str
    formula: FunctionFormula
    covers: bool = False
    # Output elements, for conventions that count activations (fvcore's); None: none.
    activations: Callable[[Any], int] | None = None
    # Whether the rule takes this call (args, kwargs); None: every call.
    applies: Callable[[tuple[Any, ...], dict[str, Any]], bool] | None = None


# Where a wrapped function lives: (owner object, attribute name), e.g. (torch.nn.functional,
# "linear"); the session replaces the attribute while counting and puts it back afterwards.
FunctionSite = tuple[object, str]


def _never_free(packet: OpPacket) -> bool:
    return False


def _no_module_rule(module: nn.Module) -> ModuleRule | None:
    return None


def _no_notes(tally: ConventionTally) -> list[str]:
    return []


@dataclass(eq=False)
class RuleSet:
    """A convention made of registered rules; each module of this package builds one."""

    name: str
    # Registered op formulas (shared with the registry that fills them, e.g. formulas.OP_RULES).
    op_rules: Mapping[OpPacket, OpRule] = field(default_factory=dict)
    # Ops that cost nothing by the convention's definition.
    is_free: Callable[[OpPacket], bool] = _never_free
    # Module type -> rule (the lookup may add rules lazily, as ptflops' optional ones).
    module_rule_for: Callable[[nn.Module], ModuleRule | None] = _no_module_rule
    charges_ops: bool = True
    charges_modules: bool = False
    # Training mode: the backward's aten ops are priced by the same op rules (``macs``); a
    # convention of per-module formulas has no backward of its own.
    has_backward: bool = False
    prices_left_out_ops: Convention | None = None
    notes_for: Callable[[ConventionTally], list[str]] = _no_notes
    function_rules: Mapping[FunctionSite, FunctionRule] = field(default_factory=dict)
    counts_activations: bool = False
    # op_rule's answers per packet; a registry that changes its rules clears it.
    classified: dict[OpPacket, OpRule] = field(default_factory=dict)

    def op_rule(self, packet: OpPacket) -> OpRule:
        rule = self.classified.get(packet)
        if rule is None:
            rule = self.op_rules.get(packet)
            if rule is None:
                rule = FREE if self.is_free(packet) else UNCOUNTED
            self.classified[packet] = rule
        return rule

    def module_rule(self, module: nn.Module) -> ModuleRule | None:
        return self.module_rule_for(module)

    def notes(self, tally: ConventionTally) -> list[str]:
        return self.notes_for(tally)


@dataclass
class Cost:
    """MACs and FLOPs charged to one module (its own ops, not its children's) or one line.

    FLOPs are 2 x MACs unless a rule says otherwise (DeepSpeed counts bias and activations in
    FLOPs only); both are kept per family.
    """

    macs: int = 0
    ops: dict[str, int] = field(default_factory=dict)
    flops: int = 0
    flop_ops: dict[str, int] = field(default_factory=dict)
    activations: int = 0

    def add(self, family: str, macs: int, flops: int | None = None) -> None:
        self.macs += macs
        if macs:
            self.ops[family] = self.ops.get(family, 0) + macs
        flops = 2 * macs if flops is None else flops
        self.flops += flops
        if flops:
            self.flop_ops[family] = self.flop_ops.get(family, 0) + flops

    def merge(self, other: Cost) -> None:
        # Plain dicts and early outs: the report adds every module's cost into its parent's.
        if other.ops:
            ops = self.ops
            for family, macs in other.ops.items():
                ops[family] = ops.get(family, 0) + macs
            self.macs += other.macs
        if other.flop_ops:
            flop_ops = self.flop_ops
            for family, flops in other.flop_ops.items():
                flop_ops[family] = flop_ops.get(family, 0) + flops
            self.flops += other.flops
        self.activations += other.activations

    def copy(self) -> Cost:
        return Cost(self.macs, dict(self.ops), self.flops, dict(self.flop_ops), self.activations)


@dataclass(eq=False)
class ConventionTally:
    """One convention's figures from one pass: per module, per line, and what it could not count."""

    convention: Convention
    phase: Phase = "forward"
    # id(module) -> the module's own cost; line number -> the line's cost.
    modules: dict[int, Cost] = field(default_factory=dict)
    # By (file, line): file None for the analysed file (``spellings.Loc``).
    lines: dict[tuple[str | None, int], Cost] = field(default_factory=dict)
    uncounted: Counter[str] = field(default_factory=Counter)
    # How many modules with a rule are running: inside one, nothing else is charged.
    charged_depth: int = 0
    # MACs (priced by ``prices_left_out_ops``) of ops run outside any charged module, and where.
    left_out_macs: int = 0
    left_out_lines: set[int] = field(default_factory=set)

    def charge_module(
        self, module_id: int, family: str, macs: int, flops: int | None = None
    ) -> None:
        cost = self.modules.get(module_id)
        if cost is None:
            cost = self.modules[module_id] = Cost()
        cost.add(family, macs, flops)

    def charge_line(
        self, line: tuple[str | None, int], family: str, macs: int, flops: int | None = None
    ) -> None:
        cost = self.lines.get(line)
        if cost is None:
            cost = self.lines[line] = Cost()
        cost.add(family, macs, flops)

    def charge_activations(self, module_id: int | None, count: int) -> None:
        if module_id is None:
            return
        cost = self.modules.get(module_id)
        if cost is None:
            cost = self.modules[module_id] = Cost()
        cost.activations += count
