"""resolve_inputs: concrete example inputs from a model's annotation and the settings."""

from __future__ import annotations

import textwrap

import pytest
from flopsight.report.model import InputSpec
from flopsight.source import (
    ModelSpec,
    Span,
    UnresolvedDimension,
    analyse_source,
    resolve_inputs,
)


def model(text: str, name: str = "Net") -> ModelSpec:
    found = analyse_source(textwrap.dedent(text)).model(name)
    assert found is not None
    return found


JAX = """
    from jaxtyping import Float, Int
    from torch import Tensor, nn

    class Net(nn.Module):  # flopsight: dims={"seq": 77}
        def forward(self, ids: Int[Tensor, "batch seq"], x: Float[Tensor, "b seq dim"]):
            return x
    """


def test_dims_from_the_pragma_then_the_setting() -> None:
    spec = model(JAX)
    got = resolve_inputs(spec, {"batch": 4, "b": 2, "seq": 1000, "dim": 64})
    assert got == [
        InputSpec("ids", [4, 77], "int64"),  # seq: the pragma wins over the setting
        InputSpec("x", [2, 77, 64], "float32"),
    ]


def test_unresolved_dimension_names_the_dim_model_and_span() -> None:
    spec = model(JAX)
    with pytest.raises(UnresolvedDimension) as info:
        resolve_inputs(spec, {"batch": 1, "b": 1})
    err = info.value
    assert (err.dim, err.model) == ("dim", "Net")
    line = (
        textwrap.dedent(JAX)
        .splitlines()
        .index(
            '    def forward(self, ids: Int[Tensor, "batch seq"], x: Float[Tensor, "b seq dim"]):'
        )
    )
    col = textwrap.dedent(JAX).splitlines()[line].index('Float[Tensor, "b seq dim"]')
    assert err.span == Span(line + 1, col, line + 1, col + len('Float[Tensor, "b seq dim"]'))
    assert "add dims={'dim': ...} to the pragma or set flopsight.dims" in str(err)


def test_default_dtype_and_override() -> None:
    spec = model(
        "class Net(nn.Module):  # flopsight: input=[(1, 3), (1, 4)], dtype=[None, 'long']\n"
        "    pass\n"
    )
    assert [i.dtype for i in resolve_inputs(spec, {})] == ["float32", "int64"]
    assert [i.dtype for i in resolve_inputs(spec, {}, "half")] == ["float16", "float16"]
    with pytest.raises(ValueError, match="unknown dtype 'halfish'"):
        resolve_inputs(spec, {}, "halfish")


def test_pragma_symbolic_dims_and_names() -> None:
    text = """
        class Net(nn.Module):  # flopsight: input={"tokens": ("b", "seq")}, dims={"seq": 16}
            def forward(self, tokens, cache=None):
                return tokens
        """
    # A dict names forward's parameters: the input goes by keyword.
    assert resolve_inputs(model(text), {"b": 3}) == [
        InputSpec("tokens", [3, 16], "float32", keyword=True)
    ]


def test_model_without_input_shape() -> None:
    spec = model("class Net(nn.Module):\n    pass\n")
    with pytest.raises(ValueError, match="Net has no input shape"):
        resolve_inputs(spec, {})


def test_input_spec_shapes_are_fresh_lists() -> None:
    spec = model("class Net(nn.Module):  # flopsight: input=(1, 8)\n    pass\n")
    first = resolve_inputs(spec, {})
    first[0].shape.append(99)
    assert resolve_inputs(spec, {})[0].shape == [1, 8]
