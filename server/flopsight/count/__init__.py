"""Counting, inside the worker (imports torch): ``flopsight.count(model, *inputs)``.

``flopsight.count`` is both this subpackage and the Python API: the module object is callable.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

from torch import nn

from flopsight.count.construction import record_construction
from flopsight.count.counter import CONVENTIONS, count_model
from flopsight.count.warm import warm_up
from flopsight.report.model import ModelReport

__all__ = ["CONVENTIONS", "count", "count_model", "record_construction", "warm_up"]


def count(
    model: nn.Module, *example_inputs: Any, convention: str = "macs", **kwargs: Any
) -> ModelReport:
    """Count ``model(*example_inputs, **kwargs)``: MACs, FLOPs and params per layer.

    >>> report = flopsight.count(torchvision.models.resnet50(), torch.randn(1, 3, 224, 224))
    >>> report.total.macs
    """
    return count_model(model, tuple(example_inputs), dict(kwargs), convention=convention)


class _CallableModule(ModuleType):
    def __call__(
        self, model: nn.Module, *example_inputs: Any, convention: str = "macs", **kwargs: Any
    ) -> ModelReport:
        return count(model, *example_inputs, convention=convention, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
