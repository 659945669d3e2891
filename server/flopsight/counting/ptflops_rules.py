"""MACs per module as ptflops 0.7.x (pytorch backend) counts them: the ``ptflops`` convention.

Mirrors ``ptflops/pytorch_ops.py``'s ``MODULES_MAPPING``: a module is charged only when its
exact type is registered (ptflops looks types up, it does not follow subclasses), a
registered module's children are not charged again, and functional ops in ``forward`` cost
nothing (ptflops with ``count_functional=False``).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

# (module, positional inputs, output) -> MACs
ModuleFormula = Callable[[Any, tuple[Any, ...], Any], int]


@dataclass(frozen=True)
class ModuleRule:
    family: str
    formula: ModuleFormula
    # FLOPs when they are not 2 x MACs (DeepSpeed's RNN hooks count FLOPs only).
    flops: ModuleFormula | None = None


MODULE_RULES: dict[type[nn.Module], ModuleRule] = {}


def register(
    types: Sequence[type[nn.Module]], family: str
) -> Callable[[ModuleFormula], ModuleFormula]:
    """Register a module formula for exact module types; a type that has one is refused."""

    def add(formula: ModuleFormula) -> ModuleFormula:
        for t in types:
            _add_rule(t, ModuleRule(family, formula))
        return formula

    return add


def _add_rule(module_type: type[nn.Module], rule: ModuleRule) -> None:
    if module_type in MODULE_RULES:
        raise ValueError(f"a ptflops rule is already registered for {module_type.__qualname__}")
    MODULE_RULES[module_type] = rule


def _numel(shape: Sequence[int]) -> int:
    return math.prod(int(d) for d in shape)


@register([nn.Conv1d, nn.Conv2d, nn.Conv3d], "conv")
def conv(module: Any, inputs: tuple[Any, ...], output: Any) -> int:
    return _conv(module, inputs, output, transpose=False)


@register([nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d], "conv")
def conv_transpose(module: Any, inputs: tuple[Any, ...], output: Any) -> int:
    return _conv(module, inputs, output, transpose=True)


def _conv(
    module: Any, inputs: tuple[Any, ...], output: Any, transpose: bool, extra: int = 0
) -> int:
    x = inputs[0]
    batch = int(x.shape[0])
    filters_per_channel = int(module.out_channels) // int(module.groups)
    per_position = _numel(module.kernel_size) * (
        int(module.in_channels) * filters_per_channel + extra
    )
    positions = batch * _numel((x if transpose else output).shape[2:])
    bias = batch * _numel(output.shape[1:]) if module.bias is not None else 0
    return per_position * positions + bias


@register(
    [nn.ReLU, nn.PReLU, nn.ELU, nn.LeakyReLU, nn.ReLU6, nn.GELU],
    "activation",
)
def activation(module: Any, inputs: tuple[Any, ...], output: Any) -> int:
    return int(output.numel())


@register(
    [
        nn.MaxPool1d,
        nn.AvgPool1d,
        nn.AvgPool2d,
        nn.MaxPool2d,
        nn.MaxPool3d,
        nn.AvgPool3d,
        nn.AdaptiveMaxPool1d,
        nn.AdaptiveAvgPool1d,
        nn.AdaptiveMaxPool2d,
        nn.AdaptiveAvgPool2d,
        nn.AdaptiveMaxPool3d,
        nn.AdaptiveAvgPool3d,
    ],
    "pool",
)
def pool(module: Any, inputs: tuple[Any, ...], output: Any) -> int:
    return int(inputs[0].numel())


@register(
    [
        nn.BatchNorm1d,
        nn.BatchNorm2d,
        nn.BatchNorm3d,
        nn.InstanceNorm1d,
        nn.InstanceNorm2d,
        nn.InstanceNorm3d,
        nn.GroupNorm,
        nn.LayerNorm,
    ],
    "norm",
)
def norm(module: Any, inputs: tuple[Any, ...], output: Any) -> int:
    # ptflops doubles for `affine`, an attribute LayerNorm does not have.
    elements = int(inputs[0].numel())
    return elements * 2 if getattr(module, "affine", False) else elements


@register([nn.Linear], "matmul")
def linear(module: Any, inputs: tuple[Any, ...], output: Any) -> int:
    x = inputs[0]
    bias = int(output.shape[-1]) if module.bias is not None else 0
    return (int(x.shape[-1]) * int(output.shape[-1]) + bias) * _numel(x.shape[:-1])


@register([nn.Upsample], "upsample")
def upsample(module: Any, inputs: tuple[Any, ...], output: Any) -> int:
    # ptflops counts the elements of output[0], the first sample.
    return int(output[0].numel())


def rnn_gate_ops(module: Any) -> int:
    """The elementwise work of one cell step after its two matmuls, as ptflops counts it
    (DeepSpeed counts the same): the activation, and the gates' products and sums."""
    hidden = int(module.hidden_size)
    if isinstance(module, (nn.RNN, nn.RNNCell)):
        return hidden
    if isinstance(module, (nn.GRU, nn.GRUCell)):
        return hidden + hidden * 3 + hidden * 3
    if isinstance(module, (nn.LSTM, nn.LSTMCell)):
        return hidden * 4 + hidden * 3 + hidden * 3
    return 0


def _rnn_cell_macs(module: Any, w_ih: Any, w_hh: Any) -> int:
    return _numel(w_ih.shape) + _numel(w_hh.shape) + rnn_gate_ops(module)


@register([nn.RNN, nn.GRU, nn.LSTM], "rnn")
def rnn(module: Any, inputs: tuple[Any, ...], output: Any) -> int:
    return rnn_total(module, inputs, _rnn_cell_macs)


# A cell's cost from its module and its two weights (ptflops' and DeepSpeed's differ).
CellCost = Callable[[Any, Any, Any], int]


def rnn_total(module: Any, inputs: tuple[Any, ...], cell: CellCost) -> int:
    """ptflops' walk over an RNN's layers, which DeepSpeed's profiler repeats with its own cell
    cost: every layer's cell plus its biases, per step, times dims 0 and 1 of the input (taken as
    batch and sequence whatever ``batch_first`` says), twice when bidirectional."""
    x = inputs[0]
    total = 0
    for layer in range(int(module.num_layers)):
        total += cell(
            module, getattr(module, f"weight_ih_l{layer}"), getattr(module, f"weight_hh_l{layer}")
        )
        if module.bias:
            total += int(getattr(module, f"bias_ih_l{layer}").shape[0])
            total += int(getattr(module, f"bias_hh_l{layer}").shape[0])
    total *= int(x.shape[0]) * int(x.shape[1])
    return total * 2 if module.bidirectional else total


def rnn_cell_total(module: Any, inputs: tuple[Any, ...], cell: CellCost) -> int:
    """One cell (``nn.LSTMCell`` ...): its cost plus its biases, times the batch."""
    total = cell(module, module.weight_ih, module.weight_hh)
    if module.bias:
        total += int(module.bias_ih.shape[0]) + int(module.bias_hh.shape[0])
    return total * int(inputs[0].shape[0])


@register([nn.RNNCell, nn.LSTMCell, nn.GRUCell], "rnn")
def rnn_cell(module: Any, inputs: tuple[Any, ...], output: Any) -> int:
    return rnn_cell_total(module, inputs, _rnn_cell_macs)


@register([nn.MultiheadAttention], "attention")
def multihead_attention(module: Any, inputs: tuple[Any, ...], output: Any) -> int:
    q, k, v = inputs[:3]
    batch_first = bool(getattr(module, "batch_first", False))
    batch = int(q.shape[0] if batch_first else q.shape[1])
    len_idx = 1 if batch_first else 0
    qdim, kdim, vdim = int(q.shape[2]), int(k.shape[2]), int(v.shape[2])
    qlen, klen, vlen = int(q.shape[len_idx]), int(k.shape[len_idx]), int(v.shape[len_idx])
    heads = int(module.num_heads)
    macs = qlen * qdim  # q scaling
    macs += qlen * qdim * qdim + klen * kdim * kdim + vlen * vdim * vdim
    if module.in_proj_bias is not None:
        macs += (qlen + klen + vlen) * qdim
    qk_head_dim = qdim // heads
    v_head_dim = vdim // heads
    macs += heads * (qlen * klen * qk_head_dim + qlen * klen + qlen * klen * v_head_dim)
    macs += qlen * vdim * (vdim + 1)  # output projection, ptflops always adds its bias
    return macs * batch


def _deform_conv(module: Any, inputs: tuple[Any, ...], output: Any) -> int:
    # torchvision's DeformConv2d: bilinear sampling and offsets add 24 per position (25 with
    # a mask), ptflops' estimate.
    extra = 20 + 4 + (1 if len(inputs) == 3 and inputs[2] is not None else 0)
    return _conv(module, inputs, output, transpose=False, extra=extra)


def _timm_attention(module: Any, inputs: tuple[Any, ...], output: Any) -> int:
    # timm's ViT Attention: scaling, q @ k^T, softmax and att @ v per head (ptflops leaves the
    # qkv and proj Linears to their own rules, then reports only this module's figure).
    batch, tokens, _ = inputs[0].shape
    heads, head_dim = int(module.num_heads), int(module.head_dim)
    per_head = tokens * tokens * head_dim + tokens * tokens + tokens * tokens * head_dim
    return int(batch * (tokens * head_dim * heads + per_head * heads))


# Rules ptflops adds when a library imports: (module, class, family, formula). They are
# registered once the model's own code has imported that library.
_OPTIONAL_RULES = [
    ("torchvision.ops", "DeformConv2d", "conv", _deform_conv),
    ("timm.models.vision_transformer", "Attention", "attention", _timm_attention),
]


def _add_optional_rules() -> None:
    for entry in list(_OPTIONAL_RULES):
        module_name, class_name, family, formula = entry
        library = sys.modules.get(module_name)
        if library is None:
            continue
        _OPTIONAL_RULES.remove(entry)
        cls = getattr(library, class_name, None)
        if isinstance(cls, type) and issubclass(cls, nn.Module) and cls not in MODULE_RULES:
            _add_rule(cls, ModuleRule(family, formula))


def rule_for(module: nn.Module) -> ModuleRule | None:
    rule = MODULE_RULES.get(type(module))
    if rule is None and _OPTIONAL_RULES:
        _add_optional_rules()
        rule = MODULE_RULES.get(type(module))
    return rule
