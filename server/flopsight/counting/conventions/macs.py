"""The ``macs`` convention: every aten op priced by its formula (``counting/formulas.py``).

Matmuls, convolutions, attention kernels and RNN kernels cost their multiply-accumulates;
views, copies, elementwise ops, norms, pooling and reductions are free (torchvision's
published GFLOPS column counts this way). No module rules. In training mode the backward's
ops are priced by the same formulas (``convolution_backward`` is flopsight's own).
"""

from __future__ import annotations

from flopsight.counting import formulas
from flopsight.counting.conventions.base import Convention, RuleSet

# Shares formulas' cache, which ``formulas.register`` clears when a formula is added.
CONVENTION: Convention = RuleSet(
    name="macs",
    op_rules=formulas.OP_RULES,
    is_free=formulas.is_free,
    classified=formulas.CLASSIFIED,
    has_backward=True,
)
