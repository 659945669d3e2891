"""Attention kernels: the fused CPU paths count what the decomposed meta paths count.

On the CPU, `nn.MultiheadAttention`, `nn.TransformerEncoderLayer` and
`F.scaled_dot_product_attention` run fused kernels (`_native_multi_head_attention`,
`_transformer_encoder_layer_fwd`, `_scaled_dot_product_flash_attention_for_cpu`); on meta they
decompose into matmuls. Both must equal the hand count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from flopsight.counting.counter import count_model
from torch import nn
from torch.nn import functional as F
from torch.utils._python_dispatch import TorchDispatchMode

B, T, E, HEADS, FFN = 2, 6, 16, 4, 32


class _OpNames(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        self.names.add(func._overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


def _ops_run(model: nn.Module, x: torch.Tensor) -> set[str]:
    with torch.no_grad(), _OpNames() as seen:
        model(x)
    return seen.names


class _Sdpa(nn.Module):
    def __init__(self, kv_heads: int) -> None:
        super().__init__()
        self.kv_heads = kv_heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = x.view(B, T, HEADS, E // HEADS).transpose(1, 2)
        kv = q[:, : self.kv_heads]
        return F.scaled_dot_product_attention(q, kv, kv, enable_gqa=self.kv_heads != HEADS)


def _mha() -> nn.Module:
    return nn.MultiheadAttention(E, HEADS, batch_first=True)


def _encoder_layer() -> nn.Module:
    return nn.TransformerEncoderLayer(E, HEADS, FFN, dropout=0.0, batch_first=True)


# q @ k^T and att @ v: 2 * B * HEADS * T * T * (E / HEADS).
ATTENTION = 2 * B * T * T * E
PROJECTIONS = 4 * B * T * E * E  # q, k, v in-projections and the out-projection
MLP = 2 * B * T * E * FFN

CASES: list[tuple[str, Callable[[], nn.Module], str, int]] = [
    ("sdpa", lambda: _Sdpa(HEADS), "_scaled_dot_product_flash_attention_for_cpu", ATTENTION),
    ("sdpa gqa", lambda: _Sdpa(2), "_scaled_dot_product_flash_attention_for_cpu", ATTENTION),
    ("mha", _mha, "_native_multi_head_attention", PROJECTIONS + ATTENTION),
    ("encoder", _encoder_layer, "_transformer_encoder_layer_fwd", PROJECTIONS + ATTENTION + MLP),
]


@pytest.mark.parametrize(
    ("label", "build", "fused_op", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_fused_cpu_kernel_and_meta_decomposition_count_the_same(
    label: str, build: Callable[[], nn.Module], fused_op: str, expected: int
) -> None:
    cpu_model = build().eval()
    x = torch.randn(B, T, E)
    if label == "mha":
        cpu_model = _SelfAttention(cpu_model)
    assert fused_op in _ops_run(cpu_model, x)  # the fused kernel is what runs on the CPU
    cpu = count_model(cpu_model, (x,))

    with torch.device("meta"):
        meta_model = build()
    if label == "mha":
        meta_model = _SelfAttention(meta_model)
    meta = count_model(meta_model, (torch.empty(B, T, E, device="meta"),))

    assert cpu.total is not None and meta.total is not None
    assert cpu.total.macs == meta.total.macs == expected
    assert cpu.uncounted_ops == meta.uncounted_ops == []


class _SelfAttention(nn.Module):
    def __init__(self, mha: nn.Module) -> None:
        super().__init__()
        self.mha = mha

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.mha(x, x, x, need_weights=False)[0]
        return out
