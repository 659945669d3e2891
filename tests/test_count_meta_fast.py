"""The meta fast paths give exactly what torch's own meta kernels give (shape, dtype, strides).

Each case runs once through flopsight's shortcut and once through the real op on meta.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from flopsight.counting.meta_fast import FAST_META

aten = torch.ops.aten


def meta(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.empty(shape, dtype=dtype, device="meta")


def channels_last(*shape: int) -> torch.Tensor:
    return meta(*shape).to(memory_format=torch.channels_last)


def _tensors(out: Any) -> list[torch.Tensor]:
    return list(out) if isinstance(out, tuple) else [out]


Case = tuple[str, Any, Callable[[], tuple[Any, ...]], dict[str, Any]]

CASES: list[Case] = [
    (
        "bn eval",
        aten.native_batch_norm.default,
        lambda: (meta(2, 8, 5, 5), meta(8), meta(8), meta(8), meta(8), False, 0.1, 1e-5),
        {},
    ),
    (
        "bn train no affine",
        aten.native_batch_norm.default,
        lambda: (meta(2, 8, 5, 5), None, None, None, None, True, 0.1, 1e-5),
        {},
    ),
    (
        "bn channels_last",
        aten.native_batch_norm.default,
        lambda: (channels_last(2, 8, 5, 5), meta(8), meta(8), meta(8), meta(8), False, 0.1, 1e-5),
        {},
    ),
    (
        "bn half",
        aten.native_batch_norm.default,
        lambda: (
            meta(2, 8, 5, 5, dtype=torch.float16),
            None,
            None,
            meta(8),
            meta(8),
            False,
            0.1,
            1e-5,
        ),
        {},
    ),
    (
        "bn 1d",
        aten.native_batch_norm.default,
        lambda: (meta(4, 8), meta(8), meta(8), meta(8), meta(8), False, 0.1, 1e-5),
        {},
    ),
    (
        "ln",
        aten.native_layer_norm.default,
        lambda: (meta(2, 7, 16), [16], meta(16), meta(16), 1e-5),
        {},
    ),
    (
        "ln two dims",
        aten.native_layer_norm.default,
        lambda: (meta(2, 7, 16), [7, 16], None, None, 1e-5),
        {},
    ),
    (
        "ln bf16",
        aten.native_layer_norm.default,
        lambda: (meta(3, 16, dtype=torch.bfloat16), [16], None, None, 1e-5),
        {},
    ),
    (
        "ln transposed input",
        aten.native_layer_norm.default,
        lambda: (meta(2, 7, 16).transpose(0, 1), [16], None, None, 1e-5),
        {},
    ),
    ("gelu tanh", aten.gelu.default, lambda: (meta(2, 7, 16),), {"approximate": "tanh"}),
    ("relu channels_last", aten.relu.default, lambda: (channels_last(2, 8, 5, 5),), {}),
    ("silu_", aten.silu_.default, lambda: (meta(2, 8, 5, 5),), {}),
    ("hardswish_", aten.hardswish_.default, lambda: (channels_last(2, 8, 5, 5),), {}),
    ("hardtanh", aten.hardtanh.default, lambda: (meta(4, 4), 0.0, 6.0), {}),
    ("sigmoid transposed", aten.sigmoid.default, lambda: (meta(4, 6).t(),), {}),
    ("softmax", aten._softmax.default, lambda: (meta(2, 4, 9, 9), -1, False), {}),
    ("safe softmax", aten._safe_softmax.default, lambda: (meta(2, 4, 9, 9), 1), {}),
    (
        "log softmax half",
        aten._log_softmax.default,
        lambda: (meta(3, 5, dtype=torch.float16), -1, False),
        {},
    ),
    ("softmax transposed", aten._softmax.default, lambda: (meta(4, 6).t(), -1, False), {}),
    ("addmm", aten.addmm.default, lambda: (meta(10), meta(3, 4), meta(4, 10)), {}),
    (
        "addmm full bias",
        aten.addmm.default,
        lambda: (meta(3, 10), meta(3, 4), meta(4, 10)),
        {"beta": 0.5},
    ),
    ("addmm row bias", aten.addmm.default, lambda: (meta(1, 10), meta(3, 4), meta(4, 10)), {}),
    (
        "addmm transposed weight",
        aten.addmm.default,
        lambda: (meta(10), meta(3, 4), meta(10, 4).t()),
        {},
    ),
    ("cat dim 1", aten.cat.default, lambda: ([meta(1, 3, 4, 4), meta(1, 5, 4, 4)], 1), {}),
    ("cat dim -1", aten.cat.default, lambda: ([meta(2, 3), meta(2, 1), meta(2, 2)], -1), {}),
    ("cat default dim", aten.cat.default, lambda: ([meta(2, 3), meta(4, 3)],), {}),
    (
        "cat channels_last",
        aten.cat.default,
        lambda: ([channels_last(1, 3, 4, 4), channels_last(1, 5, 4, 4)], 1),
        {},
    ),
    ("add same shape", aten.add.Tensor, lambda: (meta(2, 8, 5, 5), meta(2, 8, 5, 5)), {}),
    ("add alpha", aten.add.Tensor, lambda: (meta(2, 8), meta(2, 8)), {"alpha": 2}),
    ("mul squeeze-excite", aten.mul.Tensor, lambda: (meta(2, 8, 5, 5), meta(2, 8, 1, 1)), {}),
    ("mul broadcast left", aten.mul.Tensor, lambda: (meta(1, 1, 5, 5), meta(2, 8, 5, 5)), {}),
    ("sub bias", aten.sub.Tensor, lambda: (meta(2, 7, 16), meta(16)), {}),
    ("div both broadcast", aten.div.Tensor, lambda: (meta(2, 1, 16), meta(1, 7, 1)), {}),
    (
        "div rounding",
        aten.div.Tensor_mode,
        lambda: (meta(2, 7), meta(2, 7)),
        {"rounding_mode": "floor"},
    ),
    (
        "add half",
        aten.add.Tensor,
        lambda: (meta(3, 3, dtype=torch.float16), meta(3, 3, dtype=torch.float16)),
        {},
    ),
    (
        "add mixed dtypes",
        aten.add.Tensor,
        lambda: (meta(3, 3, dtype=torch.float16), meta(3, 3)),
        {},
    ),
    (
        "add channels_last",
        aten.add.Tensor,
        lambda: (channels_last(2, 8, 5, 5), channels_last(2, 8, 5, 5)),
        {},
    ),
    ("add_", aten.add_.Tensor, lambda: (meta(2, 8, 5, 5), meta(2, 8, 5, 5)), {}),
    ("mul_ broadcast", aten.mul_.Tensor, lambda: (meta(2, 8, 5, 5), meta(8, 1, 1)), {}),
    ("add number", aten.add.Tensor, lambda: (meta(2, 7, 1), 1e-5), {}),
    (
        "add wrapped number",
        aten.add.Tensor,
        lambda: (meta(2, 7, 1), torch.tensor(1e-5, dtype=torch.float64)),
        {},
    ),
    (
        "add 0-dim half",
        aten.add.Tensor,
        lambda: (meta(2, 7, dtype=torch.float16), torch.tensor(2.0)),
        {},
    ),
    ("add int tensor and float", aten.add.Tensor, lambda: (meta(2, 7, dtype=torch.int64), 0.5), {}),
    ("mul scalar", aten.mul.Scalar, lambda: (meta(2, 7), 0.125), {}),
    ("mul_ scalar channels_last", aten.mul_.Scalar, lambda: (channels_last(2, 8, 5, 5), 2), {}),
    ("pow", aten.pow.Tensor_Scalar, lambda: (meta(2, 7, 16), 2), {}),
    ("pow half", aten.pow.Tensor_Scalar, lambda: (meta(2, 7, dtype=torch.float16), 0.5), {}),
    ("neg transposed", aten.neg.default, lambda: (meta(4, 6).t(),), {}),
    ("rsqrt", aten.rsqrt.default, lambda: (meta(2, 7, 1),), {}),
    ("clamp", aten.clamp.default, lambda: (meta(3, 3), 0.0, None), {}),
    ("tril bool", aten.tril.default, lambda: (meta(16, 16, dtype=torch.bool),), {}),
    ("triu offset", aten.triu.default, lambda: (meta(2, 16, 16), 1), {}),
    ("neg size-1 dims", aten.neg.default, lambda: (meta(4, 1, 6, 1).permute(3, 2, 1, 0),), {}),
    (
        "mul scalar transposed heads",
        aten.mul.Scalar,
        lambda: (meta(1, 16, 8, 4).transpose(1, 2), 0.5),
        {},
    ),
    ("gelu permuted", aten.gelu.default, lambda: (meta(2, 3, 4).permute(2, 0, 1),), {}),
    ("neg chunk (not dense)", aten.neg.default, lambda: (meta(2, 8)[:, 4:],), {}),
    ("relu_ chunk", aten.relu_.default, lambda: (meta(2, 8)[:, 4:],), {}),
    ("mm", aten.mm.default, lambda: (meta(3, 4), meta(4, 5)), {}),
    ("mm transposed", aten.mm.default, lambda: (meta(4, 3).t(), meta(5, 4).t()), {}),
    ("bmm", aten.bmm.default, lambda: (meta(2, 3, 4), meta(2, 4, 5)), {}),
    (
        "bmm transposed",
        aten.bmm.default,
        lambda: (meta(2, 4, 3).transpose(1, 2), meta(2, 4, 5)),
        {},
    ),
    ("mean keepdim", aten.mean.dim, lambda: (meta(2, 7, 16), [-1], True), {}),
    ("mean spatial", aten.mean.dim, lambda: (meta(2, 8, 5, 5), [2, 3]), {}),
    ("mean all dims", aten.mean.dim, lambda: (meta(2, 8, 5), []), {}),
    ("mean default", aten.mean.default, lambda: (meta(2, 8, 5),), {}),
    ("mean half", aten.mean.dim, lambda: (meta(2, 8, dtype=torch.float16), [1], True), {}),
    # The backward's (training mode).
    (
        "bn backward",
        aten.native_batch_norm_backward.default,
        lambda: (
            meta(2, 8, 5, 5),
            meta(2, 8, 5, 5),
            meta(8),
            meta(8),
            meta(8),
            meta(8),
            meta(8),
            True,
            1e-5,
            [True, True, True],
        ),
        {},
    ),
    (
        "bn backward channels_last",
        aten.native_batch_norm_backward.default,
        lambda: (
            channels_last(2, 8, 5, 5),
            channels_last(2, 8, 5, 5),
            meta(8),
            None,
            None,
            meta(8),
            meta(8),
            True,
            1e-5,
            [True, True, False],
        ),
        {},
    ),
    (
        "bn backward half",
        aten.native_batch_norm_backward.default,
        lambda: (
            meta(2, 8, 5, 5, dtype=torch.float16),
            meta(2, 8, 5, 5, dtype=torch.float16),
            meta(8),
            meta(8),
            meta(8),
            meta(8),
            meta(8),
            True,
            1e-5,
            [True, True, True],
        ),
        {},
    ),
    (
        "bn backward input only",
        aten.native_batch_norm_backward.default,
        lambda: (
            meta(2, 8, 5, 5),
            meta(2, 8, 5, 5),
            None,
            None,
            None,
            meta(8),
            meta(8),
            True,
            1e-5,
            [True, False, False],
        ),
        {},
    ),
    (
        "bn backward no input grad",
        aten.native_batch_norm_backward.default,
        lambda: (
            meta(2, 8, 5, 5),
            meta(2, 8, 5, 5),
            meta(8),
            meta(8),
            meta(8),
            meta(8),
            meta(8),
            True,
            1e-5,
            [False, True, True],
        ),
        {},
    ),
    (
        "ln backward",
        aten.native_layer_norm_backward.default,
        lambda: (
            meta(2, 7, 16),
            meta(2, 7, 16),
            [16],
            meta(2, 7, 1),
            meta(2, 7, 1),
            meta(16),
            meta(16),
            [True, True, True],
        ),
        {},
    ),
    (
        "ln backward no affine",
        aten.native_layer_norm_backward.default,
        lambda: (
            meta(2, 7, 16),
            meta(2, 7, 16),
            [16],
            meta(2, 7, 1),
            meta(2, 7, 1),
            None,
            None,
            [True, False, False],
        ),
        {},
    ),
    (
        "relu backward",
        aten.threshold_backward.default,
        lambda: (meta(2, 8, 5, 5), meta(2, 8, 5, 5), 0),
        {},
    ),
    (
        "relu backward channels_last",
        aten.threshold_backward.default,
        lambda: (channels_last(2, 8, 5, 5), channels_last(2, 8, 5, 5), 0),
        {},
    ),
    (
        "gelu backward",
        aten.gelu_backward.default,
        lambda: (meta(2, 7, 16), meta(2, 7, 16)),
        {"approximate": "none"},
    ),
    ("silu backward", aten.silu_backward.default, lambda: (meta(2, 7, 16), meta(2, 7, 16)), {}),
    (
        "softmax backward",
        aten._softmax_backward_data.default,
        lambda: (meta(2, 4, 7, 7), meta(2, 4, 7, 7), -1, torch.float32),
        {},
    ),
    (
        "conv backward",
        aten.convolution_backward.default,
        lambda: (
            meta(2, 16, 5, 5),
            meta(2, 8, 7, 7),
            meta(16, 8, 3, 3),
            [16],
            [1, 1],
            [0, 0],
            [1, 1],
            False,
            [0, 0],
            1,
            [True, True, True],
        ),
        {},
    ),
    (
        "conv backward weight only",
        aten.convolution_backward.default,
        lambda: (
            meta(2, 16, 5, 5),
            meta(2, 8, 7, 7),
            meta(16, 8, 3, 3),
            None,
            [1, 1],
            [0, 0],
            [1, 1],
            False,
            [0, 0],
            1,
            [False, True, False],
        ),
        {},
    ),
    (
        "conv backward depthwise strided",
        aten.convolution_backward.default,
        lambda: (
            meta(1, 8, 3, 3),
            meta(1, 8, 7, 7),
            meta(8, 1, 3, 3),
            [8],
            [2, 2],
            [0, 0],
            [1, 1],
            False,
            [0, 0],
            8,
            [True, True, True],
        ),
        {},
    ),
]


@pytest.mark.parametrize(("label", "op", "make_args", "kwargs"), CASES, ids=[c[0] for c in CASES])
def test_fast_path_matches_the_meta_kernel(
    label: str, op: Any, make_args: Callable[[], tuple[Any, ...]], kwargs: dict[str, Any]
) -> None:
    fast = FAST_META[op._overloadpacket]
    args = make_args()
    shortcut = fast(args, kwargs)
    if shortcut is None:
        return  # declined: the real op runs, nothing to compare
    real_args = make_args()
    real = op(*real_args, **kwargs)
    got, expected = _tensors(shortcut), _tensors(real)
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        if g is None or e is None:  # a gradient the output mask did not ask for
            assert g is None and e is None
            continue
        assert (g.shape, g.dtype, g.stride(), g.device) == (e.shape, e.dtype, e.stride(), e.device)
    if real is real_args[0]:  # in-place: the shortcut returns its input too
        assert shortcut is args[0]


def test_the_common_cases_take_the_shortcut() -> None:
    # The point of the module: batch norm, layer norm and friends on plain inputs never
    # reach their slow meta decompositions.
    taken = {
        label
        for label, op, make_args, kwargs in CASES
        if FAST_META[op._overloadpacket](make_args(), kwargs) is not None
    }
    assert {
        "bn eval",
        "bn channels_last",
        "ln",
        "gelu tanh",
        "softmax",
        "addmm",
        "cat dim 1",
        "mul squeeze-excite",
        "add_",
        "add wrapped number",
        "pow",
        "tril bool",
        "mm",
        "bmm",
        "mean keepdim",
        "mul scalar transposed heads",
        "relu_ chunk",
        "bn backward",
        "bn backward channels_last",
        "ln backward",
        "relu backward",
        "gelu backward",
        "softmax backward",
        "conv backward",
    } <= taken


def test_cpu_tensors_never_take_the_shortcut() -> None:
    x = torch.randn(2, 8, 5, 5)
    w = torch.ones(8)
    assert FAST_META[aten.native_batch_norm]((x, w, w, w, w, False, 0.1, 1e-5), {}) is None
    assert FAST_META[aten.relu]((x,), {}) is None
    assert FAST_META[aten.add]((x, x), {}) is None
