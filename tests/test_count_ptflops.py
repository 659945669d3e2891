"""The `ptflops` convention agrees with ptflops 0.7.x itself, computed inside the test.

ptflops (pytorch backend, ``count_functional=False``) only reads shapes, so it runs on the
same meta-device models flopsight counts; each side gets its own instance.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import torch
import torchvision.models as tvm
from flopsight.counting.build import build_model
from flopsight.counting.counter import count_model
from flopsight.report.units import format_macs, format_params
from ptflops import get_model_complexity_info

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# One or more models per family; inception_v3 at its native 299 x 299.
MODELS = [
    ("resnet18", 224),
    ("resnext50_32x4d", 224),
    ("vgg11_bn", 224),
    ("alexnet", 224),
    ("mobilenet_v2", 224),
    ("mobilenet_v3_small", 224),
    ("efficientnet_b0", 224),
    ("densenet121", 224),
    ("shufflenet_v2_x0_5", 224),
    ("squeezenet1_0", 224),
    ("mnasnet0_5", 224),
    ("regnet_x_400mf", 224),
    ("convnext_tiny", 224),
    ("googlenet", 224),
    ("inception_v3", 299),
    ("vit_b_32", 224),
    ("swin_t", 224),
    ("maxvit_t", 224),
]


def _ptflops(model: torch.nn.Module, size: int) -> tuple[int, int]:
    macs, params = get_model_complexity_info(
        model,
        (3, size, size),
        as_strings=False,
        print_per_layer_stat=False,
        backend="pytorch",
        backend_specific_config={"count_functional": False},
    )
    assert macs is not None and params is not None, "ptflops failed on this model"
    return int(macs), int(params)


@pytest.mark.parametrize(("name", "size"), MODELS)
def test_totals_within_half_a_percent_of_ptflops(name: str, size: int) -> None:
    reference, _ = build_model(lambda: tvm.get_model(name, weights=None))
    expected_macs, expected_params = _ptflops(reference, size)

    model, device = build_model(lambda: tvm.get_model(name, weights=None))
    report = count_model(
        model, (torch.empty(1, 3, size, size, device="meta"),), convention="ptflops", device=device
    )

    assert report.total is not None
    assert abs(report.total.macs - expected_macs) <= 0.005 * expected_macs
    assert report.total.params == expected_params


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seed_mlp_figures() -> None:
    # The seed article: ptflops prints 670.73 KMac and 669.71 k params for its MLP at (28, 28).
    seed = _load(EXAMPLES / "seed_mlp.py")
    model, device = build_model(seed.NeuralNetwork)
    report = count_model(
        model, (torch.empty(1, 28, 28, device="meta"),), convention="ptflops", device=device
    )
    assert report.total is not None
    assert format_macs(report.total.macs) == "670.73 KMac"
    assert format_params(report.total.params) == "669.71 k"


def test_seed_densenet161_figures() -> None:
    # The seed article: densenet161 at (1, 3, 224, 224) is 7.82 GMac and 28.68 M params in
    # ptflops; torchvision publishes 7.728 GFLOPS (its MACs), i.e. 7.73 GMac.
    x = torch.empty(1, 3, 224, 224, device="meta")
    by_convention = {}
    for convention in ("ptflops", "macs"):
        model, device = build_model(tvm.densenet161)
        report = count_model(model, (x,), convention=convention, device=device)
        assert report.total is not None
        by_convention[convention] = report.total

    assert format_macs(by_convention["ptflops"].macs) == "7.82 GMac"
    assert format_params(by_convention["ptflops"].params) == "28.68 M"
    assert format_macs(by_convention["macs"].macs) == "7.73 GMac"
    assert format_params(by_convention["macs"].params) == "28.68 M"


class _SelfAttention(torch.nn.Module):
    def __init__(self, by_keyword: bool) -> None:
        super().__init__()
        self.by_keyword = by_keyword
        self.attn = torch.nn.MultiheadAttention(16, 4, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.by_keyword:
            out, _ = self.attn(query=x, key=x, value=x, need_weights=False)
        else:
            out, _ = self.attn(x, x, x, need_weights=False)
        return out


def test_multihead_attention_formula_by_hand_also_when_called_with_keywords() -> None:
    # ptflops' MultiheadAttention formula for q = k = v of (batch 1, length 5, dim 16), 4 heads:
    length, dim, heads = 5, 16, 4
    scaling = length * dim
    projections = 3 * length * dim * dim
    in_bias = 3 * length * dim
    per_head = length * length * (dim // heads) + length * length + length * length * (dim // heads)
    out_projection = length * dim * (dim + 1)
    expected = scaling + projections + in_bias + heads * per_head + out_projection
    assert expected == 6420

    x = torch.randn(1, length, dim)
    positional = _SelfAttention(by_keyword=False)
    assert _ptflops_on(positional, x) == expected  # ptflops itself agrees
    for by_keyword in (False, True):
        report = count_model(_SelfAttention(by_keyword), (x,), convention="ptflops")
        assert report.total is not None
        assert report.total.macs == expected
        assert report.uncounted_ops == []


def _ptflops_on(model: torch.nn.Module, x: torch.Tensor) -> int:
    macs, _ = get_model_complexity_info(
        model,
        tuple(x.shape[1:]),
        as_strings=False,
        print_per_layer_stat=False,
        backend="pytorch",
        backend_specific_config={"count_functional": False},
    )
    assert macs is not None
    return int(macs)


class _Recurrent(torch.nn.Module):
    def __init__(self, kind: type[torch.nn.Module], bidirectional: bool) -> None:
        super().__init__()
        self.rnn = kind(12, 20, num_layers=2, bidirectional=bidirectional)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return out


@pytest.mark.parametrize("kind", [torch.nn.RNN, torch.nn.GRU, torch.nn.LSTM])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_recurrent_layers_equal_ptflops(kind: type[torch.nn.Module], bidirectional: bool) -> None:
    model, x = _Recurrent(kind, bidirectional), torch.randn(1, 7, 12)
    report = count_model(model, (x,), convention="ptflops")
    assert report.total is not None
    assert report.total.macs == _ptflops_on(model, x)
