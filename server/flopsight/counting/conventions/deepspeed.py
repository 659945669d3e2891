"""The ``deepspeed`` convention: DeepSpeed's flops profiler (``get_model_profile``).

DeepSpeed patches functions while it profiles (``deepspeed/profiling/flops_profiler/
profiler.py``): ``torch.nn.functional``'s linear, convolutions, activations, norms, pooling,
upsampling, softmax, embedding and attention, and ``torch``/``Tensor`` matmul, mm, bmm,
addmm, baddbmm, mul, add and einsum; RNN modules get a forward hook. A call is charged to the
innermost running module, and calls inside patched functions are charged too (``F.upsample``
calls ``F.interpolate``: both count). Only what those names reach counts: ``x * y``,
``x + y`` (``Tensor.__mul__``/``__add__``), in-place ops and functions imported by name
before profiling are not seen. This convention wraps the same names while counting.

MACs and FLOPs are separate figures: MACs only for matmuls, convolutions and attention;
FLOPs are 2 x MACs plus a convolution's bias, addmm's added matrix, one per element for
activations, pooling, softmax, upsampled outputs and elementwise mul/add, and 1-5 per element
for norms (RNN hooks add FLOPs only).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from flopsight.counting.conventions.base import (
    Convention,
    FunctionRule,
    FunctionSite,
    ModuleRule,
    RuleSet,
)
from flopsight.counting.ptflops_rules import rnn_cell_total, rnn_gate_ops, rnn_total

F = torch.nn.functional
# DeepSpeed's own (FLOPs, MACs) order, taking the call's arguments as the patched function.
DsFormula = Callable[..., tuple[int, int]]


def _prod(dims: Sequence[Any]) -> int:
    return math.prod(int(d) for d in dims)


def _linear(input: Any, weight: Any, bias: Any = None) -> tuple[int, int]:
    macs = int(input.numel()) * int(weight.shape[0])
    return 2 * macs, macs


def _per_element(input: Any, *args: Any, **kwargs: Any) -> tuple[int, int]:
    return int(input.numel()), 0


def _zero(*args: Any, **kwargs: Any) -> tuple[int, int]:
    return 0, 0


def _tuple(value: Any, length: int) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, tuple) else (value,) * length


def _conv(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> tuple[int, int]:
    batch, in_channels = int(input.shape[0]), int(input.shape[1])
    out_channels = int(weight.shape[0])
    kernel = [int(d) for d in weight.shape[2:]]
    spatial = [int(d) for d in input.shape[2:]]
    n = len(spatial)
    strides, dilations = _tuple(stride, n), _tuple(dilation, n)
    if isinstance(padding, str):
        if padding == "valid":
            paddings: tuple[Any, ...] = (0,) * n
        else:  # "same": DeepSpeed pads d (k - 1) // 2 per side
            paddings = tuple(d * (k - 1) // 2 for d, k in zip(dilations, kernel, strict=False))
    else:
        paddings = _tuple(padding, n)
    out = [
        (size + 2 * paddings[i] - (dilations[i] * (kernel[i] - 1) + 1)) // strides[i] + 1
        for i, size in enumerate(spatial)
    ]
    per_position = _prod(kernel) * in_channels * (out_channels // int(groups))
    positions = batch * _prod(out)
    macs = per_position * positions
    bias_flops = out_channels * positions if bias is not None else 0
    return 2 * macs + bias_flops, macs


def _conv_transpose(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
) -> tuple[int, int]:
    batch, in_channels = int(input.shape[0]), int(input.shape[1])
    per_group = int(weight.shape[1])
    kernel = [int(d) for d in weight.shape[2:]]
    spatial = [int(d) for d in input.shape[2:]]
    n = len(spatial)
    paddings, strides, dilations = _tuple(padding, n), _tuple(stride, n), _tuple(dilation, n)
    if isinstance(output_padding, (tuple, list)):
        output_paddings = tuple(output_padding)
    else:
        output_paddings = (output_padding,) * n
    out = [
        (size - 1) * strides[i]
        - 2 * paddings[i]
        + dilations[i] * (kernel[i] - 1)
        + output_paddings[i]
        + 1
        for i, size in enumerate(spatial)
    ]
    macs = _prod(kernel) * in_channels * per_group * batch * _prod(spatial)
    bias_flops = per_group * int(groups) * batch * _prod(out) if bias is not None else 0
    return 2 * macs + bias_flops, macs


def _batch_norm(
    input: Any,
    running_mean: Any,
    running_var: Any,
    weight: Any = None,
    bias: Any = None,
    training: bool = False,
    *args: Any,
    **kwargs: Any,
) -> tuple[int, int]:
    if training:
        return int(input.numel()) * (5 if weight is not None else 4), 0
    return int(input.numel()) * (2 if weight is not None else 1), 0


def _layer_norm(
    input: Any, normalized_shape: Any, weight: Any = None, *args: Any, **kwargs: Any
) -> tuple[int, int]:
    return int(input.numel()) * (5 if weight is not None else 4), 0


def _group_norm(
    input: Any, num_groups: int, weight: Any = None, *args: Any, **kwargs: Any
) -> tuple[int, int]:
    return int(input.numel()) * (5 if weight is not None else 4), 0


def _instance_norm(
    input: Any,
    running_mean: Any = None,
    running_var: Any = None,
    weight: Any = None,
    *args: Any,
    **kwargs: Any,
) -> tuple[int, int]:
    return int(input.numel()) * (5 if weight is not None else 4), 0


def _upsample(*args: Any, **kwargs: Any) -> tuple[int, int]:
    input = args[0]
    size = kwargs.get("size")
    if size is None and len(args) > 1:
        size = args[1]
    if size is not None:
        return (_prod(size) if isinstance(size, (tuple, list)) else int(size)), 0
    scale = kwargs.get("scale_factor")
    if scale is None and len(args) > 2:
        scale = args[2]
    if scale is None:
        raise ValueError("interpolate without size or scale_factor")
    flops = int(input.numel())
    if isinstance(scale, (list, tuple)):
        return int(flops * math.prod(scale)), 0
    return int(flops * scale ** (input.ndim - 2)), 0


def _matmul(input: Any, other: Any, *, out: Any = None) -> tuple[int, int]:
    macs = _prod(input.shape) * int(other.shape[-1])
    return 2 * macs, macs


def _addmm(
    input: Any, mat1: Any, mat2: Any, *, beta: Any = 1, alpha: Any = 1, out: Any = None
) -> tuple[int, int]:
    macs = _prod(mat1.shape) * int(mat2.shape[-1])
    return 2 * macs + _prod(input.shape), macs


def _elementwise(input: Any, other: Any, *args: Any, **kwargs: Any) -> tuple[int, int]:
    if not torch.is_tensor(input):
        return (_prod(other.shape) if torch.is_tensor(other) else 1), 0
    if not torch.is_tensor(other):
        return _prod(input.shape), 0
    return _prod(torch.broadcast_shapes(input.shape, other.shape)), 0  # type: ignore[no-untyped-call]


def _einsum(equation: str, *operands: Any) -> tuple[int, int]:
    # numpy's optimal-path cost as FLOPs and no MACs, as DeepSpeed counts an einsum.
    shapes = [tuple(int(d) for d in o.shape) for o in operands]
    arrays = [np.zeros(s) for s in shapes]
    path = np.einsum_path(_canonical(equation.replace(" ", "")), *arrays, optimize="optimal")[1]
    for line in path.split("\n"):
        if "optimized flop" in line.lower():
            return int(float(line.split(":")[-1])), 0
    raise ValueError(f"einsum {equation!r}: numpy gave no contraction cost")


def _canonical(equation: str) -> str:
    order: dict[str, int] = {}
    for c in equation:
        if c.isalpha():
            order.setdefault(c, len(order))
    return equation.translate({ord(c): 97 + i for c, i in order.items()})


def _attention(q: Any, k: Any, v: Any, *args: Any, **kwargs: Any) -> tuple[int, int]:
    macs = _prod(q.shape) * int(k.shape[-2])
    macs += _prod(q.shape[:-1]) * int(k.shape[-2]) * int(v.shape[-1])
    return 2 * macs, macs


def _rule(family: str, formula: DsFormula) -> FunctionRule:
    def charge(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
        flops, macs = formula(*args, **kwargs)
        return int(macs), int(flops)

    return FunctionRule(family, charge)


_FUNCTIONALS: list[tuple[str, str, DsFormula]] = [
    ("linear", "matmul", _linear),
    ("conv1d", "conv", _conv),
    ("conv2d", "conv", _conv),
    ("conv3d", "conv", _conv),
    ("conv_transpose1d", "conv", _conv_transpose),
    ("conv_transpose2d", "conv", _conv_transpose),
    ("conv_transpose3d", "conv", _conv_transpose),
    ("relu", "activation", _per_element),
    ("prelu", "activation", _per_element),
    ("elu", "activation", _per_element),
    ("leaky_relu", "activation", _per_element),
    ("relu6", "activation", _per_element),
    ("silu", "activation", _per_element),
    ("gelu", "activation", _per_element),
    ("batch_norm", "norm", _batch_norm),
    ("layer_norm", "norm", _layer_norm),
    ("instance_norm", "norm", _instance_norm),
    ("group_norm", "norm", _group_norm),
    ("upsample", "upsample", _upsample),
    ("interpolate", "upsample", _upsample),
    ("softmax", "softmax", _per_element),
    ("embedding", "embedding", _zero),
    ("scaled_dot_product_attention", "attention", _attention),
]
_FUNCTIONALS += [
    (f"{kind}_pool{d}d", "pool", _per_element)
    for kind in ("avg", "max", "adaptive_avg", "adaptive_max")
    for d in (1, 2, 3)
]
_TORCH: list[tuple[str, str, DsFormula]] = [
    ("matmul", "matmul", _matmul),
    ("mm", "matmul", _matmul),
    ("bmm", "matmul", _matmul),
    ("addmm", "matmul", _addmm),
    ("mul", "elementwise", _elementwise),
    ("add", "elementwise", _elementwise),
    ("einsum", "matmul", _einsum),
    ("baddbmm", "matmul", _addmm),
]
_TENSOR: list[tuple[str, str, DsFormula]] = [
    ("matmul", "matmul", _matmul),
    ("__matmul__", "matmul", _matmul),
    ("mm", "matmul", _matmul),
    ("bmm", "matmul", _matmul),
    ("addmm", "matmul", _addmm),
    ("mul", "elementwise", _elementwise),
    ("add", "elementwise", _elementwise),
]

FUNCTION_RULES: dict[FunctionSite, FunctionRule] = {}
for _owner, _table in ((F, _FUNCTIONALS), (torch, _TORCH), (torch.Tensor, _TENSOR)):
    for _name, _family, _formula in _table:
        FUNCTION_RULES[(_owner, _name)] = _rule(_family, _formula)


def _rnn_cell_flops(module: Any, w_ih: Any, w_hh: Any) -> int:
    gates = int(w_ih.shape[0])
    flops = 2 * int(w_ih.shape[0]) * int(w_ih.shape[1]) - gates
    flops += 2 * int(w_hh.shape[0]) * int(w_hh.shape[1]) - gates
    return flops + rnn_gate_ops(module)


def _rnn_flops(module: Any, inputs: tuple[Any, ...], output: Any) -> int:
    return rnn_total(module, inputs, _rnn_cell_flops)


def _rnn_cell_flops_of(module: Any, inputs: tuple[Any, ...], output: Any) -> int:
    return rnn_cell_total(module, inputs, _rnn_cell_flops)


def _no_macs(module: Any, inputs: tuple[Any, ...], output: Any) -> int:
    return 0


MODULE_RULES: dict[type[nn.Module], ModuleRule] = {
    **{t: ModuleRule("rnn", _no_macs, _rnn_flops) for t in (nn.RNN, nn.GRU, nn.LSTM)},
    **{
        t: ModuleRule("rnn", _no_macs, _rnn_cell_flops_of)
        for t in (nn.RNNCell, nn.GRUCell, nn.LSTMCell)
    },
}


def _module_rule(module: nn.Module) -> ModuleRule | None:
    return MODULE_RULES.get(type(module))


def _einops_rules() -> None:
    # DeepSpeed patches einops.einsum too (it requires einops).
    try:
        einops = importlib.import_module("einops")
    except ImportError:
        return
    if hasattr(einops, "einsum"):

        def einops_einsum(*args: Any) -> tuple[int, int]:
            *operands, equation = args
            return _einsum(equation, *operands)

        FUNCTION_RULES[(einops, "einsum")] = _rule("matmul", einops_einsum)


_einops_rules()


def _all_free(packet: object) -> bool:
    return True


CONVENTION: Convention = RuleSet(
    name="deepspeed",
    is_free=_all_free,
    charges_ops=False,
    module_rule_for=_module_rule,
    charges_modules=True,
    function_rules=FUNCTION_RULES,
)
