"""flopsight: what a PyTorch model costs (MACs, FLOPs, params), per layer and per line.

``flopsight.count(model, *example_inputs, convention="macs")`` counts a model you hold
(``conventions=("macs", "ptflops")`` counts in several at once, read with ``count_in``);
importing this package does not import torch (the counting engine, ``flopsight.counting``,
is imported on the first call).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

    from flopsight.counting.memory import MemoryReport
    from flopsight.report.model import ModelReport

__version__ = "0.1.0"
__all__ = ["__version__", "count", "memory"]


def count(
    model: nn.Module,
    *example_inputs: Any,
    convention: str | None = None,
    conventions: Sequence[str] = (),
    mode: str = "inference",
    **kwargs: Any,
) -> ModelReport:
    """Count ``model(*example_inputs, **kwargs)``: MACs, FLOPs and params per layer.

    ``convention`` (``macs`` unless ``conventions`` names others first) fills the report;
    every convention in ``conventions`` is charged in the same forward pass. ``mode="train"``
    counts a training step: forward in ``train()`` plus the loss's backward, split per layer
    and line into ``forward_macs``, ``backward_macs`` and ``recompute_macs``.

    >>> report = flopsight.count(torchvision.models.resnet50(), torch.randn(1, 3, 224, 224))
    >>> report.total.macs
    >>> both = flopsight.count(model, x, conventions=("macs", "ptflops"))
    >>> both.count_in("ptflops").macs
    >>> step = flopsight.count(model, x, mode="train")
    >>> step.total.forward_macs, step.total.backward_macs
    """
    from flopsight.counting import count_model

    started = time.perf_counter()
    report = count_model(
        model,
        tuple(example_inputs),
        dict(kwargs),
        convention=convention,
        conventions=tuple(conventions),
        mode=mode,
    )
    # The owner of elapsed_ms for a model counted through the API (run_file owns a file's).
    report.elapsed_ms = (time.perf_counter() - started) * 1000.0
    return report


def memory(
    model: nn.Module,
    *example_inputs: Any,
    mode: str = "train",
    optimizer: str = "adamw",
    precision: str = "fp32",
    **kwargs: Any,
) -> MemoryReport:
    """Peak memory of ``model(*example_inputs, **kwargs)``: one training step (forward, loss,
    backward, ``optimizer.step()``) or, with ``mode="inference"``, the forward alone.

    Run it on meta (``with torch.device("meta"): model = Net()`` and meta inputs): nothing is
    allocated. Pure ``bf16``/``fp16`` casts the model in place.

    >>> r = flopsight.memory(model, x, optimizer="adamw", precision="bf16-mixed")
    >>> r.peak_bytes, r.peak_path, r.peak_phase, r.totals["activations"]
    """
    from flopsight.counting.memory import track_memory

    if mode not in ("train", "inference"):
        raise ValueError(f"mode {mode!r}: use 'train' or 'inference'")
    return track_memory(
        model,
        list(example_inputs),
        dict(kwargs),
        mode="train" if mode == "train" else "inference",
        optimizer=optimizer,
        precision=precision,
    )
