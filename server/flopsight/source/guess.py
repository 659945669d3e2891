"""A guess at an unannotated model's input, from the first layer its ``__init__`` constructs.

Only literal sizes count (``nn.Linear(28 * 28, 512)``, or an ``__init__`` parameter whose default
is a literal); anything else gives no guess.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

# Layer type -> (keyword of its input size, shape around it). None: no size needed.
_LAYERS: dict[str, tuple[str | None, tuple[int, ...], tuple[int, ...]]] = {
    "Conv1d": ("in_channels", (1,), (128,)),
    "Conv2d": ("in_channels", (1,), (224, 224)),
    "Conv3d": ("in_channels", (1,), (16, 112, 112)),
    "ConvTranspose1d": ("in_channels", (1,), (128,)),
    "ConvTranspose2d": ("in_channels", (1,), (224, 224)),
    "ConvTranspose3d": ("in_channels", (1,), (16, 112, 112)),
    "Linear": ("in_features", (1,), ()),
    "LSTM": ("input_size", (1, 16), ()),
    "GRU": ("input_size", (1, 16), ()),
    "RNN": ("input_size", (1, 16), ()),
    "Embedding": (None, (1, 128), ()),
    "EmbeddingBag": (None, (1, 128), ()),
}
_INT_INPUT = {"Embedding", "EmbeddingBag"}


@dataclass
class InputGuess:
    shape: list[int]
    dtype: str | None  # None: float32
    layer: str  # "Conv2d"


def guess_input(init: ast.FunctionDef | ast.AsyncFunctionDef | None) -> InputGuess | None:
    """The input the first recognised layer in ``__init__`` (in source order) takes."""
    if init is None:
        return None
    defaults = _literal_defaults(init)
    calls = [n for n in ast.walk(init) if isinstance(n, ast.Call)]
    calls.sort(key=lambda c: (c.lineno, c.col_offset))
    for call in calls:
        layer = _layer_name(call.func)
        if layer is None:
            continue
        keyword, before, after = _LAYERS[layer]
        dtype = "int64" if layer in _INT_INPUT else None
        if keyword is None:
            return InputGuess(list(before), dtype, layer)
        size_node: ast.expr | None = call.args[0] if call.args else None
        if size_node is None:
            size_node = next((k.value for k in call.keywords if k.arg == keyword), None)
        size = _int_value(size_node, defaults) if size_node is not None else None
        if size is None or size < 1:
            return None
        return InputGuess([*before, size, *after], dtype, layer)
    return None


def _layer_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Attribute) and func.attr in _LAYERS:
        return func.attr
    if isinstance(func, ast.Name) and func.id in _LAYERS:
        return func.id
    return None


def _literal_defaults(func: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, int]:
    args = func.args
    positional = [*args.posonlyargs, *args.args]
    pairs = list(
        zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True)
    )
    pairs += [
        (a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None
    ]
    out: dict[str, int] = {}
    for a, d in pairs:
        value = _int_value(d, {})
        if value is not None:
            out[a.arg] = value
    return out


def _int_value(node: ast.expr, names: dict[str, int], depth: int = 0) -> int | None:
    """Literal ints and + - * // ** of them (``28 * 28``); names from ``names``."""
    if depth > 20:
        return None
    if isinstance(node, ast.Constant):
        v = node.value
        return v if isinstance(v, int) and not isinstance(v, bool) else None
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        v = _int_value(node.operand, names, depth + 1)
        if v is None:
            return None
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp):
        left = _int_value(node.left, names, depth + 1)
        right = _int_value(node.right, names, depth + 1)
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right if abs(left * right) < 1 << 40 else None
        if isinstance(node.op, ast.FloorDiv) and right != 0:
            return left // right
        if isinstance(node.op, ast.Pow) and 0 <= right <= 64 and abs(left) <= 1 << 20:
            v = left**right
            return v if abs(v) < 1 << 40 else None
    return None
