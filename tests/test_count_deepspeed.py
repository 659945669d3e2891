"""The `deepspeed` convention equals DeepSpeed's flops profiler, run inside the test.

Totals from ``get_model_profile`` (MACs and FLOPs, which DeepSpeed counts apart), per module
from ``FlopsProfiler`` (``get_module_macs`` / ``get_module_flops`` of every named module).
DeepSpeed runs the real model on the CPU; flopsight counts its own instance on meta.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import flopsight
import pytest
import timm
import torch
import torchvision.models as tvm
from deepspeed.profiling.flops_profiler import get_model_profile
from deepspeed.profiling.flops_profiler.profiler import (
    FlopsProfiler,
    get_module_flops,
    get_module_macs,
)
from flopsight.counting.build import build_model
from torch import nn
from transformers import BertConfig, BertModel

logging.getLogger("DeepSpeed").setLevel(logging.WARNING)


class Elementwise(nn.Module):
    """What DeepSpeed sees and what it does not: torch.mul/add and Tensor.mul/add count,
    ``x * y``, ``x + y`` and in-place ops do not; F.upsample counts twice (it calls
    F.interpolate); addmm, baddbmm and einsum have their own formulas."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(8, 8))
        self.conv = nn.Conv2d(2, 4, 3, padding="same")
        self.deconv = nn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.mul(x, 2.0) + x.add(x) * x  # counted: mul, add; not: +, *
        y = y.mul(torch.ones(8))  # broadcast to y's shape
        y.add_(1.0)  # in-place: not counted
        z = torch.addmm(torch.zeros(8), y.reshape(-1, 8), self.w)
        b = torch.baddbmm(torch.zeros(2, 8, 8), z.reshape(2, 8, 8), z.reshape(2, 8, 8))
        e = torch.einsum("bij,bjk->bik", b, b)
        img = nn.functional.upsample(e.reshape(2, 2, 4, 8), scale_factor=2)
        img = self.deconv(self.conv(img))
        return nn.functional.softmax(img, dim=-1) @ torch.ones(img.shape[-1], 3)


class Recurrent(nn.Module):
    """RNN hooks add FLOPs but no MACs; the head is a linear."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(12, 20, num_layers=2, batch_first=True)
        self.gru = nn.GRU(20, 8, bidirectional=True)
        self.cell = nn.LSTMCell(16, 6)
        self.head = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, _ = self.lstm(x)
        x, _ = self.gru(x)
        h, _ = self.cell(x[:, -1])
        return self.head(h)


class Attention(nn.Module):
    """nn.MultiheadAttention and an encoder layer (their Python paths), SDPA, layer norm."""

    def __init__(self) -> None:
        super().__init__()
        self.mha = nn.MultiheadAttention(32, 4, batch_first=True)
        self.layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)
        self.norm = nn.GroupNorm(3, 9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.mha(x, x, x)
        q = self.layer(y).reshape(2, 9, 4, 8).transpose(1, 2)
        att = nn.functional.scaled_dot_product_attention(q, q, q)
        return self.norm(att.transpose(1, 2).reshape(2, 9, 32))


def _tv(name: str) -> Callable[[], nn.Module]:
    return lambda: getattr(tvm, name)()


def _timm(name: str) -> Callable[[], nn.Module]:
    return lambda: timm.create_model(name, pretrained=False)


def _bert() -> nn.Module:
    config = BertConfig(
        vocab_size=100, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=128, max_position_embeddings=64,
    )  # fmt: skip
    return BertModel(config, add_pooling_layer=True)


def _lraspp() -> nn.Module:
    return tvm.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None)


def _image(size: int) -> Callable[[], tuple[torch.Tensor, ...]]:
    return lambda: (torch.randn(1, 3, size, size),)


# (id, family, build, inputs): 22 models from 15 families.
MODELS = [
    ("resnet18", "resnet", _tv("resnet18"), _image(64)),
    ("resnext50_32x4d", "resnet", _tv("resnext50_32x4d"), _image(64)),
    ("mobilenet_v2", "mobilenet", _tv("mobilenet_v2"), _image(64)),
    ("mobilenet_v3_small", "mobilenet", _tv("mobilenet_v3_small"), _image(64)),
    ("efficientnet_b0", "efficientnet", _tv("efficientnet_b0"), _image(64)),
    ("densenet121", "densenet", _tv("densenet121"), _image(64)),
    ("shufflenet_v2_x0_5", "shufflenet", _tv("shufflenet_v2_x0_5"), _image(64)),
    ("squeezenet1_0", "squeezenet", _tv("squeezenet1_0"), _image(64)),
    ("regnet_y_400mf", "regnet", _tv("regnet_y_400mf"), _image(64)),
    ("convnext_tiny", "convnext", _tv("convnext_tiny"), _image(64)),
    ("googlenet", "inception", lambda: tvm.googlenet(init_weights=False), _image(64)),
    ("vit_b_32", "vit", _tv("vit_b_32"), _image(224)),
    ("swin_t", "swin", _tv("swin_t"), _image(64)),
    ("lraspp", "segmentation", _lraspp, _image(64)),
    ("r3d_18", "video", lambda: tvm.video.r3d_18(), lambda: (torch.randn(1, 3, 4, 32, 32),)),
    ("timm_vit_tiny", "vit", _timm("vit_tiny_patch16_224"), _image(224)),
    ("timm_mixer_s32", "mlp-mixer", _timm("mixer_s32_224"), _image(224)),
    ("timm_levit_128s", "levit", _timm("levit_128s"), _image(224)),
    ("bert", "transformer", _bert, lambda: (torch.randint(0, 100, (1, 16)),)),
    ("elementwise", "elementwise", Elementwise, lambda: (torch.randn(2, 8, 8),)),
    ("recurrent", "rnn", Recurrent, lambda: (torch.randn(2, 7, 12),)),
    ("attention", "attention", Attention, lambda: (torch.randn(2, 9, 32),)),
]


def _deepspeed(
    model: nn.Module, inputs: tuple[torch.Tensor, ...]
) -> tuple[int, int, dict[str, tuple[int, int]]]:
    flops, macs, _ = get_model_profile(
        model, args=list(inputs), print_profile=False, as_string=False, warm_up=1
    )
    profiler = FlopsProfiler(model)
    profiler.start_profile()
    model(*inputs)
    by_module = {
        name: (int(get_module_macs(m)), int(get_module_flops(m)))
        for name, m in model.named_modules()
    }
    profiler.stop_profile()
    profiler.end_profile()
    return int(macs), int(flops), by_module


def test_the_models_span_enough_families() -> None:
    assert len(MODELS) >= 15 and len({family for _, family, _, _ in MODELS}) >= 8


@pytest.mark.parametrize(("build", "inputs"), [m[2:] for m in MODELS], ids=[m[0] for m in MODELS])
def test_deepspeed_convention_equals_deepspeed(
    build: Callable[[], nn.Module], inputs: Callable[[], tuple[torch.Tensor, ...]]
) -> None:
    torch.manual_seed(0)
    real = build().eval()
    x = inputs()
    # With gradients on, as get_model_profile runs (nn.MultiheadAttention's Python path).
    macs, flops, by_module = _deepspeed(real, x)

    model, device = build_model(build)
    assert device in ("meta", "meta-params")  # no real tensors: nothing computed
    report = flopsight.count(model, *(t.to("meta") for t in x), convention="deepspeed")
    assert report.total is not None and (report.total.macs, report.total.flops) == (macs, flops)
    ours = {layer.path: (layer.macs, layer.flops) for layer in report.layers}
    assert ours == {path: by_module[path] for path in ours}


def test_deepspeed_counted_with_the_others_keeps_its_flops_apart() -> None:
    x = torch.randn(2, 8, 8)
    macs, flops, by_module = _deepspeed(Elementwise().eval(), (x,))
    model, _ = build_model(Elementwise)
    both = flopsight.count(model, x.to("meta"), conventions=("macs", "deepspeed", "fvcore"))
    ds = both.count_in("deepspeed")
    assert (ds.macs, ds.flops) == (macs, flops) and flops != 2 * macs
    assert {p: (c.macs, c.total_flops) for p, c in ds.layers.items()} == {
        p: by_module[p] for p in ds.layers
    }
    # The families FLOPs come from: elementwise mul/add, softmax, upsampling beside matmuls.
    assert {"elementwise", "softmax", "upsample", "matmul", "conv"} <= ds.flop_ops.keys()
    assert sum(ds.flop_ops.values()) == flops
    assert both.to_json()["counts"][1]["flop_ops"] == ds.flop_ops
