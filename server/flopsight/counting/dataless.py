"""Checks that read a tensor's values only to validate or to take a shortcut, skipped on meta.

A meta tensor has no values, so ``bool(t.all())`` raises and the whole model would otherwise
be rebuilt and run on the CPU with real weights (minutes, and more memory than a multi-billion
parameter default config leaves). Two such checks change nothing that is counted:

- ``torch.distributions`` validating its arguments (``Normal(0, 1)`` checks ``scale > 0``);
- Hugging Face ``transformers``' data-dependent shortcuts (is the padding mask all ones, are
  sequences packed), which it already skips for data-less ``FakeTensor``s through
  ``is_tracing(tensor)``: a meta tensor is treated the same way, so the model keeps its
  explicit mask path and the same matmuls run.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch.distributions import Distribution


@contextmanager
def data_checks_skipped() -> Iterator[None]:
    """For one count on meta: no distribution validation, meta tensors count as traced."""
    validate = Distribution._validate_args
    Distribution.set_default_validate_args(False)
    hf = sys.modules.get("transformers.utils.import_utils")  # only where transformers is in use
    original = getattr(hf, "is_fake_tensor", None)
    if hf is not None and callable(original):

        def fake_or_meta(x: Any) -> bool:
            return bool(original(x)) or (isinstance(x, torch.Tensor) and x.is_meta)

        setattr(hf, "is_fake_tensor", fake_or_meta)  # noqa: B010 (a module mypy cannot see)
    try:
        yield
    finally:
        Distribution.set_default_validate_args(validate)
        if hf is not None and callable(original):
            setattr(hf, "is_fake_tensor", original)  # noqa: B010
