"""The conventions flopsight counts in, one module each, and their registry.

Adding a convention: write ``conventions/<name>.py`` building a ``RuleSet`` (op rules, free
ops, module rules) named ``CONVENTION``, add it to ``_MODULES`` below and its name to the
``Convention`` literal in ``report/model.py`` (torch-free code checks names against it).
``has_backward=True`` lets training mode price the backward's ops with its op rules (``macs``).
"""

from __future__ import annotations

import importlib

from flopsight.counting.conventions.base import Convention, ConventionTally, RuleSet

__all__ = ["CONVENTIONS", "Convention", "ConventionTally", "RuleSet", "get", "register"]

REGISTRY: dict[str, Convention] = {}


def register(convention: Convention) -> Convention:
    """Make ``convention`` countable by its name; a name registered twice is an error."""
    if convention.name in REGISTRY:
        raise ValueError(f"convention {convention.name!r} is already registered")
    REGISTRY[convention.name] = convention
    return convention


def get(name: str) -> Convention:
    """The convention called ``name``; a ValueError naming the known ones otherwise."""
    convention = REGISTRY.get(name)
    if convention is None:
        raise ValueError(f"unknown convention {name!r}: use one of {', '.join(REGISTRY)}")
    return convention


_MODULES = ("macs", "ptflops", "fvcore", "deepspeed")
for _name in _MODULES:
    register(importlib.import_module(f"{__name__}.{_name}").CONVENTION)

CONVENTIONS: tuple[str, ...] = tuple(REGISTRY)
