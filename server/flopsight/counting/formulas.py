"""MACs of aten ops: the ``macs`` convention's registry.

``torch.utils.flop_counter`` already knows matmuls, convolutions and the attention kernels; its
formulas are reused (FLOPs / 2). This module adds only what it lacks (matrix-vector products,
the CPU attention kernels, the fused nn.MultiheadAttention / TransformerEncoderLayer fast
paths) and says which ops cost nothing by the convention's definition (views, copies,
elementwise ops, norms, pooling, reductions, factories). An op that is neither is uncounted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils import flop_counter

aten = torch.ops.aten

# (positional args, keyword args, output) -> MACs
MacsFormula = Callable[[tuple[Any, ...], dict[str, Any], Any], int]


@dataclass(frozen=True)
class OpRule:
    """How one op is charged: its family (for the breakdown) and its MACs formula."""

    family: str
    formula: MacsFormula
    # Output elements it produces, for conventions counting activations (fvcore's).
    activations: Callable[[Any], int] | None = None


OP_RULES: dict[torch._ops.OpOverloadPacket, OpRule] = {}


def _no_macs(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    return 0


# What ``classify`` answers besides a formula: the op is free, or it has no formula.
FREE = OpRule("", _no_macs)
UNCOUNTED = OpRule("", _no_macs)
# classify's cache, per op packet; registering a formula clears it.
CLASSIFIED: dict[torch._ops.OpOverloadPacket, OpRule] = {}


def register(
    targets: torch._ops.OpOverloadPacket | Sequence[torch._ops.OpOverloadPacket], family: str
) -> Callable[[MacsFormula], MacsFormula]:
    """Register a MACs formula for one or more op packets (``torch.ops.aten.mv``, ...).

    A packet that already has a formula is refused (ValueError): rules never replace each
    other silently.
    """
    packets = [targets] if isinstance(targets, torch._ops.OpOverloadPacket) else list(targets)

    def add(formula: MacsFormula) -> MacsFormula:
        taken = [p._qualified_op_name for p in packets if p in OP_RULES]
        if taken:
            raise ValueError(f"a MACs formula is already registered for {', '.join(taken)}")
        for packet in packets:
            OP_RULES[packet] = OpRule(family, formula)
        CLASSIFIED.clear()
        return formula

    return add


def _shape(t: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in t.shape)


def _numel(shape: Sequence[int]) -> int:
    return math.prod(int(d) for d in shape)


# --- reused from torch.utils.flop_counter -------------------------------------------------

_FAMILY_OF_TORCH_FORMULA = {
    "mm": "matmul",
    "addmm": "matmul",
    "bmm": "matmul",
    "baddbmm": "matmul",
    "_scaled_mm": "matmul",
}


def _family_of(name: str) -> str:
    """The family of a formula torch's flop_counter has for op ``name``; "other" if unknown."""
    if name in _FAMILY_OF_TORCH_FORMULA:
        return _FAMILY_OF_TORCH_FORMULA[name]
    if "conv" in name:
        return "conv"
    if "attention" in name:
        return "attention"
    return "other"


# The code object of flop_counter's shape_wrapper closure: formulas wrapped by it take shapes.
_SHAPE_WRAPPER_CODE = flop_counter.shape_wrapper(lambda: 0).__code__  # type: ignore[no-untyped-call]


def _shape_or_value(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.shape
    if isinstance(value, (tuple, list)) and any(isinstance(v, torch.Tensor) for v in value):
        return type(value)(_shape_or_value(v) for v in value)
    return value


def _from_flop_counter(flops_formula: Callable[..., int]) -> MacsFormula:
    shape_formula = getattr(flops_formula, "__wrapped__", None)
    if shape_formula is None or flops_formula.__code__ is not _SHAPE_WRAPPER_CODE:

        def raw_macs(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
            return int(flops_formula(*args, **kwargs, out_val=out)) // 2

        return raw_macs

    # Same call as shape_wrapper's, without its pytree walk over every argument (it dominated
    # the cost of counting a convolution).
    def macs(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
        shapes = [_shape_or_value(a) for a in args]
        named = {k: _shape_or_value(v) for k, v in kwargs.items()}
        return int(shape_formula(*shapes, **named, out_shape=_shape_or_value(out))) // 2

    return macs


for _packet, _formula in flop_counter.flop_registry.items():
    if isinstance(_packet, torch._ops.OpOverloadPacket):
        OP_RULES[_packet] = OpRule(_family_of(_packet.__name__), _from_flop_counter(_formula))


# --- what flop_counter lacks ---------------------------------------------------------------


@register(aten.mv, "matmul")
def _mv(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    return _numel(_shape(args[0]))


@register(aten.addmv, "matmul")
def _addmv(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    return _numel(_shape(args[1]))


@register([aten.dot, aten.vdot], "matmul")
def _dot(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    return _numel(_shape(args[0]))


@register(aten.addr, "matmul")
def _addr(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    return _numel(_shape(args[1])) * _numel(_shape(args[2]))


@register(aten.addbmm, "matmul")
def _addbmm(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    b, n, k = _shape(args[1])
    return b * n * k * _shape(args[2])[-1]


@register(aten._int_mm, "matmul")
def _int_mm(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    n, k = _shape(args[0])
    return n * k * _shape(args[1])[-1]


def _conv_macs(weight: Any, out: Any) -> int:
    # Each output element is a dot product over (in_channels / groups) * kernel positions.
    return _numel(_shape(out)) * _numel(_shape(weight)[1:])


# torch 2.13's formula counts a grouped conv's weight gradient `groups` times (it convolves
# the whole input with the whole grad_output); flopsight's own replaces it (docs/conventions.md).
del OP_RULES[aten.convolution_backward]


@register(aten.convolution_backward, "conv")
def _convolution_backward(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    # (grad_output, input, weight, bias_sizes, stride, padding, dilation, transposed,
    # output_padding, groups, output_mask). Both the input gradient (a transposed conv of
    # grad_output) and the weight gradient (each weight element accumulates over the same
    # positions as in the forward) cost the forward's MACs; the bias gradient is a sum (free).
    grad_output, x, weight = args[:3]
    transposed = bool(args[7])
    mask = args[10] if len(args) > 10 else kwargs.get("output_mask", (True, True, True))
    # Forward MACs: one dot product over weight[1:] per element of the conv's output (of the
    # input for a transposed conv, whose weight is [in, out / groups, *kernel]).
    forward = _numel(_shape(x if transposed else grad_output)) * _numel(_shape(weight)[1:])
    return forward * (int(bool(mask[0])) + int(bool(mask[1])))


@register([aten.mkldnn_convolution, aten._conv_depthwise2d, aten.conv_depthwise3d], "conv")
def _direct_conv(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    return _conv_macs(args[1], out)


@register(aten.mkldnn_rnn_layer, "rnn")
def _mkldnn_rnn_layer(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    # One layer and direction of the CPU LSTM kernel: (input, w_ih, w_hh, ...); every time
    # step multiplies the input by w_ih and the hidden state by w_hh.
    x, w_ih, w_hh = args[:3]
    steps = _numel(_shape(x)) // _shape(w_ih)[1]
    return steps * (_numel(_shape(w_ih)) + _numel(_shape(w_hh)))


@register(aten._trilinear, "matmul")
def _trilinear(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    # nn.Bilinear: out[b, o] = sum_ij x1[b, i] W[o, i, j] x2[b, j]; one MAC per element of
    # the three inputs broadcast together (after inserting their expanded dims).
    shapes = []
    for tensor, expand in zip(args[:3], args[3:6], strict=True):
        shape = list(_shape(tensor))
        for dim in sorted(expand):
            shape.insert(dim, 1)
        shapes.append(shape)
    rank = max(len(s) for s in shapes)
    return _numel([max(s[i] if i < len(s) else 1 for s in shapes) for i in range(rank)])


@register(aten._cdist_forward, "matmul")
def _cdist(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    # Pairwise distances of P and R points of dimension M: one MAC per coordinate per pair.
    x1, x2 = _shape(args[0]), _shape(args[1])
    return _numel(_shape(out)) * x1[-1] if x1[-1] == x2[-1] else 0


def _attention_macs(q: tuple[int, ...], k: tuple[int, ...], v: tuple[int, ...]) -> int:
    # q @ k^T and attn @ v over every query head (grouped-query heads broadcast).
    *batch_q, s_q, d_q = q
    s_k = k[-2]
    d_v = v[-1]
    heads = _numel(batch_q)
    return heads * s_q * s_k * d_q + heads * s_q * s_k * d_v


@register(
    [
        aten._scaled_dot_product_flash_attention_for_cpu,
        aten._scaled_dot_product_fused_attention_overrideable,
        aten._scaled_dot_product_attention_math,
    ],
    "attention",
)
def _sdpa(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    return _attention_macs(_shape(args[0]), _shape(args[1]), _shape(args[2]))


@register(aten._scaled_dot_product_flash_attention_for_cpu_backward, "attention")
def _sdpa_cpu_backward(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    # (grad_out, query, key, value, out, logsumexp, ...): the same four matmuls and recomputed
    # scores as torch's formula for the other fused attention backward kernels.
    shapes = [_shape(t) for t in args[:4]]
    return int(flop_counter.sdpa_backward_flop_count(*shapes)) // 2  # type: ignore[no-untyped-call]


@register(aten._native_multi_head_attention, "attention")
def _native_mha(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    # nn.MultiheadAttention's fused inference path: (query, key, value, embed_dim, num_heads,
    # qkv_weight, qkv_bias, proj_weight, proj_bias, ...), batch-first inputs.
    query, key, value, embed_dim, num_heads = args[:5]
    b, s_q, e = _shape(query)
    s_k = _shape(key)[1]
    s_v = _shape(value)[1]
    head_dim = int(embed_dim) // int(num_heads)
    projections = b * (s_q + s_k + s_v) * e * int(embed_dim)
    attention = _attention_macs(
        (b, int(num_heads), s_q, head_dim),
        (b, int(num_heads), s_k, head_dim),
        (b, int(num_heads), s_v, head_dim),
    )
    out_projection = b * s_q * int(embed_dim) * int(embed_dim)
    return projections + attention + out_projection


@register(aten._transformer_encoder_layer_fwd, "attention")
def _encoder_layer(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    # nn.TransformerEncoderLayer's fused inference path: attention block plus the two-layer MLP.
    src, embed_dim, num_heads = args[:3]
    ffn_weight_1 = args[14]
    b, s, e = _shape(src)
    mha = _native_mha((src, src, src, embed_dim, num_heads), {}, None)
    hidden = _shape(ffn_weight_1)[0]
    return mha + 2 * b * s * e * hidden


# --- ops that cost nothing in the `macs` convention ----------------------------------------

_FREE_TAGS = (torch.Tag.pointwise, torch.Tag.reduction, torch.Tag.inplace_view, torch.Tag.view_copy)

# aten ops that cost nothing, by exact name (an in-place twin ``name_`` too) ...
_FREE_NAMES = frozenset(
    """
    _conj _neg_view _prelu_kernel _reshape_copy abs add affine_grid_generator alias
    alias_copy all any arange argmax argmin argsort as_strided as_strided_copy bernoulli
    bucketize cat channel_shuffle chunk clamp clone col2im conj constant_pad_nd contiguous
    copy count_nonzero cummax cummin cumprod cumsum detach detach_copy diag diag_embed
    diagonal div dropout embedding embedding_bag empty empty_like empty_strided eq expand
    expand_as expand_copy eye fill flatten flip full full_like gather ge glu gt hardswish
    im2col index index_add index_copy index_fill index_put index_select isin isinf isnan
    item le lerp lift lift_fresh linspace log_sigmoid_forward logspace logsumexp lt
    masked_fill masked_scatter masked_select max maximum mean median min minimum movedim mul
    multinomial nan_to_num narrow native_channel_shuffle ne neg nonzero norm normal one_hot
    ones ones_like pad permute permute_copy pow prelu rand rand_like randint randn
    randn_like randperm reciprocal repeat repeat_interleave reshape resize resolve_conj
    resolve_neg roll rot90 round rsub scalar_tensor scatter scatter_add scatter_reduce
    searchsorted select select_copy select_scatter set sign slice slice_copy slice_scatter
    sort split split_copy split_with_sizes sqrt squeeze squeeze_copy stack std sub sum t
    t_copy tensor_split tile topk trace transpose transpose_copy tril triu unbind unflatten
    unfold uniform unique unsafe_chunk unsafe_split unsafe_split_with_sizes unsqueeze
    unsqueeze_copy var view view_copy where zero zeros zeros_like
    """.split()  # noqa: SIM905
)

# The backward's elementwise, copy and scatter ops (training mode), by exact name.
_FREE_BACKWARD_NAMES = frozenset(
    """
    _masked_softmax_backward _prelu_kernel_backward as_strided_scatter diagonal_backward
    elu_backward embedding_backward embedding_dense_backward glu_backward
    hardshrink_backward hardsigmoid_backward hardswish_backward hardtanh_backward
    index_select_backward leaky_relu_backward log_sigmoid_backward mish_backward
    rrelu_with_noise_backward select_backward slice_backward softplus_backward
    softshrink_backward unfold_backward
    """.split()  # noqa: SIM905
)

# ... and by prefix: factories, copies, norms, pooling, softmax, padding, resampling.
_FREE_PREFIXES = (
    "_adaptive_avg_pool",
    "_assert",
    "_embedding_bag",
    "_fused_rms_norm",
    "_index_put_impl",
    "_upsample_",
    "_weight_norm",
    "_local_scalar_dense",
    "_log_softmax",
    "_native_batch_norm_legit",
    "_reshape_alias",
    "_safe_softmax",
    "_softmax",
    "_to_copy",
    "_unique",
    "_unsafe_",
    "adaptive_avg_pool",
    "adaptive_max_pool",
    "avg_pool",
    "batch_norm",
    "binary_cross_entropy",
    "bitwise_",
    "cross_entropy",
    "fractional_max_pool",
    "grid_sampler",
    "group_norm",
    "huber_loss",
    "instance_norm",
    "kl_div",
    "l1_loss",
    "layer_norm",
    "linalg_vector_norm",
    "log_softmax",
    "logical_",
    "max_pool",
    "max_unpool",
    "mse_loss",
    "native_batch_norm",
    "native_dropout",
    "native_group_norm",
    "native_layer_norm",
    "new_",
    "nll_loss",
    "pixel_shuffle",
    "pixel_unshuffle",
    "reflection_pad",
    "replication_pad",
    "smooth_l1_loss",
    "softmax",
    "upsample_",
)


def _overloads(packet: torch._ops.OpOverloadPacket) -> list[torch._ops.OpOverload]:
    return [getattr(packet, name) for name in packet.overloads()]  # type: ignore[no-untyped-call]


def is_free(packet: torch._ops.OpOverloadPacket) -> bool:
    """Whether an op costs nothing under the ``macs`` convention (view, copy, elementwise ...)."""
    overloads = _overloads(packet)
    if any(o.is_view or any(tag in o.tags for tag in _FREE_TAGS) for o in overloads):
        return True
    namespace = packet._qualified_op_name.split("::", 1)[0]
    if namespace in ("prim", "prims"):
        return True
    if namespace != "aten":
        return False
    name = packet.__name__
    return (
        name in _FREE_NAMES
        or name.rstrip("_") in _FREE_NAMES
        or name in _FREE_BACKWARD_NAMES
        or name.startswith(_FREE_PREFIXES)
    )


def classify(packet: torch._ops.OpOverloadPacket) -> OpRule:
    """The op's rule under ``macs``: its formula, ``FREE``, or ``UNCOUNTED`` (cached)."""
    rule = OP_RULES.get(packet)
    if rule is None:
        rule = FREE if is_free(packet) else UNCOUNTED
    CLASSIFIED[packet] = rule
    return rule
