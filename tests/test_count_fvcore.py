"""The `fvcore` convention equals fvcore itself, run inside the test: ``FlopCountAnalysis``'s
total and every module of ``by_module()``, and ``ActivationCountAnalysis``'s total.

fvcore traces with the JIT and cannot run on meta tensors, so it gets a real model on the CPU
(small inputs keep that quick); flopsight counts its own instance on meta.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import flopsight
import pytest
import timm
import torch
import torchvision.models as tvm
from flopsight.counting.build import build_model
from fvcore.nn import ActivationCountAnalysis, FlopCountAnalysis
from torch import nn
from transformers import BertConfig, BertModel


class Einsums(nn.Module):
    """The two equations fvcore writes out and one it leaves to numpy's contraction path."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.proj(x)  # (2, 5, 16)
        a = torch.einsum("nct,ncp->ntp", q, x)  # = abc,abd->acd
        b = torch.einsum("ntg,ncg->nct", q, x)  # = abc,adc->adb
        c = torch.einsum("bij,jk,bkl->bil", a, torch.ones(16, 16), a.transpose(1, 2))
        return c.sum() + b.sum()


class Norms(nn.Module):
    """Batch norm in eval and without running stats, group, instance and layer norm,
    upsampling (nearest, bilinear), adaptive pools (1 x 1 is a mean at dispatch), and a
    convolution with padding="same" (fvcore counts it as 0)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.same = nn.Conv2d(8, 8, 3, padding="same")  # aten::_convolution_mode: no handle
        self.bn = nn.BatchNorm2d(8)
        self.bn_batch = nn.BatchNorm2d(8, affine=False, track_running_stats=False)
        self.gn = nn.GroupNorm(2, 8)
        self.inorm = nn.InstanceNorm2d(8, affine=True)
        self.ln = nn.LayerNorm([8, 16, 16], elementwise_affine=False)
        self.up = nn.Upsample(scale_factor=2)
        self.deconv = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.pool2 = nn.AdaptiveAvgPool2d(3)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.ln(self.inorm(self.gn(self.bn_batch(self.bn(self.same(self.conv(x)))))))
        x = self.up(x)
        x = nn.functional.interpolate(x, scale_factor=0.5, mode="bilinear")
        x = self.deconv(x)
        y = self.pool2(x).sum() + x.mean((2, 3), keepdim=True)
        return self.fc(self.pool(x + y).flatten(1))


class Recurrent(nn.Module):
    """fvcore has no handle for aten::lstm / gru: the RNN costs 0, the head does not."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(12, 20, batch_first=True)
        self.gru = nn.GRU(20, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, _ = self.lstm(x)
        x, _ = self.gru(x)
        return self.head(x)


class Attention(nn.Module):
    """nn.MultiheadAttention (its Python path, as fvcore traces it) and an encoder layer."""

    def __init__(self) -> None:
        super().__init__()
        self.mha = nn.MultiheadAttention(32, 4, batch_first=True)
        self.layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.mha(x, x, x)
        return self.layer(y)


def _tv(name: str) -> Callable[[], nn.Module]:
    return lambda: getattr(tvm, name)()


def _timm(name: str) -> Callable[[], nn.Module]:
    return lambda: timm.create_model(name, pretrained=False)


def _lraspp() -> nn.Module:
    return tvm.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None)


def _bert() -> nn.Module:
    config = BertConfig(
        vocab_size=100, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=128, max_position_embeddings=64,
    )  # fmt: skip
    return BertModel(config, add_pooling_layer=True)


def _image(size: int) -> Callable[[], tuple[torch.Tensor, ...]]:
    return lambda: (torch.randn(1, 3, size, size),)


def _tokens() -> tuple[torch.Tensor, ...]:
    return (torch.randint(0, 100, (1, 16)),)


# (id, family, build, inputs): 24 models from 14 families.
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
    ("timm_vit_tiny", "vit", _timm("vit_tiny_patch16_224"), _image(224)),
    ("timm_efficientnet_b0", "efficientnet", _timm("efficientnet_b0"), _image(64)),
    ("timm_mixer_s32", "mlp-mixer", _timm("mixer_s32_224"), _image(224)),
    ("timm_levit_128s", "levit", _timm("levit_128s"), _image(224)),
    ("bert", "transformer", _bert, _tokens),
    ("r3d_18", "video", lambda: tvm.video.r3d_18(), lambda: (torch.randn(1, 3, 4, 32, 32),)),
    ("einsums", "einsum", Einsums, lambda: (torch.randn(2, 5, 16),)),
    ("norms", "norm", Norms, _image(16)),
    ("recurrent", "rnn", Recurrent, lambda: (torch.randn(2, 7, 12),)),
    ("attention", "attention", Attention, lambda: (torch.randn(2, 9, 32),)),
]


def _fvcore(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> tuple[dict[str, int], int]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flops = FlopCountAnalysis(model, inputs)
        flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        acts = ActivationCountAnalysis(model, inputs)
        acts.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return dict(flops.by_module()), int(acts.total())


def test_the_models_span_enough_families() -> None:
    assert len(MODELS) >= 15 and len({family for _, family, _, _ in MODELS}) >= 8


@pytest.mark.parametrize(("build", "inputs"), [m[2:] for m in MODELS], ids=[m[0] for m in MODELS])
def test_fvcore_convention_equals_fvcore(
    build: Callable[[], nn.Module], inputs: Callable[[], tuple[torch.Tensor, ...]]
) -> None:
    torch.manual_seed(0)
    real = build().eval()
    x = inputs()
    by_module, activations = _fvcore(real, x)

    model, device = build_model(build)
    assert device in ("meta", "meta-params")  # no real tensors: nothing computed
    report = flopsight.count(model, *(t.to("meta") for t in x), convention="fvcore")
    assert report.total is not None
    assert report.total.macs == by_module[""]
    assert report.total.activations == activations
    # Per module as by_module() gives it (fvcore names every submodule, called or not).
    ours = {layer.path: layer.macs for layer in report.layers}
    assert ours == {path: int(v) for path, v in by_module.items() if path in ours}
    assert set(ours) <= set(by_module)


def test_fvcore_in_one_pass_with_the_others_and_its_flops_are_twice_its_macs() -> None:
    x = torch.randn(1, 3, 16, 16)
    by_module, activations = _fvcore(Norms().eval(), (x,))
    with torch.device("meta"):
        model = Norms()
    both = flopsight.count(
        model, x.to("meta"), conventions=("macs", "fvcore", "ptflops", "deepspeed")
    )
    fv = both.count_in("fvcore")
    assert fv.macs == by_module[""] and fv.flops == 2 * fv.macs
    assert fv.activations == activations
    # macs leaves norms, upsampling and pooling out; fvcore charges them.
    assert both.count_in("macs").ops.keys() == {"conv", "matmul"}
    assert {"norm", "upsample", "pool"} <= fv.ops.keys()
