"""Dtype spellings a user may write (pragma, ``--dtype``): one table for the whole program.

Torch-free (``source/`` reads it without torch); the counting engine turns the canonical
name into ``getattr(torch, name)``. ``"int"`` is int32, as ``torch.int`` is.
"""

from __future__ import annotations

# Accepted dtype spellings -> torch attribute name (torch's own aliases: torch.int is int32).
DTYPE_ALIASES: dict[str, str] = {
    "float32": "float32",
    "float": "float32",
    "float16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "float64": "float64",
    "double": "float64",
    "int64": "int64",
    "long": "int64",
    "int32": "int32",
    "int": "int32",
    "int16": "int16",
    "short": "int16",
    "int8": "int8",
    "uint8": "uint8",
    "bool": "bool",
    "complex64": "complex64",
    "cfloat": "complex64",
    "complex128": "complex128",
    "cdouble": "complex128",
}


def normalise_dtype(name: str) -> str | None:
    """``"long"`` -> ``"int64"``, ``"torch.half"`` -> ``"float16"``; None when not a dtype."""
    key = name.strip()
    key = key.removeprefix("torch.")
    return DTYPE_ALIASES.get(key)
