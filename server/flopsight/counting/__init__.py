"""The counting engine, inside the worker (imports torch); ``flopsight.count`` is its API.

``counter.py`` is the counting session; ``conventions/`` holds one module per convention, each
a set of rules (``formulas.py`` has the op formulas, ``ptflops_rules.py`` the module formulas).
"""

from __future__ import annotations

from flopsight.counting.construction import record_construction
from flopsight.counting.counter import CONVENTIONS, count_model
from flopsight.counting.warm import warm_up

__all__ = ["CONVENTIONS", "count_model", "record_construction", "warm_up"]
