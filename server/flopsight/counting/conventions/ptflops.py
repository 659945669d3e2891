"""The ``ptflops`` convention: ptflops 0.7.x (pytorch backend) per-module formulas.

Module rules only (``counting/ptflops_rules.py``): a module is charged when its exact type is
registered, once per call, and its children are not charged again. Functional ops in
``forward`` cost nothing (ptflops with ``count_functional=False``); what they would cost under
``macs`` is told in a note, so the user sees what the convention leaves out.
"""

from __future__ import annotations

from flopsight.counting import ptflops_rules
from flopsight.counting.conventions import macs
from flopsight.counting.conventions.base import Convention, ConventionTally, RuleSet
from flopsight.report.units import format_macs


def _notes(tally: ConventionTally) -> list[str]:
    if not tally.left_out_macs:
        return []
    where = ""
    if tally.left_out_lines:
        lines = sorted(tally.left_out_lines)
        shown = ", ".join(str(n) for n in lines[:5]) + (", ..." if len(lines) > 5 else "")
        where = f" (line{'s' if len(lines) > 1 else ''} {shown})"
    return [
        f"{format_macs(tally.left_out_macs)} of functional ops in forward{where} are not "
        "counted: the ptflops convention counts modules only, as ptflops does with "
        "count_functional=False; the macs convention counts them"
    ]


def _all_free(packet: object) -> bool:
    return True


CONVENTION: Convention = RuleSet(
    name="ptflops",
    is_free=_all_free,
    module_rule_for=ptflops_rules.rule_for,
    charges_ops=False,
    charges_modules=True,
    prices_left_out_ops=macs.CONVENTION,
    notes_for=_notes,
)
