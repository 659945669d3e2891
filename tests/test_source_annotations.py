"""Input shapes annotated on forward(): jaxtyping and typing.Annotated."""

from __future__ import annotations

import textwrap

import pytest
from flopsight.source import SourceAnalysis, Span, analyse_source

HEADER = """\
import typing
from typing import Annotated, Optional

import jaxtyping
import jaxtyping as jt
import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor, nn

"""


def analyse(body: str) -> SourceAnalysis:
    return analyse_source(HEADER + textwrap.dedent(body))


def at(body: str, needle: str, nth: int = 0) -> Span:
    """Span of the ``nth`` occurrence of ``needle`` in HEADER + body."""
    lines = (HEADER + textwrap.dedent(body)).splitlines()
    seen = 0
    for n, content in enumerate(lines, start=1):
        start = 0
        while (col := content.find(needle, start)) >= 0:
            if seen == nth:
                return Span(n, col, n, col + len(needle))
            seen += 1
            start = col + 1
    raise AssertionError(needle)


def model_inputs(
    analysis: SourceAnalysis, name: str = "Net"
) -> list[tuple[str, list[int | str], str | None]]:
    model = analysis.model(name)
    assert model is not None and model.inputs is not None, analysis
    return [(i.name, i.shape, i.dtype) for i in model.inputs]


def test_jaxtyping_shapes_and_dtypes() -> None:
    body = """
        class Net(nn.Module):
            def forward(self, x: Float[Tensor, "batch 3 224 224"], mask: Bool[Tensor, "batch 224"]):
                return x
        """
    analysis = analyse(body)
    assert analysis.diagnostics == []
    assert model_inputs(analysis) == [
        ("x", ["batch", 3, 224, 224], "float32"),
        ("mask", ["batch", 224], "bool"),
    ]
    model = analysis.model("Net")
    assert model is not None and model.inputs is not None
    assert model.input_source == "jaxtyping"
    assert model.inputs[0].span == at(body, 'Float[Tensor, "batch 3 224 224"]')


@pytest.mark.parametrize(
    ("name", "dtype"),
    [
        ("Float", "float32"),
        ("Float32", "float32"),
        ("Float16", "float16"),
        ("BFloat16", "bfloat16"),
        ("Float64", "float64"),
        ("Int", "int64"),
        ("Int64", "int64"),
        ("Integer", "int64"),
        ("Int32", "int32"),
        ("UInt8", "uint8"),
        ("Bool", "bool"),
        ("Shaped", "float32"),
        ("Num", "float32"),
        ("Real", "float32"),
    ],
)
def test_jaxtyping_dtype_names(name: str, dtype: str) -> None:
    body = f"""
        class Net(nn.Module):
            def forward(self, x: jaxtyping.{name}[torch.Tensor, "2 5"]):
                return x
        """
    assert model_inputs(analyse(body)) == [("x", [2, 5], dtype)]


@pytest.mark.parametrize(
    "annotation",
    [
        'jt.Int[Tensor, "b 7"]',
        'Optional[Int[Tensor, "b 7"]]',
        'Int[Tensor, "b 7"] | None',
        'typing.Union[None, Int[Tensor, "b 7"]]',
        "\"Int[Tensor, 'b 7']\"",
        "Annotated[Int[Tensor, 'b 7'], 'ids']",
    ],
)
def test_jaxtyping_spellings(annotation: str) -> None:
    body = f"""
        class Net(nn.Module):
            def forward(self, ids: {annotation}):
                return ids
        """
    analysis = analyse(body)
    assert analysis.diagnostics == []
    assert model_inputs(analysis) == [("ids", ["b", 7], "int64")]


def test_named_sizes_and_scalars() -> None:
    body = """
        class Net(nn.Module):
            def forward(self, x: Float[Tensor, "batch channels=3 224 224"], t: Float[Tensor, ""]):
                return x
        """
    assert model_inputs(analyse(body)) == [
        ("x", ["batch", 3, 224, 224], "float32"),
        ("t", [], "float32"),
    ]


@pytest.mark.parametrize(
    ("dims", "token", "words"),
    [
        ("... 3 224", "...", "any number of dimensions"),
        ("*batch 3 224", "*batch", "variadic"),
        ("#batch 3", "#batch", "broadcastable"),
        ("_ 3", "_", "anonymous"),
        ("b n+1", "n+1", "symbolic expressions are not supported"),
        ("b 0", "0", "at least 1"),
        ("b c=x", "c=x", "name=size"),
    ],
)
def test_jaxtyping_dims_without_a_concrete_size(dims: str, token: str, words: str) -> None:
    body = f"""
        class Net(nn.Module):
            def forward(self, x: Float[Tensor, "{dims}"]):
                return x
        """
    analysis = analyse(body)
    [bad] = analysis.diagnostics  # no FS107 besides: the FS106 says what to do
    assert bad.code == "FS106" and bad.severity == "error"
    col = at(body, f'"{dims}"').col + 1 + dims.index(token)
    line = at(body, f'"{dims}"').line
    assert bad.span == Span(line, col, line, col + len(token))
    assert words in bad.message
    assert bad.data == {"dim": token}
    model = analysis.model("Net")
    assert model is not None and model.inputs is None


def test_jaxtyping_without_a_dimension_string() -> None:
    body = """
        class Net(nn.Module):
            def forward(self, x: Float[Tensor]):
                return x
        """
    [bad] = analyse(body).diagnostics
    assert bad.code == "FS106"
    assert bad.span == at(body, "Float[Tensor]")
    assert bad.message == (
        'Float[...] needs an array type and a string of dimensions: write Float[Tensor, "batch 3 '
        '224 224"]'
    )


@pytest.mark.parametrize(
    "annotation",
    [
        "Annotated[Tensor, (1, 3, 224, 224)]",
        "typing.Annotated[torch.Tensor, [1, 3, 224, 224]]",
        'Annotated[Tensor, "an image", (1, 3, 224, 224)]',
    ],
)
def test_annotated_shapes(annotation: str) -> None:
    body = f"""
        class Net(nn.Module):
            def forward(self, x: {annotation}):
                return x
        """
    analysis = analyse(body)
    assert analysis.diagnostics == []
    assert model_inputs(analysis) == [("x", [1, 3, 224, 224], None)]
    model = analysis.model("Net")
    assert model is not None
    assert model.input_source == "annotated"


def test_annotated_with_a_bad_dimension() -> None:
    body = """
        class Net(nn.Module):
            def forward(self, x: Annotated[Tensor, (1, 3.5, 224)]):
                return x
        """
    [bad] = analyse(body).diagnostics
    assert bad.code == "FS106"
    assert bad.span == at(body, "3.5")
    assert "positive int or a dimension name" in bad.message


def test_annotated_for_something_else_is_not_a_shape() -> None:
    body = """
        class Net(nn.Module):
            def forward(self, x: Annotated[Tensor, "the image"], k: Annotated[int, (0, 10)] = 3):
                return x
        """
    analysis = analyse(body)
    assert [d.code for d in analysis.diagnostics] == ["FS107"]


def test_parameters_with_defaults_and_no_shape_are_left_out() -> None:
    body = """
        class Net(nn.Module):
            def forward(self, x: Float[Tensor, "b 8"], scale=1.0, *, flag: bool = False):
                return x
        """
    analysis = analyse(body)
    assert model_inputs(analysis) == [("x", ["b", 8], "float32")]
    model = analysis.model("Net")
    assert model is not None
    assert model.forward_params == ["x", "scale", "flag"]


def test_keyword_only_and_optional_annotated_parameters_are_inputs() -> None:
    body = """
        class Net(nn.Module):
            def forward(self, x: Float[Tensor, "b 8"], *, mask: Bool[Tensor, "b 8"] | None = None):
                return x
        """
    assert model_inputs(analyse(body)) == [
        ("x", ["b", 8], "float32"),
        ("mask", ["b", 8], "bool"),
    ]


def test_a_required_parameter_without_shape_is_named() -> None:
    body = """
        class Net(nn.Module):
            def forward(self, x: Float[Tensor, "b 8"], context, scale=1.0):
                return x
        """
    analysis = analyse(body)
    [bad] = analysis.diagnostics
    assert bad.code == "FS106"
    assert bad.span == at(body, "context")
    assert bad.message == (
        "forward parameter `context` of Net has no shape while `x` has one: annotate it too "
        '(e.g. `context: Float[Tensor, "batch 3 224 224"]`) or give it a default'
    )
    assert bad.data == {"parameter": "context"}
    model = analysis.model("Net")
    assert model is not None and model.inputs is None


def test_no_shape_annotation_at_all_is_unannotated() -> None:
    body = """
        class Net(nn.Module):
            def forward(self, x: Tensor, y: torch.Tensor) -> Tensor:
                return x
        """
    analysis = analyse(body)
    [hint] = analysis.diagnostics
    assert hint.code == "FS107" and hint.severity == "hint"
    model = analysis.model("Net")
    assert model is not None
    assert model.inputs is None and model.input_source is None
    assert model.forward_params == ["x", "y"]


def test_mixed_forms_report_the_first() -> None:
    body = """
        class Net(nn.Module):
            def forward(self, x: Annotated[Tensor, (1, 8)], y: Int[Tensor, "1 4"]):
                return x
        """
    analysis = analyse(body)
    model = analysis.model("Net")
    assert model is not None
    assert model.input_source == "annotated"
    assert model_inputs(analysis) == [("x", [1, 8], None), ("y", [1, 4], "int64")]


def test_pragma_input_wins_over_annotations() -> None:
    body = """
        class Net(nn.Module):  # flopsight: input=(2, 8)
            def forward(self, x: Float[Tensor, "b 99 ... bad"]):
                return x
        """
    analysis = analyse(body)
    assert analysis.diagnostics == []
    assert model_inputs(analysis) == [("x", [2, 8], None)]
    model = analysis.model("Net")
    assert model is not None and model.input_source == "pragma"


def test_pragma_dims_name_and_dtype_complete_annotations() -> None:
    body = """
        # flopsight: dims={"seq": 512}, dtype={"ids": "int32"}, name="encoder"
        class Net(nn.Module):
            def forward(self, ids: Int[Tensor, "batch seq"], x: Float[Tensor, "batch seq 64"]):
                return x
        """
    analysis = analyse(body)
    assert analysis.diagnostics == []
    model = analysis.model("encoder")
    assert model is not None
    assert model.dims == {"seq": 512}
    assert model.input_source == "jaxtyping"
    assert model_inputs(analysis) == [
        ("ids", ["batch", "seq"], "int32"),
        ("x", ["batch", "seq", 64], "float32"),
    ]


def test_inherited_annotations_are_reported_once_on_the_base() -> None:
    body = """
        class Base(nn.Module):
            def forward(self, x: Float[Tensor, "b ..."]):
                return x

        class Child(Base):
            pass

        class Good(nn.Module):
            def forward(self, x: Float[Tensor, "b 8"]):
                return x

        class GoodChild(Good):
            pass
        """
    analysis = analyse(body)
    assert [d.code for d in analysis.diagnostics] == ["FS106"]
    assert model_inputs(analysis, "GoodChild") == [("x", ["b", 8], "float32")]
