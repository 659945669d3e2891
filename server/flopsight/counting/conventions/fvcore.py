"""The ``fvcore`` convention: ``fvcore.nn.FlopCountAnalysis(model, x).total()`` (fvcore 0.1.5).

fvcore traces the model with the JIT and prices the aten ops of the trace with its default
handles (``fvcore/nn/flop_count.py``); its "flop" is one multiply-accumulate. The trace holds
composite ops (``aten::linear``, ``aten::batch_norm``, ``aten::einsum``) where the dispatch
mode sees what they decompose into, so each handle is mapped here:

- matmul-like (``linear``, ``matmul``, ``mm``, ``addmm``, ``bmm``) and ``_convolution``: the
  multiply-accumulates, as ``macs`` counts them (bias left out) -> ``mm``/``addmm``/``bmm``/
  ``mv`` and the convolution kernels;
- ``batch_norm``: in eval 1 per element, 2 with an affine; in training (no running stats,
  or ``instance_norm``, which runs batch norm over a reshape) 4, 5 with an affine;
  ``layer_norm``/``group_norm``: 4, 5 with an affine -> ``native_batch_norm``,
  ``native_layer_norm``, ``native_group_norm``;
- ``upsample_nearest2d``: 1 per output element, ``upsample_bilinear2d`` and ``grid_sampler``
  4 -> the same aten ops;
- ``adaptive_avg_pool2d``: 1 per input element, and ``einsum``: numpy's optimal contraction
  cost / 2 (two equations written out) -> wrapped as functions, since at dispatch a 1 x 1
  adaptive pool is a ``mean`` and an einsum a ``bmm``, both ambiguous;
- everything else costs nothing, as fvcore skips it (elementwise ops, activations, softmax,
  max/avg pooling, ``baddbmm``, ``scaled_dot_product_attention``, RNN kernels, and
  convolutions with ``padding="same"``/``"valid"``, which trace as ``_convolution_mode``:
  wrapped as free functions, so the kernels they run are not priced either).

Its ``ActivationCountAnalysis`` (output elements of convolutions and matmul-like ops, timm's
``infer_macts``) is kept in the same pass as ``activations``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import numpy as np
import torch

from flopsight.counting import formulas
from flopsight.counting.conventions import macs
from flopsight.counting.conventions.base import (
    Convention,
    ConventionTally,
    FunctionRule,
    FunctionSite,
    OpRule,
    RuleSet,
)
from flopsight.report.units import format_macs

aten = torch.ops.aten
OpPacket = torch._ops.OpOverloadPacket


def _numel(t: Any) -> int:
    return math.prod(int(d) for d in t.shape)


def _out_numel(out: Any) -> int:
    first = out[0] if isinstance(out, (tuple, list)) else out
    return _numel(first)


# --- op rules -------------------------------------------------------------------------------

OP_RULES: dict[OpPacket, OpRule] = {}

# The multiply-accumulates of matmuls and convolutions are macs' formulas (fvcore's and torch's
# flop_counter's agree: batch x prod(weight) x output positions, input positions if transposed).
_FROM_MACS = [
    aten.mm,
    aten.addmm,
    aten.bmm,
    aten.mv,
    aten.convolution,
    aten._convolution,
    aten.cudnn_convolution,
    aten.convolution_overrideable,
    aten._slow_conv2d_forward,
    aten.mkldnn_convolution,
    aten._conv_depthwise2d,
    aten.conv_depthwise3d,
]
for _packet in _FROM_MACS:
    _rule = formulas.OP_RULES[_packet]
    OP_RULES[_packet] = OpRule(_rule.family, _rule.formula, activations=_out_numel)


def _affine_norm(weight: Any, elements: int) -> int:
    return elements * (5 if weight is not None else 4)


def _native_batch_norm(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    # (input, weight, bias, running_mean, running_var, training, momentum, eps)
    x, weight = args[0], args[1]
    if bool(args[5]):
        return _affine_norm(weight, _numel(x))
    return _numel(x) * (2 if weight is not None else 1)


def _batch_norm_legit(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    # .default has running stats (training at 5), .no_stats has none (training at 3).
    training = args[3] if isinstance(args[3], bool) else args[5]
    if training:
        return _affine_norm(args[1], _numel(args[0]))
    return _numel(args[0]) * (2 if args[1] is not None else 1)


def _no_training_batch_norm(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    return _numel(args[0]) * (2 if args[1] is not None else 1)


def _layer_norm(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    # (input, normalized_shape, weight, bias, eps)
    return _affine_norm(args[2] if len(args) > 2 else None, _numel(args[0]))


def _group_norm(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    # (input, weight, bias, N, C, HxW, group, eps)
    return _affine_norm(args[1], _numel(args[0]))


def _upsample_nearest(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    return _out_numel(out)


def _four_per_output(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    return 4 * _out_numel(out)


OP_RULES[aten.native_batch_norm] = OpRule("norm", _native_batch_norm)
OP_RULES[aten._native_batch_norm_legit] = OpRule("norm", _batch_norm_legit)
OP_RULES[aten._native_batch_norm_legit_no_training] = OpRule("norm", _no_training_batch_norm)
OP_RULES[aten.native_layer_norm] = OpRule("norm", _layer_norm)
OP_RULES[aten.native_group_norm] = OpRule("norm", _group_norm)
OP_RULES[aten.upsample_nearest2d] = OpRule("upsample", _upsample_nearest)
OP_RULES[aten.upsample_bilinear2d] = OpRule("upsample", _four_per_output)
OP_RULES[aten.grid_sampler_2d] = OpRule("upsample", _four_per_output)
OP_RULES[aten.grid_sampler_3d] = OpRule("upsample", _four_per_output)


# --- function rules -------------------------------------------------------------------------


def einsum_macs(equation: str, shapes: list[tuple[int, ...]]) -> int:
    """fvcore's einsum handle: two equations written out, else numpy's optimal path / 2."""
    equation = equation.replace(" ", "")
    # The same equation in other letters reads the same (fvcore renames them in order).
    letters = OrderedDict((c, 0) for c in equation if c.isalpha()).keys()
    equation = equation.translate({ord(c): 97 + i for i, c in enumerate(letters)})
    if equation == "abc,abd->acd":
        n, c, t = shapes[0]
        return n * c * t * shapes[-1][-1]
    if equation == "abc,adc->adb":
        n, t, g = shapes[0]
        return n * t * g * shapes[-1][1]
    arrays = [np.zeros(s) for s in shapes]
    path = np.einsum_path(equation, *arrays, optimize="optimal")[1]
    for line in path.split("\n"):
        if "optimized flop" in line.lower():
            return int(np.floor(float(line.split(":")[-1]) / 2))
    raise ValueError(f"einsum {equation!r}: numpy gave no contraction cost")


def _einsum(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    equation, *operands = args
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = list(operands[0])
    shapes = [tuple(int(d) for d in o.shape) for o in operands]
    count = einsum_macs(str(equation), shapes)
    return count, 2 * count


def _adaptive_avg_pool2d(
    args: tuple[Any, ...], kwargs: dict[str, Any], out: Any
) -> tuple[int, int]:
    count = _numel(args[0])
    return count, 2 * count


def _nothing(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> tuple[int, int]:
    return 0, 0


F = torch.nn.functional
FUNCTION_RULES: dict[FunctionSite, FunctionRule] = {
    (torch, "einsum"): FunctionRule("matmul", _einsum, covers=True, activations=_out_numel),
    # F.adaptive_avg_pool2d calls this attribute (aten::adaptive_avg_pool2d in the trace).
    (torch._C._nn, "adaptive_avg_pool2d"): FunctionRule("pool", _adaptive_avg_pool2d, covers=True),
    (F, "scaled_dot_product_attention"): FunctionRule("attention", _nothing, covers=True),
}


def _padding_by_name(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    # (input, weight, bias, stride, padding, ...): padding="same"/"valid" traces as
    # aten::_convolution_mode, which fvcore has no handle for.
    padding = args[4] if len(args) > 4 else kwargs.get("padding")
    return isinstance(padding, str)


for _name in ("conv1d", "conv2d", "conv3d"):
    FUNCTION_RULES[(F, _name)] = FunctionRule(
        "conv", _nothing, covers=True, applies=_padding_by_name
    )
# nn.RNN/LSTM/GRU and their cells call these (aten::lstm ... in the trace, no handle).
for _name in ("lstm", "gru", "rnn_tanh", "rnn_relu", "lstm_cell", "gru_cell", "rnn_tanh_cell"):
    FUNCTION_RULES[(torch._VF, _name)] = FunctionRule("rnn", _nothing, covers=True)
FUNCTION_RULES[(torch._VF, "rnn_relu_cell")] = FunctionRule("rnn", _nothing, covers=True)


def _all_free(packet: OpPacket) -> bool:
    return True


def _notes(tally: ConventionTally) -> list[str]:
    if not tally.left_out_macs:
        return []
    return [
        f"{format_macs(tally.left_out_macs)} of ops fvcore has no handle for are not counted "
        "(fvcore counts them as 0 and warns 'unsupported operator'); the macs convention "
        "counts them"
    ]


CONVENTION: Convention = RuleSet(
    name="fvcore",
    op_rules=OP_RULES,
    is_free=_all_free,
    prices_left_out_ops=macs.CONVENTION,
    notes_for=_notes,
    function_rules=FUNCTION_RULES,
    counts_activations=True,
)
