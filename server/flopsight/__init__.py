"""flopsight: what a PyTorch model costs (MACs, FLOPs, params), per layer and per line.

``flopsight.count(model, *example_inputs, convention="macs")`` counts a model you hold;
importing this package does not import torch (the counting engine, ``flopsight.counting``,
is imported on the first call).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

    from flopsight.report.model import ModelReport

__version__ = "0.1.0"
__all__ = ["__version__", "count"]


def count(
    model: nn.Module, *example_inputs: Any, convention: str = "macs", **kwargs: Any
) -> ModelReport:
    """Count ``model(*example_inputs, **kwargs)``: MACs, FLOPs and params per layer.

    >>> report = flopsight.count(torchvision.models.resnet50(), torch.randn(1, 3, 224, 224))
    >>> report.total.macs
    """
    from flopsight.counting import count_model

    started = time.perf_counter()
    report = count_model(model, tuple(example_inputs), dict(kwargs), convention=convention)
    # The owner of elapsed_ms for a model counted through the API (run_file owns a file's).
    report.elapsed_ms = (time.perf_counter() - started) * 1000.0
    return report
