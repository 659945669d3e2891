"""flopsight: what a PyTorch model costs (MACs, FLOPs, params), per layer and per line.

``flopsight.count(model, *example_inputs, convention="macs")`` counts a model you hold;
importing this package does not import torch.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__", "count"]


def __getattr__(name: str) -> object:
    # `flopsight.count` is both the counting subpackage and a callable (the Python API);
    # importing it lazily keeps torch out of the language server's process.
    if name == "count":
        import importlib

        return importlib.import_module("flopsight.count")
    raise AttributeError(f"module 'flopsight' has no attribute {name!r}")
