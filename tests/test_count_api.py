"""The Python API: ``flopsight.count(model, *example_inputs, convention=...)``."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import flopsight
import torch
from flopsight.counting import formulas
from torch import nn


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, kernel_size=3, padding=1)
        self.fc = nn.Linear(8 * 16 * 16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def test_count_a_small_model_by_hand() -> None:
    report = flopsight.count(TinyNet(), torch.randn(2, 3, 16, 16))

    # conv: every output element (2 * 8 * 16 * 16) is a 3 * 3 * 3 dot product.
    conv = 2 * 8 * 16 * 16 * (3 * 3 * 3)
    # fc: 2 rows times a 2048 x 10 weight.
    fc = 2 * (8 * 16 * 16) * 10
    assert report.total is not None
    assert report.total.macs == conv + fc == 151_552
    assert report.total.flops == 2 * (conv + fc)
    assert report.total.params == (8 * 3 * 3 * 3 + 8) + (2048 * 10 + 10)
    assert report.total.param_bytes == 4 * report.total.params
    assert report.device == "cpu"
    assert report.name == "TinyNet"
    assert [(i.name, i.shape, i.dtype) for i in report.inputs] == [("x", [2, 3, 16, 16], "float32")]

    layers = {layer.path: layer for layer in report.layers}
    assert [layer.path for layer in report.layers] == ["", "conv", "fc"]
    assert layers["conv"].macs == conv and layers["conv"].ops == {"conv": conv}
    assert layers["fc"].macs == fc and layers["fc"].ops == {"matmul": fc}
    assert layers[""].macs == conv + fc  # the root carries its subtree
    assert layers["conv"].output_shape == [2, 8, 16, 16]
    assert layers["fc"].calls == 1 and layers["fc"].depth == 1
    # Leaf outputs: conv (2*8*16*16 floats) and fc (2*10 floats).
    assert report.total.activation_bytes == 4 * (2 * 8 * 16 * 16 + 2 * 10)
    assert report.uncounted_ops == []


def test_ptflops_convention_through_the_api() -> None:
    report = flopsight.count(TinyNet(), torch.randn(1, 3, 16, 16), convention="ptflops")
    # ptflops: conv with bias per output element; Linear with bias; functional relu is free.
    conv = 8 * 16 * 16 * (3 * 3 * 3) + 8 * 16 * 16
    fc = 2048 * 10 + 10
    assert report.total is not None
    assert report.total.macs == conv + fc


def test_count_works_on_meta_and_restores_training_mode() -> None:
    with torch.device("meta"):
        model = TinyNet()
    model.train()
    report = flopsight.count(model, torch.empty(1, 3, 16, 16, device="meta"))
    assert report.device == "meta"
    assert model.training and model.conv.training


class Tied(nn.Module):
    """An encoder and a decoder sharing one embedding matrix, plus a frozen projection."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.decoder = nn.Linear(16, 50, bias=False)
        self.decoder.weight = self.embed.weight  # shared: counted once
        self.frozen = nn.Linear(16, 16)
        self.frozen.requires_grad_(False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.frozen(self.embed(ids)))


def test_shared_parameters_count_once_and_frozen_ones_are_told_apart() -> None:
    report = flopsight.count(Tied(), torch.zeros(1, 4, dtype=torch.long))
    assert report.total is not None
    shared = 50 * 16
    frozen = 16 * 16 + 16
    assert report.total.params == shared + frozen
    assert report.total.trainable_params == shared
    # frozen: 4 tokens x 16 x 16; decoder: 4 tokens x 16 x 50; the lookup is free.
    assert report.total.macs == 4 * 16 * 16 + 4 * 16 * 50


def test_the_module_is_callable_and_keyword_inputs_reach_forward() -> None:
    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x: torch.Tensor, *, scale: float = 1.0) -> torch.Tensor:
            return self.fc(x) * scale

    report = flopsight.count(Scaled(), torch.randn(5, 4), scale=2.0)
    assert report.total is not None and report.total.macs == 5 * 4 * 3


@torch.library.custom_op("flopsight_test::mystery", mutates_args=())
def mystery(x: torch.Tensor) -> torch.Tensor:
    return x.clone()


@mystery.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


def test_ops_without_a_formula_are_listed_never_dropped() -> None:
    class Custom(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return mystery(mystery(self.fc(x)))

    for device in ("cpu", "meta"):
        model = Custom().to(device)
        report = flopsight.count(model, torch.randn(1, 4, device=device))
        assert [(u.op, u.count) for u in report.uncounted_ops] == [("flopsight_test::mystery", 2)]
        assert report.total is not None and report.total.macs == 4 * 4


def test_ptflops_convention_lists_weighted_modules_it_has_no_formula_for() -> None:
    class Scale(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.ones(4))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.weight

    model = nn.Sequential(nn.Embedding(10, 4), Scale(), nn.Linear(4, 2))
    report = flopsight.count(model, torch.zeros(1, 3, dtype=torch.long), convention="ptflops")
    assert [(u.op, u.count) for u in report.uncounted_ops] == [
        ("module:Embedding", 1),
        ("module:Scale", 1),
    ]
    assert report.total is not None and report.total.macs == 3 * (4 * 2 + 2)


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def test_importing_flopsight_does_not_import_torch() -> None:
    result = _python("import sys, flopsight; print('torch' in sys.modules)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
    # ... while the first call of the API does (the counting engine is imported then).
    result = _python(
        "import sys, flopsight, torch.nn as nn; m = sys.modules.copy();"
        "flopsight.count(nn.Linear(2, 2), __import__('torch').zeros(1, 2));"
        "print('flopsight.counting' in m, 'flopsight.counting' in sys.modules)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False True"


def test_attention_is_its_own_family_also_inside_multihead_attention() -> None:
    with torch.device("meta"):
        mha = nn.MultiheadAttention(16, 4, batch_first=True)
    x = torch.empty(1, 5, 16, device="meta")
    report = flopsight.count(mha, x, x, x, need_weights=False)

    # q @ k^T and att @ v over 4 heads of dim 4: 2 * (5 * 5 * 16).
    attention = 2 * 5 * 5 * 16
    # The q/k/v in-projections and the out-projection: 4 * (5 x 16 @ 16 x 16).
    projections = 4 * 5 * 16 * 16
    assert report.ops == {"matmul": projections, "attention": attention}
    assert (
        torch.nn.functional.scaled_dot_product_attention
        is torch._C._nn.scaled_dot_product_attention
    )


@torch.library.custom_op("flopsight_test::outer_sum", mutates_args=())
def outer_sum(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a[:, None] * b[None, :]).sum(0)


@outer_sum.register_fake
def _(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return b.new_empty(b.shape)


@torch.library.custom_op("flopsight_test::fragile", mutates_args=())
def fragile(x: torch.Tensor) -> torch.Tensor:
    return x.clone()


@fragile.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


@formulas.register(torch.ops.flopsight_test.outer_sum, "matmul")
def _outer_sum_macs(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    return int(args[0].numel()) * int(args[1].numel())


@formulas.register(torch.ops.flopsight_test.fragile, "matmul")
def _fragile_macs(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    raise ValueError("this formula cannot read its arguments")


def test_a_registered_formula_counts_a_custom_op_and_a_failing_one_is_listed() -> None:
    class Custom(nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return fragile(outer_sum(a, b))

    report = flopsight.count(Custom(), torch.randn(3), torch.randn(5))
    assert report.total is not None and report.total.macs == 3 * 5
    assert report.ops == {"matmul": 15}
    assert [(u.op, u.count) for u in report.uncounted_ops] == [("flopsight_test::fragile", 1)]
