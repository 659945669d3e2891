"""The ``# flopsight: key=value, ...`` pragma: finding it, parsing it, checking its values.

The body is read as the keyword arguments of a call (``ast``) and each value with
``ast.literal_eval``: nothing in a pragma is ever evaluated here. ``init``'s values may be
expressions (``GPTConfig(n_layer=2)``): kept as text, evaluated only by the worker.
"""

from __future__ import annotations

import ast
import difflib
import functools
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

# The dtype table lives in flopsight.dtypes (one for pragma and engine); re-exported here.
from flopsight.dtypes import DTYPE_ALIASES as DTYPE_ALIASES
from flopsight.dtypes import normalise_dtype as normalise_dtype
from flopsight.source.model import InitExpression, SourceDiagnostic, Span
from flopsight.source.text import Comment

KNOWN_PRAGMA_KEYS: tuple[str, ...] = (
    "input",
    "dtype",
    "init",
    "dims",
    "name",
    "mode",
    "optimizer",
    "precision",
)

PRAGMA_RE = re.compile(r"#\s*flopsight\s*:")
EXAMPLE = "# flopsight: input=(1, 3, 224, 224)"


def pragma_comment(shape: list[int], dtype: str | None = None) -> str:
    """The pragma giving ``shape`` (and ``dtype``) as a model's input, e.g. for a code action."""
    text = f"# flopsight: input={tuple(int(d) for d in shape)!r}"
    if dtype is not None and dtype != "float32":
        text += f', dtype="{dtype}"'
    return text


@dataclass
class Pragma:
    """A pragma comment and its body, parsed: raw literal values with the span of each."""

    comment: Comment
    span: Span  # the whole comment
    body_col: int  # character column where the body starts
    values: dict[str, Any] = field(default_factory=dict)
    nodes: dict[str, ast.expr] = field(default_factory=dict)  # value nodes, body coordinates
    key_spans: dict[str, Span] = field(default_factory=dict)
    present: set[str] = field(default_factory=set)  # known keys written, valid or not
    value_spans: dict[str, Span] = field(default_factory=dict)
    diagnostics: list[SourceDiagnostic] = field(default_factory=list)

    def node_span(self, node: ast.AST) -> Span:
        """Span in the file of a node of the parsed body."""
        body = self.comment.text[self.body_col - self.comment.col :]
        return Span(
            self.comment.line,
            self.body_col + _char_col(body, node.col_offset),  # type: ignore[attr-defined]
            self.comment.line,
            self.body_col + _char_col(body, node.end_col_offset or 0),  # type: ignore[attr-defined]
        )

    def error(self, code: str, span: Span, message: str, **data: Any) -> None:
        self.diagnostics.append(SourceDiagnostic(span, code, message, "error", dict(data)))


def _char_col(text: str, byte_col: int) -> int:
    if text.isascii():
        return byte_col
    return len(text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


def is_pragma(comment: Comment) -> bool:
    return PRAGMA_RE.search(comment.text) is not None


def parse_pragma(comment: Comment) -> Pragma:
    """Reads the body of a pragma comment; problems become FS102/FS103 diagnostics on it."""
    match = PRAGMA_RE.search(comment.text)
    assert match is not None
    raw = comment.text[match.end() :]
    body_col = comment.col + match.end() + (len(raw) - len(raw.lstrip()))
    body = raw.strip()
    whole = Span(comment.line, comment.col, comment.line, comment.col + len(comment.text))
    pragma = Pragma(comment, whole, body_col)
    body_span = Span(comment.line, body_col, comment.line, body_col + len(body))
    if not body:
        pragma.error(
            "FS102",
            whole,
            f"empty flopsight pragma: give the model's input shape, e.g. `{EXAMPLE}`",
        )
        return pragma
    call = _parse_body(raw.lstrip())
    if isinstance(call, str):
        detail = call
        pragma.error(
            "FS102",
            body_span,
            f"flopsight pragma is not `key=value` pairs of Python literals ({detail}): "
            f"write it like `{EXAMPLE}`",
        )
        return pragma
    if not (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and call.func.id == "f"
        and call.func.lineno == 1
        and call.end_lineno == 3
    ):
        pragma.error(
            "FS102",
            body_span,
            f"flopsight pragma is not `key=value` pairs of Python literals: "
            f"write it like `{EXAMPLE}`",
        )
        return pragma
    for arg in call.args:
        span = pragma.node_span(arg)
        if isinstance(arg, ast.Starred):
            pragma.error(
                "FS102", span, "flopsight pragma cannot unpack `*` values: write `key=value` pairs"
            )
            continue
        text = body[span.col - body_col : span.end_col - body_col]
        pragma.error(
            "FS102",
            span,
            f"`{text}` has no key in the flopsight pragma: write `input={text}`"
            if _looks_like_shape(arg)
            else f"`{text}` has no key in the flopsight pragma: write `key=value` pairs "
            f"(keys: {', '.join(KNOWN_PRAGMA_KEYS)})",
        )
    for kw in call.keywords:
        if kw.arg is None:
            pragma.error(
                "FS102",
                pragma.node_span(kw),
                "flopsight pragma cannot unpack `**` values: write `key=value` pairs",
            )
            continue
        kspan = pragma.node_span(kw)
        key_span = Span(kspan.line, kspan.col, kspan.line, kspan.col + len(kw.arg))
        if kw.arg not in KNOWN_PRAGMA_KEYS:
            close = difflib.get_close_matches(kw.arg, KNOWN_PRAGMA_KEYS, n=1, cutoff=0.5)
            suggestion = close[0] if close else None
            hint = (
                f"did you mean `{suggestion}`?"
                if suggestion
                else f"known keys: {', '.join(KNOWN_PRAGMA_KEYS)}"
            )
            pragma.diagnostics.append(
                SourceDiagnostic(
                    key_span,
                    "FS103",
                    f"unknown flopsight pragma key `{kw.arg}`: {hint}",
                    "error",
                    {"key": kw.arg, "suggestion": suggestion},
                )
            )
            continue
        if kw.arg in pragma.present:
            pragma.error(
                "FS102",
                key_span,
                f"`{kw.arg}` is given twice in the flopsight pragma: keep one",
            )
            continue
        pragma.present.add(kw.arg)
        vspan = pragma.node_span(kw.value)
        try:
            value = (
                _init_value(pragma, body, kw.value)
                if kw.arg == "init"
                else ast.literal_eval(kw.value)
            )
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            names = sorted({n.id for n in ast.walk(kw.value) if isinstance(n, ast.Name)})
            if names and kw.arg in ("input", "dims"):
                fix = (
                    f"quote symbolic dimensions (`'{names[0]}'`) and give their values with "
                    f"dims={{'{names[0]}': ...}}"
                )
            elif kw.arg == "init":
                fix = (
                    'write a dict with string keys, e.g. init={"config": GPTConfig(n_layer=2)} '
                    "(its values may be expressions: the worker evaluates them)"
                )
            else:
                fix = "write numbers, strings, tuples, lists or dicts (nothing is evaluated)"
            pragma.error(
                "FS102",
                vspan,
                f"the value of `{kw.arg}` is not a Python literal: {fix}",
            )
            continue
        pragma.values[kw.arg] = value
        pragma.nodes[kw.arg] = kw.value
        pragma.key_spans[kw.arg] = key_span
        pragma.value_spans[kw.arg] = vspan
    return pragma


def _init_value(pragma: Pragma, body: str, node: ast.expr) -> Any:
    """``init``'s dict: literal values as such, any other value as an ``InitExpression`` (its
    text, never evaluated here). Anything but a dict must be a literal."""
    if not isinstance(node, ast.Dict) or not all(
        isinstance(k, ast.Constant) and isinstance(k.value, str) for k in node.keys
    ):
        return ast.literal_eval(node)
    out: dict[str, Any] = {}
    for k, v in zip(node.keys, node.values, strict=True):
        assert isinstance(k, ast.Constant) and isinstance(k.value, str)
        try:
            out[k.value] = ast.literal_eval(v)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            span = pragma.node_span(v)
            text = body[span.col - pragma.body_col : span.end_col - pragma.body_col]
            out[k.value] = InitExpression(text, span)
    return out


@functools.lru_cache(maxsize=512)
def _parse_body(body: str) -> ast.expr | str:
    """The body as a call's arguments, or the syntax error's message (cached: bodies repeat)."""
    try:
        # The newlines let a trailing `# comment` after the body end before the parenthesis.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(f"f(\n{body}\n)", mode="eval").body
    except SyntaxError as exc:
        return exc.msg or "invalid syntax"
    except (ValueError, RecursionError, MemoryError) as exc:
        return str(exc) or type(exc).__name__


def _looks_like_shape(node: ast.expr) -> bool:
    return isinstance(node, ast.Tuple | ast.List) and all(
        isinstance(e, ast.Constant) and isinstance(e.value, int | str) for e in node.elts
    )
