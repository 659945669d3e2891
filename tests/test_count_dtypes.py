"""One dtype table for the pragma and the engine, with torch's meanings (``torch.int`` is int32)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from flopsight import dtypes
from flopsight.counting.build import make_inputs, torch_dtype
from flopsight.report.model import InputSpec
from flopsight.source import normalise_dtype, pragma


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("int", torch.int),
        ("long", torch.long),
        ("float", torch.float),
        ("double", torch.double),
        ("half", torch.half),
        ("short", torch.short),
        ("cfloat", torch.cfloat),
        ("torch.int", torch.int),
        ("bfloat16", torch.bfloat16),
    ],
)
def test_every_spelling_means_what_torch_means(spelling: str, expected: torch.dtype) -> None:
    # torch's own attributes are the reference: torch.int is torch.int32, torch.long int64.
    assert torch_dtype(spelling) is expected
    canonical = normalise_dtype(spelling)
    assert canonical is not None and getattr(torch, canonical) is expected


def test_the_pragma_and_the_engine_read_one_table() -> None:
    assert pragma.DTYPE_ALIASES is dtypes.DTYPE_ALIASES
    for spelling, canonical in dtypes.DTYPE_ALIASES.items():
        assert getattr(torch, spelling) is getattr(torch, canonical), spelling
        assert torch_dtype(spelling) is getattr(torch, canonical)


def test_an_int_input_is_built_as_int32() -> None:
    (meta,) = make_inputs([InputSpec("ids", [1, 4], "int")], "meta")
    (cpu,) = make_inputs([InputSpec("ids", [1, 4], "int")], "cpu")
    assert meta.dtype is torch.int32 and cpu.dtype is torch.int32


def test_the_table_imports_without_torch() -> None:
    code = "import sys, flopsight.dtypes, flopsight.source.pragma; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_an_unknown_dtype_says_what_to_write() -> None:
    with pytest.raises(ValueError, match=r"unknown dtype 'int33' \(expected e.g. float32"):
        torch_dtype("int33")
