"""A text that does not parse: FS101 at the error, nothing else reported."""

from __future__ import annotations

from flopsight.source import Span, analyse_source


def test_unclosed_parenthesis() -> None:
    text = "import torch\n\nclass Net(nn.Module):  # flopsight: input=(1, 8)\n    x = (1,\n"
    analysis = analyse_source(text, "net.py")
    err = analysis.syntax_error
    assert err is not None
    assert err.code == "FS101" and err.severity == "error"
    assert err.span.line == 4 and err.span.col == text.splitlines()[3].index("(")
    assert "'(' was never closed" in err.message
    assert "fix it" in err.message
    assert analysis.models == [] and analysis.statements == [] and analysis.diagnostics == []


def test_half_typed_line_points_at_its_column() -> None:
    text = "class Net(nn.Module):\n    def forward(self, x):\n        h = 1\n        return x +\n"
    err = analyse_source(text).syntax_error
    assert err is not None
    assert err.span.line == 4
    # Python places the error after the dangling operator, at the end of the line.
    assert err.span.col == len("        return x +")
    assert err.span.end_line == 4 and err.span.end_col > err.span.col


def test_bad_indentation() -> None:
    text = "def f():\nreturn 1\n"
    err = analyse_source(text).syntax_error
    assert err is not None
    assert err.span.line == 2
    assert "indented block" in err.message


def test_null_byte_is_a_syntax_error_not_a_crash() -> None:
    err = analyse_source("x = 1\0\n").syntax_error
    assert err is not None and err.code == "FS101"
    assert err.span.line == 1


def test_empty_and_blank_texts_parse() -> None:
    for text in ["", "\n\n", "# just a comment\n", "   "]:
        analysis = analyse_source(text)
        assert analysis.syntax_error is None
        assert analysis.models == [] and analysis.diagnostics == []


def test_error_past_the_last_line_is_clamped() -> None:
    err = analyse_source("x = [1,\n").syntax_error
    assert err is not None
    assert err.span == Span(1, 4, 1, 5)
