"""Input shapes written on ``forward``'s parameters: jaxtyping and ``typing.Annotated``.

``x: Float[Tensor, "batch 3 224 224"]`` (any jaxtyping dtype, as ``Float``, ``jaxtyping.Float`` or
``jt.Float``) and ``x: Annotated[Tensor, (1, 3, 224, 224)]``. ``Optional[...]``, ``... | None`` and
quoted annotations are unwrapped.
"""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass, field
from typing import Literal

from flopsight.source.model import InputAnnotation, SourceDiagnostic, Span
from flopsight.source.text import SourceLines

Form = Literal["jaxtyping", "annotated"]

# jaxtyping's dtype names -> the torch dtype of the example input.
JAXTYPING_DTYPES: dict[str, str] = {
    "Float": "float32",
    "Float32": "float32",
    "Float16": "float16",
    "BFloat16": "bfloat16",
    "Float64": "float64",
    "Int": "int64",
    "Int64": "int64",
    "Integer": "int64",
    "Int32": "int32",
    "Int16": "int16",
    "Int8": "int8",
    "UInt8": "uint8",
    "UInt": "uint8",
    "Bool": "bool",
    "Complex": "complex64",
    "Complex64": "complex64",
    "Complex128": "complex128",
    "Shaped": "float32",
    "Num": "float32",
    "Real": "float32",
    "Inexact": "float32",
}

JAXTYPING_EXAMPLE = 'Float[Tensor, "batch 3 224 224"]'
ANNOTATED_EXAMPLE = "Annotated[Tensor, (1, 3, 224, 224)]"
_INT = re.compile(r"[0-9]+")


@dataclass
class ParamShape:
    """What one parameter's annotation says: a shape, or FS106 diagnostics when it is broken."""

    form: Form
    shape: list[int | str] | None
    dtype: str | None
    span: Span
    diagnostics: list[SourceDiagnostic] = field(default_factory=list)


@dataclass
class ForwardInputs:
    params: list[str]  # forward's parameters after self (positional, then keyword-only)
    accepts_varargs: bool  # *args: any number of positional inputs
    accepts_kwargs: bool  # **kwargs: any keyword
    required: list[str]  # parameters without a default
    inputs: list[InputAnnotation] | None
    source: Form | None
    diagnostics: list[SourceDiagnostic] = field(default_factory=list)


def forward_inputs(
    func: ast.FunctionDef | ast.AsyncFunctionDef, lines: SourceLines, model: str
) -> ForwardInputs:
    """Reads ``forward``'s parameters and the shapes annotated on them."""
    args = func.args
    positional = [*args.posonlyargs, *args.args]
    is_static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in func.decorator_list)
    if positional and not is_static:
        positional = positional[1:]  # self
    # Defaults align with the last positional parameters (self included in the count).
    all_positional = [*args.posonlyargs, *args.args]
    first_default = len(all_positional) - len(args.defaults)
    has_default = {a.arg for i, a in enumerate(all_positional) if i >= first_default} | {
        a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None
    }
    params_nodes = [*positional, *args.kwonlyargs]
    params = [a.arg for a in params_nodes]
    result = ForwardInputs(
        params=params,
        accepts_varargs=args.vararg is not None,
        accepts_kwargs=args.kwarg is not None,
        required=[p for p in params if p not in has_default],
        inputs=None,
        source=None,
    )
    shapes: dict[str, ParamShape] = {}
    for a in params_nodes:
        if a.annotation is None:
            continue
        found = read_annotation(a.annotation, lines)
        if found is not None:
            shapes[a.arg] = found
            result.diagnostics += found.diagnostics
    if not shapes:
        return result
    broken = any(s.shape is None for s in shapes.values())
    missing = [p for p in result.required if p not in shapes]
    for name in missing:
        node = next(a for a in params_nodes if a.arg == name)
        written = next(iter(shapes))
        result.diagnostics.append(
            SourceDiagnostic(
                lines.node_span(node),
                "FS106",
                f"forward parameter `{name}` of {model} has no shape while `{written}` has one: "
                f"annotate it too (e.g. `{name}: {JAXTYPING_EXAMPLE}`) or give it a default",
                "error",
                {"parameter": name},
            )
        )
    if broken or missing:
        return result
    inputs: list[InputAnnotation] = []
    for a in params_nodes:
        s = shapes.get(a.arg)
        if s is not None and s.shape is not None:
            inputs.append(InputAnnotation(a.arg, s.shape, s.dtype, s.span))
    result.inputs = inputs
    result.source = shapes[next(iter(shapes))].form
    return result


def read_annotation(node: ast.expr, lines: SourceLines) -> ParamShape | None:
    """The shape an annotation gives, or None when it is not a shape annotation at all."""
    node = _unwrap_optional(node)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return _read_quoted(node, lines)
    if not isinstance(node, ast.Subscript):
        return None
    head = _last_name(node.value)
    if head in JAXTYPING_DTYPES:
        return _read_jaxtyping(node, head, lines)
    if head == "Annotated":
        return _read_annotated(node, lines)
    return None


def _read_quoted(node: ast.Constant, lines: SourceLines) -> ParamShape | None:
    """``x: "Float[Tensor, 'b c']"``: parsed on its own, diagnostics on the whole string."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inner = ast.parse(str(node.value).strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    found = read_annotation(inner, SourceLines(str(node.value).strip()))
    if found is None:
        return None
    span = lines.node_span(node)
    found.span = span
    for d in found.diagnostics:
        d.span = span
    return found


def _unwrap_optional(node: ast.expr) -> ast.expr:
    for _ in range(8):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            if _is_none(node.right):
                node = node.left
                continue
            if _is_none(node.left):
                node = node.right
                continue
            return node
        if isinstance(node, ast.Subscript):
            head = _last_name(node.value)
            if head == "Optional":
                node = node.slice
                continue
            if head == "Union" and isinstance(node.slice, ast.Tuple):
                rest = [e for e in node.slice.elts if not _is_none(e)]
                if len(rest) == 1:
                    node = rest[0]
                    continue
        return node
    return node


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _last_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _read_jaxtyping(node: ast.Subscript, head: str, lines: SourceLines) -> ParamShape:
    dtype = JAXTYPING_DTYPES[head]
    span = lines.node_span(node)
    sl = node.slice
    if not (
        isinstance(sl, ast.Tuple)
        and len(sl.elts) == 2
        and isinstance(sl.elts[1], ast.Constant)
        and isinstance(sl.elts[1].value, str)
    ):
        return ParamShape(
            "jaxtyping",
            None,
            dtype,
            span,
            [
                SourceDiagnostic(
                    span,
                    "FS106",
                    f"{head}[...] needs an array type and a string of dimensions: "
                    f'write {head}[Tensor, "batch 3 224 224"]',
                )
            ],
        )
    dims_node = sl.elts[1]
    assert isinstance(dims_node, ast.Constant)
    shape, diags = parse_dim_string(str(dims_node.value), dims_node, lines)
    return ParamShape("jaxtyping", shape, dtype, span, diags)


def parse_dim_string(
    text: str, node: ast.Constant, lines: SourceLines
) -> tuple[list[int | str] | None, list[SourceDiagnostic]]:
    """``"batch 3 224 224"`` -> ``["batch", 3, 224, 224]``; unsupported dims are FS106."""
    offset = _string_body_offset(node, lines)
    base = lines.node_span(node)
    shape: list[int | str] = []
    diags: list[SourceDiagnostic] = []
    for m in re.finditer(r"\S+", text):
        token = m.group()
        if offset is not None:
            span = Span(base.line, offset + m.start(), base.line, offset + m.end())
        else:
            span = base
        dim, problem = _parse_dim(token)
        if problem is not None:
            diags.append(SourceDiagnostic(span, "FS106", problem, "error", {"dim": token}))
        elif dim is not None:
            shape.append(dim)
    return (None if diags else shape), diags


def _parse_dim(token: str) -> tuple[int | str | None, str | None]:
    if _INT.fullmatch(token):
        value = int(token)
        if value < 1:
            return None, f"dimension `{token}` must be at least 1: write the size the model takes"
        return value, None
    if token == "...":
        return None, (
            "`...` (any number of dimensions) gives no concrete shape: write each dimension, "
            'e.g. "batch 3 224 224", or give the shape in a pragma'
        )
    if token.startswith("*"):
        return None, (
            f"`{token}` (a variadic dimension) gives no concrete shape: write each dimension "
            "separately, or give the shape in a pragma"
        )
    if token.startswith("#"):
        return None, (
            f"`{token}` (a broadcastable dimension) is not supported: write `{token[1:]}` "
            "or a number"
        )
    if token == "_":
        return None, "`_` (an anonymous dimension) has no size: write a number or a name"
    if "=" in token:
        name, _, size = token.partition("=")
        if name.isidentifier() and _INT.fullmatch(size) and int(size) >= 1:
            return int(size), None
        return None, f"`{token}` is not `name=size`: write e.g. `channels=3`"
    if token.isidentifier():
        return token, None
    return None, (
        f"`{token}` is not a dimension flopsight understands: write a number or a name "
        "(symbolic expressions are not supported)"
    )


def _string_body_offset(node: ast.Constant, lines: SourceLines) -> int | None:
    """Character column where a one-line, escape-free string literal's text starts."""
    if node.lineno != node.end_lineno:
        return None
    span = lines.node_span(node)
    seg = lines.line(span.line)[span.col : span.end_col]
    prefix = len(seg) - len(seg.lstrip("rRuUbBfF"))
    rest = seg[prefix:]
    for quote in ('"""', "'''", '"', "'"):
        if rest.startswith(quote) and rest.endswith(quote) and len(rest) >= 2 * len(quote):
            if rest[len(quote) : len(rest) - len(quote)] == node.value:
                return span.col + prefix + len(quote)
            return None
    return None


def _read_annotated(node: ast.Subscript, lines: SourceLines) -> ParamShape | None:
    span = lines.node_span(node)
    sl = node.slice
    if not isinstance(sl, ast.Tuple) or len(sl.elts) < 2:
        return None
    inner, *metadata = sl.elts
    nested = read_annotation(inner, lines)
    if nested is not None:
        return nested
    tensor = inner.value if isinstance(inner, ast.Constant) else _last_name(inner)
    if not (isinstance(tensor, str) and tensor.endswith("Tensor")):
        return None  # Annotated[int, ...]: not an input tensor
    for meta in metadata:
        if isinstance(meta, ast.Tuple | ast.List):
            shape, diags = literal_shape(meta, lines)
            return ParamShape("annotated", shape, None, span, diags)
    return None  # Annotated for something else (documentation, validation)


def literal_shape(
    node: ast.Tuple | ast.List, lines: SourceLines
) -> tuple[list[int | str] | None, list[SourceDiagnostic]]:
    """A tuple/list of ints and dimension names written in code, checked element by element."""
    shape: list[int | str] = []
    diags: list[SourceDiagnostic] = []
    for e in node.elts:
        if (
            isinstance(e, ast.Constant)
            and isinstance(e.value, int)
            and not isinstance(e.value, bool)
            and e.value >= 1
        ) or (isinstance(e, ast.Constant) and isinstance(e.value, str) and e.value.isidentifier()):
            shape.append(e.value)
        else:
            diags.append(
                SourceDiagnostic(
                    lines.node_span(e),
                    "FS106",
                    "a shape dimension must be a positive int or a dimension name in quotes: "
                    f"write e.g. {ANNOTATED_EXAMPLE}",
                )
            )
    if not node.elts:
        diags.append(
            SourceDiagnostic(
                lines.node_span(node),
                "FS106",
                f"the shape is empty: write every dimension, e.g. {ANNOTATED_EXAMPLE}",
            )
        )
    return (None if diags else shape), diags
