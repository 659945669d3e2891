"""Cheap meta-device outputs for the ops whose meta kernels are slow Python decompositions.

On meta, ``native_batch_norm`` costs about 2 ms a call, ``native_layer_norm`` 3 ms, ``gelu`` and
softmax 1-3 ms: more than everything else in counting a ResNet or a ViT. Only shapes matter
there, so for plain (contiguous) inputs the output is allocated directly, with the shape,
dtype and strides torch's own meta kernel gives (tests/test_count_meta_fast.py checks that).
Anything unusual returns None and the op runs as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

aten = torch.ops.aten

# (positional args, keyword args) -> the op's output, or None to run the op itself.
FastMeta = Callable[[tuple[Any, ...], dict[str, Any]], Any]

FAST_META: dict[Any, FastMeta] = {}

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def register(packets: Sequence[Any]) -> Callable[[FastMeta], FastMeta]:
    """Register a fast meta output for op packets; a packet that already has one is refused."""

    def add(fast: FastMeta) -> FastMeta:
        taken = [str(p) for p in packets if p in FAST_META]
        if taken:
            raise ValueError(f"a fast meta output is already registered for {', '.join(taken)}")
        for packet in packets:
            FAST_META[packet] = fast
        return fast

    return add


def _meta_tensor(t: Any) -> bool:
    return isinstance(t, torch.Tensor) and t.is_meta


def _plain(t: Any) -> bool:
    """A dense meta tensor laid out contiguously (row-major)."""
    return isinstance(t, torch.Tensor) and t.is_meta and t.is_contiguous()


def _plain_or_channels_last(t: Any) -> bool:
    return (
        isinstance(t, torch.Tensor)
        and t.is_meta
        and (
            t.is_contiguous()
            or (t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last))
        )
    )


def _broadcast(*shapes: Sequence[int]) -> torch.Size:
    return torch.broadcast_shapes(*shapes)  # type: ignore[no-untyped-call,no-any-return]


def _dense(t: Any) -> bool:
    """A meta tensor whose elements fill its storage in some order of dims (no gaps, no
    overlap): elementwise kernels give such an input's strides to their output, as
    ``empty_like`` does."""
    if not isinstance(t, torch.Tensor) or not t.is_meta or t.numel() == 0:
        return False
    expected = 1
    for stride, size in sorted(
        (st, sz) for st, sz in zip(t.stride(), t.shape, strict=True) if sz != 1
    ):
        if stride != expected:
            return False
        expected *= size
    return True


def _stats_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in _LOW_PRECISION else dtype


@register([aten.native_batch_norm])
def _batch_norm(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    x = args[0]
    if kwargs or not _plain_or_channels_last(x) or not x.dtype.is_floating_point or x.dim() < 2:
        return None
    if any(isinstance(a, torch.Tensor) and not a.is_meta for a in args[1:5]):
        return None
    stats = torch.empty((x.shape[1],), dtype=_stats_dtype(x.dtype), device="meta")
    return torch.empty_like(x), stats, torch.empty_like(stats)


@register([aten.native_layer_norm])
def _layer_norm(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    x, normalized_shape = args[0], args[1]
    if kwargs or not _plain(x) or not x.dtype.is_floating_point:
        return None
    if any(isinstance(a, torch.Tensor) and not a.is_meta for a in args[2:4]):
        return None
    k = len(normalized_shape)
    stats_shape = (*x.shape[: x.dim() - k], *([1] * k))
    stats = torch.empty(stats_shape, dtype=_stats_dtype(x.dtype), device="meta")
    return torch.empty(x.shape, dtype=x.dtype, device="meta"), stats, torch.empty_like(stats)


_UNARY = [
    aten.gelu,
    aten.relu,
    aten.silu,
    aten.sigmoid,
    aten.tanh,
    aten.hardswish,
    aten.hardsigmoid,
    aten.hardtanh,
    aten.elu,
    aten.leaky_relu,
    aten.mish,
]
_UNARY_INPLACE = [
    aten.gelu_,
    aten.relu_,
    aten.silu_,
    aten.sigmoid_,
    aten.tanh_,
    aten.hardswish_,
    aten.hardsigmoid_,
    aten.hardtanh_,
    aten.elu_,
    aten.leaky_relu_,
    aten.mish_,
]


@register(_UNARY)
def _unary(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    x = args[0]
    if not _dense(x) or not x.dtype.is_floating_point:
        return None
    if any(isinstance(a, torch.Tensor) for a in args[1:]):
        return None
    return torch.empty_like(x)


@register(_UNARY_INPLACE)
def _unary_inplace(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    x = args[0]
    if not _meta_tensor(x) or not x.dtype.is_floating_point:
        return None
    if any(isinstance(a, torch.Tensor) for a in args[1:]):
        return None
    return x


@register([aten._softmax, aten._safe_softmax, aten._log_softmax])
def _softmax(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    x = args[0]
    if not _plain(x) or not x.dtype.is_floating_point:
        return None
    half_to_float = bool(args[2]) if len(args) > 2 else False
    if half_to_float or kwargs.get("dtype") is not None:
        return None
    return torch.empty(x.shape, dtype=x.dtype, device="meta")


@register([aten.addmm])
def _addmm(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    bias, a, b = args[:3]
    if not all(isinstance(t, torch.Tensor) and t.is_meta for t in (bias, a, b)):
        return None
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[0]:
        return None
    if not (bias.dtype == a.dtype == b.dtype):
        return None
    try:
        shape = _broadcast(bias.shape, (a.shape[0], b.shape[1]))
    except RuntimeError:
        return None
    if shape != (a.shape[0], b.shape[1]):
        return None
    return torch.empty(shape, dtype=a.dtype, device="meta")


@register([aten.cat])
def _cat(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    tensors = args[0]
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    if not tensors or not all(_plain(t) for t in tensors):
        return None
    first = tensors[0]
    if first.dim() == 0 or any(t.dim() != first.dim() or t.dtype != first.dtype for t in tensors):
        return None
    dim = dim % first.dim()
    rest = [s for i, s in enumerate(first.shape) if i != dim]
    for t in tensors[1:]:
        if [s for i, s in enumerate(t.shape) if i != dim] != rest:
            return None
    shape = list(first.shape)
    shape[dim] = sum(int(t.shape[dim]) for t in tensors)
    return torch.empty(shape, dtype=first.dtype, device="meta")


def _binary_shape(args: tuple[Any, ...]) -> torch.Size | None:
    """The output shape when both operands are plain same-dtype meta tensors, else None."""
    a, b = args[0], args[1]
    if not (_plain(a) and _plain(b)) or a.dtype != b.dtype or not a.dtype.is_floating_point:
        return None
    if any(isinstance(x, torch.Tensor) for x in args[2:]):
        return None
    try:
        shape = _broadcast(a.shape, b.shape)
    except RuntimeError:
        return None
    # The output follows the operand that already has its shape (row-major) when one does.
    if shape != a.shape and shape != b.shape:
        return None
    return shape


def _is_number(value: Any) -> bool:
    return isinstance(value, (bool, int, float))


def _with_scalar(args: tuple[Any, ...]) -> bool:
    """A plain float tensor with a number, or a 0-dim real tensor (which promotes like one)."""
    a, b = args[0], args[1]
    if not _dense(a) or not a.dtype.is_floating_point:
        return False
    if any(isinstance(x, torch.Tensor) for x in args[2:]):
        return False
    if isinstance(b, torch.Tensor):
        return b.dim() == 0 and not b.dtype.is_complex
    return _is_number(b)


@register([aten.add, aten.sub, aten.mul, aten.div])
def _binary(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if len(args) < 2 or kwargs.get("rounding_mode") is not None:
        return None
    if _with_scalar(args):
        return torch.empty_like(args[0])
    shape = _binary_shape(args)
    if shape is None:
        return None
    return torch.empty(shape, dtype=args[0].dtype, device="meta")


@register([aten.add_, aten.sub_, aten.mul_, aten.div_])
def _binary_inplace(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if len(args) < 2 or kwargs.get("rounding_mode") is not None:
        return None
    if _with_scalar(args):
        return args[0]
    shape = _binary_shape(args)
    if shape is None or shape != args[0].shape:
        return None
    return args[0]


@register(
    [
        aten.neg,
        aten.rsqrt,
        aten.sqrt,
        aten.exp,
        aten.log,
        aten.reciprocal,
        aten.abs,
        aten.sin,
        aten.cos,
        aten.erf,
        aten.pow,
        aten.clamp,
    ]
)
def _elementwise_with_numbers(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # One float tensor and only numbers besides (pow.Tensor_Scalar, clamp(min, max), tril(k)).
    x = args[0]
    if not _dense(x) or not x.dtype.is_floating_point:
        return None
    if not all(a is None or _is_number(a) for a in (*args[1:], *kwargs.values())):
        return None
    return torch.empty_like(x)


@register([aten.tril, aten.triu])
def _triangle(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    x = args[0]
    if not _plain(x) or x.dim() < 2 or not all(_is_number(a) for a in args[1:]) or kwargs:
        return None
    return torch.empty_like(x)


@register([aten.mm])
def _mm(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    a, b = args[:2]
    if not (_meta_tensor(a) and _meta_tensor(b)) or a.dim() != 2 or b.dim() != 2:
        return None
    if a.shape[1] != b.shape[0] or a.dtype != b.dtype or kwargs:
        return None
    return torch.empty((a.shape[0], b.shape[1]), dtype=a.dtype, device="meta")


@register([aten.bmm])
def _bmm(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    a, b = args[:2]
    if not (_meta_tensor(a) and _meta_tensor(b)) or a.dim() != 3 or b.dim() != 3:
        return None
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1] or a.dtype != b.dtype or kwargs:
        return None
    return torch.empty((a.shape[0], a.shape[1], b.shape[2]), dtype=a.dtype, device="meta")


@register([aten.mean])
def _mean(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # mean.dim(x, dim, keepdim=False, *, dtype=None); mean.default(x) reduces everything.
    x = args[0]
    if not _plain(x) or not x.dtype.is_floating_point or kwargs.get("dtype") is not None:
        return None
    dims = args[1] if len(args) > 1 else None
    keepdim = bool(args[2]) if len(args) > 2 else bool(kwargs.get("keepdim", False))
    if dims is None or len(dims) == 0:
        reduced = set(range(x.dim()))
    else:
        if x.dim() == 0 or not all(isinstance(d, int) and -x.dim() <= d < x.dim() for d in dims):
            return None
        reduced = {d % x.dim() for d in dims}
    if keepdim:
        shape = [1 if i in reduced else s for i, s in enumerate(x.shape)]
    else:
        shape = [s for i, s in enumerate(x.shape) if i not in reduced]
    return torch.empty(shape, dtype=x.dtype, device="meta")


# --- the backward's (training mode) -------------------------------------------------------


def _mask(args: tuple[Any, ...], at: int) -> list[bool] | None:
    mask = args[at] if len(args) > at else None
    if not isinstance(mask, (list, tuple)) or len(mask) != 3:
        return None
    return [bool(m) for m in mask]


def _like_or_none(wanted: bool, t: Any) -> Any:
    return torch.empty_like(t) if wanted else None


@register([aten.native_batch_norm_backward])
def _batch_norm_backward(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # (grad_out, input, weight, running_mean, running_var, save_mean, save_invstd, train,
    # eps, output_mask): grad_input laid out as the input, the weight's and bias's as weight.
    grad, x, weight = args[:3]
    mask = _mask(args, 9)
    if kwargs or mask is None or not _plain_or_channels_last(x) or x.dim() < 2:
        return None
    if not _meta_tensor(grad) or grad.shape != x.shape or grad.stride() != x.stride():
        return None
    if not all(a is None or _meta_tensor(a) for a in args[2:7]):
        return None
    if (mask[1] or mask[2]) and (weight is None or weight.shape != (x.shape[1],)):
        return None
    # The kernel makes grad_input whatever the mask says.
    return (
        torch.empty_like(x),
        _like_or_none(mask[1], weight),
        _like_or_none(mask[2], weight),
    )


@register([aten.native_layer_norm_backward])
def _layer_norm_backward(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # (grad_out, input, normalized_shape, mean, rstd, weight, bias, output_mask)
    grad, x, _, mean, rstd, weight, bias = args[:7]
    mask = _mask(args, 7)
    if kwargs or mask is None or not (_plain(x) and _plain(grad)) or grad.shape != x.shape:
        return None
    if not (_meta_tensor(mean) and _meta_tensor(rstd)):
        return None
    if (mask[1] and not _plain(weight)) or (mask[2] and not _plain(bias)):
        return None
    return _like_or_none(mask[0], x), _like_or_none(mask[1], weight), _like_or_none(mask[2], bias)


@register([aten.threshold_backward, aten.gelu_backward, aten.silu_backward])
def _activation_backward(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # (grad_output, self, ...numbers or strings): elementwise over two equally laid out tensors.
    grad, x = args[:2]
    if not (_dense(grad) and _meta_tensor(x)) or not grad.dtype.is_floating_point:
        return None
    if (grad.shape, grad.stride(), grad.dtype) != (x.shape, x.stride(), x.dtype):
        return None
    if any(isinstance(a, torch.Tensor) for a in (*args[2:], *kwargs.values())):
        return None
    return torch.empty_like(grad)


@register([aten._softmax_backward_data])
def _softmax_backward(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # (grad_output, output, dim, input_dtype)
    grad, out = args[:2]
    dtype = args[3] if len(args) > 3 else kwargs.get("input_dtype")
    if not (_plain(grad) and _plain(out)) or grad.shape != out.shape:
        return None
    if grad.dtype != out.dtype or dtype != grad.dtype:
        return None
    return torch.empty(grad.shape, dtype=grad.dtype, device="meta")


@register([aten.convolution_backward])
def _convolution_backward(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # (grad_output, input, weight, bias_sizes, stride, padding, dilation, transposed,
    # output_padding, groups, output_mask); row-major tensors only (channels_last gives
    # channels_last weight gradients).
    grad, x, weight, bias_sizes = args[:4]
    mask = _mask(args, 10)
    if kwargs or mask is None or not all(_plain(t) for t in (grad, x, weight)):
        return None
    if not (grad.dtype == x.dtype == weight.dtype):
        return None
    bias = None
    if mask[2]:
        if not isinstance(bias_sizes, (list, tuple)) or len(bias_sizes) != 1:
            return None
        bias = torch.empty(tuple(int(s) for s in bias_sizes), dtype=grad.dtype, device="meta")
    return _like_or_none(mask[0], x), _like_or_none(mask[1], weight), bias
