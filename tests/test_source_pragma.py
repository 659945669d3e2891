"""The `# flopsight: ...` pragma: where it may sit, its keys, and its diagnostics' exact spans."""

from __future__ import annotations

import textwrap

import pytest
from flopsight.source import (
    KNOWN_PRAGMA_KEYS,
    SourceAnalysis,
    SourceDiagnostic,
    Span,
    analyse_source,
    pragma_comment,
)


def analyse(text: str) -> SourceAnalysis:
    return analyse_source(textwrap.dedent(text))


def span_of(text: str, needle: str, line: int | None = None) -> Span:
    """Where ``needle`` is written in ``text`` (first occurrence, or on 1-based ``line``)."""
    lines = textwrap.dedent(text).splitlines()
    for n, content in enumerate(lines, start=1):
        if (line is None or n == line) and needle in content:
            col = content.index(needle)
            return Span(n, col, n, col + len(needle))
    raise AssertionError(f"{needle!r} not in text")


def only(analysis: SourceAnalysis, code: str) -> SourceDiagnostic:
    found = [d for d in analysis.diagnostics if d.code == code]
    assert len(found) == 1, analysis.diagnostics
    return found[0]


def shapes(analysis: SourceAnalysis, name: str) -> list[tuple[str, list[int | str], str | None]]:
    model = analysis.model(name)
    assert model is not None and model.inputs is not None, analysis
    return [(i.name, i.shape, i.dtype) for i in model.inputs]


def test_known_keys() -> None:
    assert KNOWN_PRAGMA_KEYS == (
        "input",
        "dtype",
        "init",
        "dims",
        "name",
        "mode",
        "optimizer",
        "precision",
    )


# -- placement ------------------------------------------------------------------------------

PLACEMENTS = {
    "class line": """
        class Net(nn.Module):  # flopsight: input=(1, 28, 28)
            def forward(self, x):
                return x
        """,
    "line above": """
        import torch

        # flopsight: input=(1, 28, 28)
        class Net(nn.Module):
            def forward(self, x):
                return x
        """,
    "above decorators": """
        # flopsight: input=(1, 28, 28)
        @register
        @other(1)
        class Net(nn.Module):
            def forward(self, x):
                return x
        """,
    "in a comment block above": """
        # flopsight: input=(1, 28, 28)
        # The network of the article.
        class Net(nn.Module):
            def forward(self, x):
                return x
        """,
    "multi-line header": """
        class Net(
            nn.Module,
        ):  # flopsight: input=(1, 28, 28)
            def forward(self, x):
                return x
        """,
    "one-line class": """
        class Net(nn.Module): forward = None  # flopsight: input=(1, 28, 28)
        """,
}


@pytest.mark.parametrize("where", list(PLACEMENTS))
def test_class_pragma_placements(where: str) -> None:
    text = PLACEMENTS[where]
    analysis = analyse(text)
    assert analysis.diagnostics == []
    [net] = analysis.models
    assert net.name == "Net"
    assert net.input_source == "pragma"
    assert [i.shape for i in net.inputs or []] == [[1, 28, 28]]
    assert net.pragma_span == span_of(text, "# flopsight: input=(1, 28, 28)")


def test_pragma_on_a_decorator_inside_the_body_is_not_the_class_pragma() -> None:
    text = """
        class Net(nn.Module):
            @property  # flopsight: input=(1, 2)
            def size(self):
                return 2
        """
    analysis = analyse(text)
    assert analysis.models[0].inputs is None
    assert only(analysis, "FS108").span == span_of(text, "# flopsight: input=(1, 2)")


def test_comment_inside_the_class_body_is_not_the_class_pragma() -> None:
    text = """
        class Net(nn.Module):
            # flopsight: input=(1, 28, 28)
            def forward(self, x):
                return x
        """
    analysis = analyse(text)
    [net] = analysis.models
    assert net.inputs is None
    stray = only(analysis, "FS108")
    assert stray.span == span_of(text, "# flopsight: input=(1, 28, 28)")
    assert stray.severity == "warning"
    assert "class" in stray.message and "module-level assignment" in stray.message


def test_instance_pragma_trailing_on_first_and_last_line_and_above() -> None:
    text = """
        import torchvision.models as models

        net = models.densenet161()  # flopsight: input=(1, 3, 224, 224)
        big = models.resnet50(
            weights=None,
        )  # flopsight: input=(2, 3, 224, 224)
        wide = models.wide_resnet50_2(  # flopsight: input=(4, 3, 224, 224)
            weights=None,
        )
        # flopsight: input=(8, 3, 224, 224), name="ViT"
        vit = models.vit_b_16()
        plain = models.alexnet()
        """
    analysis = analyse(text)
    assert analysis.diagnostics == []
    by_name = {m.name: m for m in analysis.models}
    assert list(by_name) == ["net", "big", "wide", "vit"]
    assert by_name["net"].expression == "models.densenet161()"
    assert by_name["big"].expression == "models.resnet50(\n    weights=None,\n)"
    assert by_name["big"].end_line == by_name["big"].line + 2
    assert [m.inputs[0].shape[0] for m in by_name.values() if m.inputs] == [1, 2, 4, 8]
    assert by_name["vit"].label == "ViT"
    assert analysis.model("ViT") is by_name["vit"]
    assert all(m.kind == "instance" for m in analysis.models)
    assert by_name["net"].name_span == span_of(text, "net")
    assert by_name["net"].inputs is not None
    assert by_name["net"].inputs[0].name == "x"


def test_annotated_assignment_instance() -> None:
    analysis = analyse("net: nn.Module = build()  # flopsight: input=(1, 8)\n")
    [net] = analysis.models
    assert (net.name, net.expression, net.kind) == ("net", "build()", "instance")


def test_pragma_for_a_tuple_assignment_is_stray() -> None:
    text = "a, b = make()  # flopsight: input=(1, 8)\n"
    analysis = analyse(text)
    assert analysis.models == []
    assert only(analysis, "FS108").span == span_of(text, "# flopsight: input=(1, 8)")


def test_pragma_in_a_function_or_on_forward_is_stray() -> None:
    text = """
        class Net(nn.Module):
            def forward(self, x):  # flopsight: input=(1, 2)
                return x

        def make():
            class Inner(nn.Module):  # flopsight: input=(1, 3)
                pass
            net = Inner()  # flopsight: input=(1, 4)
            return net
        """
    analysis = analyse(text)
    assert [m.name for m in analysis.models] == ["Net"]
    stray = [d.span for d in analysis.diagnostics if d.code == "FS108"]
    assert stray == [
        span_of(text, "# flopsight: input=(1, 2)"),
        span_of(text, "# flopsight: input=(1, 3)"),
        span_of(text, "# flopsight: input=(1, 4)"),
    ]


def test_pragma_text_inside_strings_is_ignored() -> None:
    text = '''
        """Put `# flopsight: input=(1, 2)` on the class line."""
        HELP = """
        # flopsight: input=(1, 2)
        """
        s = "# flopsight: input=(1, 2)"
        class Net(nn.Module):
            pass
        '''
    analysis = analyse(text)
    assert [d.code for d in analysis.diagnostics] == ["FS107"]


def test_text_after_the_body_in_a_second_comment() -> None:
    analysis = analyse("class Net(nn.Module):  # flopsight: input=(1, 8)  # the MLP\n    pass\n")
    assert analysis.diagnostics == []
    assert shapes(analysis, "Net") == [("x", [1, 8], None)]


def test_second_pragma_for_the_same_model() -> None:
    text = """
        # flopsight: input=(1, 3)
        class Net(nn.Module):  # flopsight: input=(1, 4)
            pass
        """
    analysis = analyse(text)
    dup = only(analysis, "FS102")
    assert dup.span == span_of(text, "# flopsight: input=(1, 3)")
    assert "merge" in dup.message
    assert shapes(analysis, "Net") == [("x", [1, 4], None)]


# -- inputs ---------------------------------------------------------------------------------


def test_list_of_shapes_matches_forward_parameters_in_order() -> None:
    text = """
        # flopsight: input=[(1, 3, 224, 224), (1, 77)], dtype="float16"
        class TwoTower(nn.Module):
            def forward(self, image, tokens, mask=None):
                return image
        """
    analysis = analyse(text)
    assert analysis.diagnostics == []
    assert shapes(analysis, "TwoTower") == [
        ("image", [1, 3, 224, 224], "float16"),
        ("tokens", [1, 77], "float16"),
    ]
    model = analysis.model("TwoTower")
    assert model is not None and model.inputs is not None
    assert model.forward_params == ["image", "tokens", "mask"]
    assert model.inputs[1].span == span_of(text, "(1, 77)")


def test_dict_input_by_parameter_name_with_per_input_dtype_and_init() -> None:
    pragma = '# flopsight: input={"mask": (1, 512), "ids": (1, 512)}, dtype={"ids": "long"}, '
    pragma += 'init={"vocab": 32000}'
    text = f"""
        {pragma}
        class LM(nn.Module):
            def forward(self, ids, mask):
                return ids
        """
    analysis = analyse(text)
    assert analysis.diagnostics == []
    # Kept in forward's order.
    assert shapes(analysis, "LM") == [("ids", [1, 512], "int64"), ("mask", [1, 512], None)]
    model = analysis.model("LM")
    assert model is not None
    assert model.init == {"vocab": 32000}


def test_dict_input_naming_an_unknown_parameter() -> None:
    text = """
        class LM(nn.Module):  # flopsight: input={"idz": (1, 512)}
            def forward(self, ids):
                return ids
        """
    analysis = analyse(text)
    bad = only(analysis, "FS104")
    assert bad.span == span_of(text, '"idz"')
    assert bad.message == ("LM.forward has no parameter `idz` (it takes ids): did you mean `ids`?")
    assert bad.data == {"key": "idz", "suggestion": "ids"}
    model = analysis.model("LM")
    assert model is not None and model.inputs is None


def test_more_shapes_than_forward_takes() -> None:
    text = """
        class Net(nn.Module):  # flopsight: input=[(1, 3), (1, 4)]
            def forward(self, x):
                return x
        """
    bad = only(analyse(text), "FS104")
    assert bad.span == span_of(text, "[(1, 3), (1, 4)]")
    assert bad.message == (
        "`input` gives 2 shapes but Net.forward takes 1 (x): remove the extra shapes"
    )


def test_fewer_shapes_than_forward_needs() -> None:
    text = """
        class Net(nn.Module):  # flopsight: input=(1, 3)
            def forward(self, x, mask):
                return x
        """
    bad = only(analyse(text), "FS104")
    assert bad.span == span_of(text, "(1, 3)")
    assert "needs mask" in bad.message and "add a shape" in bad.message


def test_varargs_forward_takes_any_number_of_shapes() -> None:
    text = """
        class Net(nn.Module):  # flopsight: input=[(1, 3), (1, 4), (1, 5)]
            def forward(self, x, *rest):
                return x
        """
    analysis = analyse(text)
    assert analysis.diagnostics == []
    assert [n for n, _, _ in shapes(analysis, "Net")] == ["x", "input_2", "input_3"]


def test_inputs_of_an_instance_are_named_x_or_input_i() -> None:
    one = analyse("net = make()  # flopsight: input=(1, 3)\n")
    assert shapes(one, "net") == [("x", [1, 3], None)]
    two = analyse("net = make()  # flopsight: input=[(1, 3), (1, 4)]\n")
    assert [n for n, _, _ in shapes(two, "net")] == ["input_1", "input_2"]


def test_symbolic_dims_and_single_int_shape() -> None:
    text = """
        class Net(nn.Module):  # flopsight: input=("batch", 77, "d"), dims={"d": 512}
            pass
        """
    analysis = analyse(text)
    assert analysis.diagnostics == []
    assert shapes(analysis, "Net") == [("x", ["batch", 77, "d"], None)]
    model = analysis.model("Net")
    assert model is not None and model.dims == {"d": 512}
    assert shapes(analyse("net = f()  # flopsight: input=16\n"), "net") == [("x", [16], None)]


@pytest.mark.parametrize(
    ("written", "dtype"),
    [
        ("float32", "float32"),
        ("float", "float32"),
        ("half", "float16"),
        ("float16", "float16"),
        ("bfloat16", "bfloat16"),
        ("double", "float64"),
        ("float64", "float64"),
        ("long", "int64"),
        ("int64", "int64"),
        ("int", "int32"),
        ("int32", "int32"),
        ("int16", "int16"),
        ("int8", "int8"),
        ("uint8", "uint8"),
        ("bool", "bool"),
        ("complex64", "complex64"),
        ("torch.half", "float16"),
    ],
)
def test_dtype_names_are_normalised(written: str, dtype: str) -> None:
    analysis = analyse(f'net = f()  # flopsight: input=(1, 2), dtype="{written}"\n')
    assert analysis.diagnostics == []
    assert shapes(analysis, "net") == [("x", [1, 2], dtype)]


def test_dtype_per_input_as_a_list() -> None:
    text = 'net = f()  # flopsight: input=[(1, 2), (1, 3)], dtype=["half", "long"]\n'
    assert [d for _, _, d in shapes(analyse(text), "net")] == ["float16", "int64"]


# -- diagnostics ----------------------------------------------------------------------------


def test_unknown_key_with_suggestion() -> None:
    text = "class Net(nn.Module):  # flopsight: inptu=(1, 28, 28)\n    pass\n"
    analysis = analyse(text)
    bad = only(analysis, "FS103")
    assert bad.span == span_of(text, "inptu")
    assert bad.message == "unknown flopsight pragma key `inptu`: did you mean `input`?"
    assert bad.data == {"key": "inptu", "suggestion": "input"}
    assert bad.severity == "error"
    # The model is still found; without an input it gets no FS107 (the FS103 explains).
    [net] = analysis.models
    assert net.inputs is None
    assert [d.code for d in analysis.diagnostics] == ["FS103"]


def test_unknown_key_without_a_close_match() -> None:
    text = "net = f()  # flopsight: input=(1, 2), color=3\n"
    analysis = analyse(text)
    bad = only(analysis, "FS103")
    assert [d.code for d in analysis.diagnostics] == ["FS103"]
    assert shapes(analysis, "net") == [("x", [1, 2], None)]
    assert bad.span == span_of(text, "color")
    assert bad.data == {"key": "color", "suggestion": None}
    assert "known keys: input, dtype, init, dims, name, mode, optimizer, precision" in bad.message


def test_malformed_body_is_fs102_on_the_body() -> None:
    text = "class Net(nn.Module):  # flopsight: input=(1, 28, 28\n    pass\n"
    bad = only(analyse(text), "FS102")
    assert bad.span == span_of(text, "input=(1, 28, 28")
    assert "key=value" in bad.message and "# flopsight: input=(1, 3, 224, 224)" in bad.message


def test_body_that_closes_the_call_early_is_malformed() -> None:
    text = "net = f()  # flopsight: input=1) + g(\n"
    assert only(analyse(text), "FS102").span == span_of(text, "input=1) + g(")


def test_empty_body() -> None:
    text = "net = f()  # flopsight:\n"
    bad = only(analyse(text), "FS102")
    assert bad.span == span_of(text, "# flopsight:")
    assert "empty" in bad.message


def test_shape_without_key_suggests_input() -> None:
    text = "net = f()  # flopsight: (1, 3, 224, 224)\n"
    bad = only(analyse(text), "FS102")
    assert bad.span == span_of(text, "(1, 3, 224, 224)")
    assert bad.message == (
        "`(1, 3, 224, 224)` has no key in the flopsight pragma: write `input=(1, 3, 224, 224)`"
    )


def test_value_that_is_not_a_literal() -> None:
    text = "net = f()  # flopsight: input=(1, C, 224, 224)\n"
    bad = only(analyse(text), "FS102")
    assert bad.span == span_of(text, "(1, C, 224, 224)")
    assert "quote symbolic dimensions (`'C'`)" in bad.message
    assert "dims={'C': ...}" in bad.message


def test_key_given_twice() -> None:
    text = "net = f()  # flopsight: input=(1, 2), input=(1, 3)\n"
    bad = only(analyse(text), "FS102")
    second = text.index("input=(1, 3)")
    assert bad.span == Span(1, second, 1, second + len("input"))
    assert "twice" in bad.message


@pytest.mark.parametrize(
    ("value", "offending"),
    [
        ("(1, 0, 8)", "0"),
        ("(1, -3, 8)", "-3"),
        ("(1, 2.5)", "2.5"),
        ("(1, True)", "True"),
        ('(1, "not a name")', '"not a name"'),
    ],
)
def test_bad_dimension_points_at_the_element(value: str, offending: str) -> None:
    text = f"net = f()  # flopsight: input={value}\n"
    analysis = analyse(text)
    bad = only(analysis, "FS104")
    start = text.index(value) + value.index(offending, 1)
    assert bad.span == Span(1, start, 1, start + len(offending))
    assert "positive int or a dimension name" in bad.message
    assert analysis.models[0].inputs is None


@pytest.mark.parametrize(
    ("body", "offending", "words"),
    [
        ('input="1 3 224"', '"1 3 224"', "tuple of ints"),
        ("input=()", "()", "empty"),
        ("input=[(1, 2), 3]", "[(1, 2), 3]", "mixes shapes"),
        ('input=(1, 2), dtype="flaot16"', '"flaot16"', "did you mean `float16`"),
        ("input=(1, 2), dtype=3", "3", "a dtype is a string"),
        ('input=[(1, 2), (1, 3)], dtype=["half"]', '["half"]', "1 dtypes for 2 inputs"),
        ('input=(1, 2), dtype={"y": "half"}', '{"y": "half"}', "`y`, which is not an input"),
        ("input=(1, 2), init=[1]", "[1]", "dict of constructor keyword"),
        ('input=(1, 2), dims={"d": 0}', "0", "positive int"),
        ("input=(1, 2), dims={1: 2}", "1", "dimension names in quotes"),
        ('input=(1, 2), dims="d"', '"d"', "dict of dimension sizes"),
        ("input=(1, 2), name=3", "3", "non-empty string"),
    ],
)
def test_value_of_the_wrong_form_is_fs104(body: str, offending: str, words: str) -> None:
    text = f"class Net(nn.Module):  # flopsight: {body}\n    pass\n"
    bad = only(analyse(text), "FS104")
    at = text.index(body) + body.rindex(offending)
    assert bad.span == Span(1, at, 1, at + len(offending)), bad
    assert words in bad.message
    assert bad.severity == "error"


def test_init_on_an_instance_is_a_warning() -> None:
    text = 'net = f()  # flopsight: input=(1, 2), init={"a": 1}\n'
    analysis = analyse(text)
    bad = only(analysis, "FS104")
    assert bad.severity == "warning"
    assert bad.span == span_of(text, "init")
    assert analysis.models[0].init == {}


def test_columns_count_characters_on_non_ascii_lines() -> None:
    text = "class Café(nn.Module):  # flopsight: inptu=(1,)  # ünïcode\n    pass\n"
    analysis = analyse(text)
    bad = only(analysis, "FS103")
    assert bad.span == span_of(text, "inptu")
    [model] = analysis.models
    assert model.name_span == span_of(text, "Café")


# -- pragma_comment -------------------------------------------------------------------------


def test_pragma_comment() -> None:
    assert pragma_comment([1, 3, 224, 224]) == "# flopsight: input=(1, 3, 224, 224)"
    assert pragma_comment([5]) == "# flopsight: input=(5,)"
    assert pragma_comment([1, 128], "int64") == '# flopsight: input=(1, 128), dtype="int64"'
    assert pragma_comment([1, 8], "float32") == "# flopsight: input=(1, 8)"


def test_pragma_comment_round_trips() -> None:
    for shape, dtype in [([1, 784], None), ([1, 128], "int64"), ([7], "float16")]:
        analysis = analyse(f"class Net(nn.Module):  {pragma_comment(shape, dtype)}\n    pass\n")
        assert analysis.diagnostics == []
        assert shapes(analysis, "Net") == [("x", list(shape), dtype)]
