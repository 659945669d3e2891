"""Checking a pragma's values: shapes, dtypes, ``init``, ``dims``, ``name`` (FS104 otherwise)."""

from __future__ import annotations

import ast
import difflib
from dataclasses import dataclass, field
from typing import Any, Literal

from flopsight.gpus import OPTIMIZERS, PRECISIONS
from flopsight.source.annotations import ForwardInputs
from flopsight.source.model import InputAnnotation, SourceDiagnostic, Span
from flopsight.source.pragma import DTYPE_ALIASES, Pragma, normalise_dtype

SHAPE_EXAMPLE = "input=(1, 3, 224, 224)"


@dataclass
class PragmaSettings:
    """What a pragma says about a model, after checking."""

    inputs: list[InputAnnotation] | None = None  # None: the pragma gives no (valid) input
    input_given: bool = False  # `input=` is present, valid or not
    inputs_by_name: bool = False  # `input` is a dict by forward parameter
    dtype: str | list[str | None] | dict[str, str] | None = None
    dtype_span: Span | None = None
    init: dict[str, Any] = field(default_factory=dict)
    dims: dict[str, int] = field(default_factory=dict)
    label: str | None = None
    mode: Literal["inference", "training"] | None = None
    # Memory (issue 15): `optimizer=` and `precision=` of the training step, by key.
    train: dict[str, str] = field(default_factory=dict)


# The pragma's ``mode=`` spellings.
PRAGMA_MODES: dict[str, Literal["inference", "training"]] = {
    "train": "training",
    "training": "training",
    "inference": "inference",
    "eval": "inference",
}


def _fs104(pragma: Pragma, span: Span, message: str, **data: Any) -> None:
    pragma.diagnostics.append(SourceDiagnostic(span, "FS104", message, "error", dict(data)))


def read_pragma_settings(
    pragma: Pragma, forward: ForwardInputs | None, model: str, kind: str
) -> PragmaSettings:
    """Checks each known key of a parsed pragma; wrong forms become FS104 on the value."""
    out = PragmaSettings()
    nodes = pragma.nodes
    out.input_given = "input" in pragma.present
    if "input" in nodes:
        out.inputs = _read_inputs(pragma, nodes["input"], forward, model)
        out.inputs_by_name = isinstance(nodes["input"], ast.Dict)
    if "dtype" in nodes:
        out.dtype = _read_dtype(pragma, nodes["dtype"])
        out.dtype_span = pragma.value_spans["dtype"]
    if "init" in nodes:
        node = nodes["init"]
        value = pragma.values["init"]
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and k.isidentifier() for k in value
        ):
            _fs104(
                pragma,
                pragma.node_span(node),
                "`init` must be a dict of constructor keyword arguments: "
                'write e.g. init={"vocab": 32000}',
            )
        elif kind == "instance":
            pragma.diagnostics.append(
                SourceDiagnostic(
                    pragma.key_spans["init"],
                    "FS104",
                    f"`init` has no effect on {model}, an instance: pass the arguments in the "
                    "call that builds it",
                    "warning",
                )
            )
        else:
            out.init = dict(value)
    if "dims" in nodes:
        out.dims = _read_dims(pragma, nodes["dims"])
    if "name" in nodes:
        value = pragma.values["name"]
        if isinstance(value, str) and value.strip():
            out.label = value.strip()
        else:
            _fs104(
                pragma,
                pragma.node_span(nodes["name"]),
                '`name` must be a non-empty string: write e.g. name="ResNet-50"',
            )
    if "mode" in nodes:
        mode = pragma.values["mode"]
        if isinstance(mode, str) and mode.strip().lower() in PRAGMA_MODES:
            out.mode = PRAGMA_MODES[mode.strip().lower()]
        else:
            _fs104(
                pragma,
                pragma.node_span(nodes["mode"]),
                '`mode` must be "train" (count a training step: forward and backward) or '
                '"inference": write e.g. mode="train"',
            )
    for key, allowed in (("optimizer", OPTIMIZERS), ("precision", PRECISIONS)):
        if key in nodes:
            value = pragma.values[key]
            if isinstance(value, str) and value in allowed:
                out.train[key] = value
            else:
                _fs104(
                    pragma,
                    pragma.node_span(nodes[key]),
                    f"`{key}` must be one of {', '.join(map(repr, allowed))}",
                )
    if out.inputs is not None and out.dtype is not None:
        apply_dtype(pragma, out, out.inputs)
    return out


def apply_dtype(pragma: Pragma, settings: PragmaSettings, inputs: list[InputAnnotation]) -> None:
    """Sets each input's dtype from the pragma's ``dtype`` (one, a list, or a dict by name)."""
    dtype = settings.dtype
    span = settings.dtype_span or pragma.span
    if isinstance(dtype, str):
        for i in inputs:
            i.dtype = dtype
    elif isinstance(dtype, list):
        if len(dtype) != len(inputs):
            _fs104(
                pragma,
                span,
                f"`dtype` lists {len(dtype)} dtypes for {len(inputs)} inputs: give one per input, "
                "or a single dtype for all",
            )
            return
        for i, d in zip(inputs, dtype, strict=True):
            if d is not None:
                i.dtype = d
    elif isinstance(dtype, dict):
        names = [i.name for i in inputs]
        for key, d in dtype.items():
            target = next((i for i in inputs if i.name == key), None)
            if target is None:
                _fs104(
                    pragma,
                    span,
                    f"`dtype` names `{key}`, which is not an input (inputs: {', '.join(names)}): "
                    "use the input's name",
                    key=key,
                )
                continue
            target.dtype = d


def _shape(pragma: Pragma, node: ast.expr) -> list[int | str] | None:
    if isinstance(node, ast.Constant) and _is_dim_int(node.value):
        assert isinstance(node.value, int)
        return [node.value]
    if not isinstance(node, ast.Tuple | ast.List):
        _fs104(
            pragma,
            pragma.node_span(node),
            f"a shape must be a tuple of ints or dimension names: write e.g. {SHAPE_EXAMPLE}",
        )
        return None
    if not node.elts:
        _fs104(
            pragma,
            pragma.node_span(node),
            f"the shape is empty: write every dimension, e.g. {SHAPE_EXAMPLE}",
        )
        return None
    shape: list[int | str] = []
    ok = True
    for e in node.elts:
        value = e.value if isinstance(e, ast.Constant) else _literal(e)
        if _is_dim_int(value):
            assert isinstance(value, int)
            shape.append(value)
        elif isinstance(value, str) and value.isidentifier():
            shape.append(value)
        else:
            ok = False
            shown = ast.unparse(e)
            _fs104(
                pragma,
                pragma.node_span(e),
                f"dimension `{shown}` must be a positive int or a dimension name in quotes "
                '(give its value with dims=): e.g. ("batch", 3, 224, 224)',
            )
    return shape if ok else None


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _is_dim_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _input_names(count: int, forward: ForwardInputs | None) -> list[str]:
    params = forward.params if forward is not None else []
    if not params and count == 1:
        return ["x"]
    return [params[i] if i < len(params) else f"input_{i + 1}" for i in range(count)]


def _read_inputs(
    pragma: Pragma, node: ast.expr, forward: ForwardInputs | None, model: str
) -> list[InputAnnotation] | None:
    span = pragma.node_span(node)
    if isinstance(node, ast.Dict):
        return _read_input_dict(pragma, node, forward, model)
    if isinstance(node, ast.Tuple | ast.List) and any(
        isinstance(e, ast.Tuple | ast.List) for e in node.elts
    ):
        if not all(isinstance(e, ast.Tuple | ast.List) for e in node.elts):
            _fs104(
                pragma,
                span,
                "`input` mixes shapes and single dimensions: write one shape "
                "(1, 3, 224, 224) or a list of shapes [(1, 3, 224, 224), (1, 77)]",
            )
            return None
        shapes = [_shape(pragma, e) for e in node.elts]
        if any(s is None for s in shapes):
            return None
        names = _input_names(len(shapes), forward)
        spans = [pragma.node_span(e) for e in node.elts]
    else:
        shape = _shape(pragma, node)
        if shape is None:
            return None
        shapes = [shape]
        names = _input_names(1, forward)
        spans = [span]
    if forward is not None and not _check_count(pragma, span, len(shapes), forward, model):
        return None
    return [
        InputAnnotation(name, list(s), None, sp)
        for name, s, sp in zip(names, shapes, spans, strict=True)
        if s is not None
    ]


def _check_count(
    pragma: Pragma, span: Span, count: int, forward: ForwardInputs, model: str
) -> bool:
    params = forward.params
    takes = ", ".join(params) if params else "no inputs"
    if count > len(params) and not forward.accepts_varargs:
        _fs104(
            pragma,
            span,
            f"`input` gives {count} shapes but {model}.forward takes {len(params)} "
            f"({takes}): remove the extra shapes",
        )
        return False
    missing = [p for p in forward.required if p in params[count:]]
    if missing:
        _fs104(
            pragma,
            span,
            f"{model}.forward also needs {', '.join(missing)}: add a shape for each "
            f"(input=[...] in the order {takes}) or a dict by name",
            missing=missing,
        )
        return False
    return True


def _read_input_dict(
    pragma: Pragma, node: ast.Dict, forward: ForwardInputs | None, model: str
) -> list[InputAnnotation] | None:
    inputs: list[InputAnnotation] = []
    ok = True
    for k, v in zip(node.keys, node.values, strict=True):
        if k is None or not (isinstance(k, ast.Constant) and isinstance(k.value, str)):
            _fs104(
                pragma,
                pragma.node_span(k if k is not None else v),
                "`input` as a dict maps forward parameter names to shapes: write e.g. "
                '{"ids": (1, 512)}',
            )
            ok = False
            continue
        name = k.value
        if forward is not None and name not in forward.params and not forward.accepts_kwargs:
            close = difflib.get_close_matches(name, forward.params, n=1, cutoff=0.5)
            hint = f"did you mean `{close[0]}`?" if close else "use one of its parameter names"
            takes = ", ".join(forward.params) if forward.params else "no inputs"
            _fs104(
                pragma,
                pragma.node_span(k),
                f"{model}.forward has no parameter `{name}` (it takes {takes}): {hint}",
                key=name,
                suggestion=close[0] if close else None,
            )
            ok = False
            continue
        shape = _shape(pragma, v)
        if shape is None:
            ok = False
            continue
        inputs.append(InputAnnotation(name, shape, None, pragma.node_span(v)))
    if not ok:
        return None
    if forward is not None:
        given = {i.name for i in inputs}
        missing = [p for p in forward.required if p not in given]
        if missing:
            _fs104(
                pragma,
                pragma.node_span(node),
                f"{model}.forward also needs {', '.join(missing)}: add "
                + ", ".join(f'"{m}": (...)' for m in missing)
                + " to `input`",
                missing=missing,
            )
            return None
        # Keyword inputs in forward's order, so positional use still lines up.
        order = {p: i for i, p in enumerate(forward.params)}
        inputs.sort(key=lambda i: order.get(i.name, len(order)))
    if not inputs:
        _fs104(pragma, pragma.node_span(node), f"`input` is empty: write e.g. {SHAPE_EXAMPLE}")
        return None
    return inputs


def _dtype_of(pragma: Pragma, node: ast.expr) -> str | None:
    value = node.value if isinstance(node, ast.Constant) else None
    if not isinstance(value, str):
        _fs104(
            pragma,
            pragma.node_span(node),
            'a dtype is a string such as "float16" or "long"',
        )
        return None
    dtype = normalise_dtype(value)
    if dtype is None:
        close = difflib.get_close_matches(value, DTYPE_ALIASES, n=1, cutoff=0.5)
        hint = f"did you mean `{close[0]}`?" if close else "use e.g. float32, float16, long"
        _fs104(
            pragma,
            pragma.node_span(node),
            f"unknown dtype `{value}`: {hint}",
            dtype=value,
            suggestion=close[0] if close else None,
        )
    return dtype


def _read_dtype(pragma: Pragma, node: ast.expr) -> str | list[str | None] | dict[str, str] | None:
    if isinstance(node, ast.Tuple | ast.List):
        # None in the list keeps that input's default dtype.
        per_input = [None if _is_none(e) else _dtype_of(pragma, e) for e in node.elts]
        ok = all(d is not None or _is_none(e) for d, e in zip(per_input, node.elts, strict=True))
        return per_input if ok else None
    if isinstance(node, ast.Dict):
        out: dict[str, str] = {}
        for k, v in zip(node.keys, node.values, strict=True):
            if not (isinstance(k, ast.Constant) and isinstance(k.value, str)):
                _fs104(
                    pragma,
                    pragma.node_span(k if k is not None else v),
                    '`dtype` as a dict maps input names to dtypes: write e.g. {"ids": "long"}',
                )
                return None
            d = _dtype_of(pragma, v)
            if d is None:
                return None
            out[k.value] = d
        return out
    return _dtype_of(pragma, node)


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _read_dims(pragma: Pragma, node: ast.expr) -> dict[str, int]:
    if not isinstance(node, ast.Dict):
        _fs104(
            pragma,
            pragma.node_span(node),
            '`dims` must be a dict of dimension sizes: write e.g. dims={"seq": 512}',
        )
        return {}
    out: dict[str, int] = {}
    for k, v in zip(node.keys, node.values, strict=True):
        key = k.value if isinstance(k, ast.Constant) else None
        value = v.value if isinstance(v, ast.Constant) else None
        if not (isinstance(key, str) and key.isidentifier()):
            _fs104(
                pragma,
                pragma.node_span(k if k is not None else v),
                '`dims` keys are dimension names in quotes: write e.g. dims={"seq": 512}',
            )
        elif not _is_dim_int(value):
            _fs104(
                pragma,
                pragma.node_span(v),
                f'the size of `{key}` must be a positive int: write e.g. dims={{"{key}": 512}}',
            )
        else:
            assert isinstance(value, int)
            out[key] = value
    return out
