"""Make torchvision importable for every test that imports it (ptflops does too).

The fix is applied just before torchvision's first import, so test sessions that never touch
torchvision (the language server's) never import torch either.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType


class _FixTorchvisionFirst(importlib.abc.MetaPathFinder):
    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == "torchvision":
            sys.meta_path.remove(self)
            from flopsight.counting.tvfix import ensure_torchvision_importable

            ensure_torchvision_importable()
        return None  # the regular finders import it


if "torchvision" not in sys.modules:
    sys.meta_path.insert(0, _FixTorchvisionFirst())
