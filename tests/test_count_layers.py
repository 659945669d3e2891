"""Layers beyond the torchvision classifiers: recurrent, transposed and grouped convolutions,
bilinear, 1-D linear. `macs` against hand counts (on meta and on the CPU, whose kernels
differ); `ptflops` against ptflops itself."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from flopsight.counting.counter import count_model
from ptflops import get_model_complexity_info
from torch import nn

# (label, layer, input shape, MACs written out)
HAND_COUNTS: list[tuple[str, Callable[[], nn.Module], tuple[int, ...], int]] = [
    # 2 layers x 5 steps: layer 1 multiplies x by w_ih (64 x 8) and h by w_hh (64 x 16);
    # layer 2 both by 64 x 16.
    (
        "lstm",
        lambda: nn.LSTM(8, 16, num_layers=2, batch_first=True),
        (1, 5, 8),
        5 * (64 * 8 + 64 * 16) + 5 * (64 * 16 + 64 * 16),
    ),
    # 2 directions x 5 steps x (w_ih 48 x 8 + w_hh 48 x 16).
    (
        "gru bidirectional",
        lambda: nn.GRU(8, 16, batch_first=True, bidirectional=True),
        (1, 5, 8),
        2 * 5 * (48 * 8 + 48 * 16),
    ),
    ("rnn", lambda: nn.RNN(8, 16), (5, 1, 8), 5 * (16 * 8 + 16 * 16)),
    ("lstm cell", lambda: nn.LSTMCell(8, 16), (3, 8), 3 * (64 * 8 + 64 * 16)),
    # Every input element (4 x 8 x 8) meets 8 output channels x 3 x 3 taps.
    (
        "conv transpose",
        lambda: nn.ConvTranspose2d(4, 8, 3, stride=2),
        (1, 4, 8, 8),
        4 * 8 * 8 * 8 * 3 * 3,
    ),
    # 8 output channels x 6 positions, each a dot product over 4 / 2 groups x 3 taps.
    ("grouped conv1d", lambda: nn.Conv1d(4, 8, 3, groups=2), (1, 4, 8), 8 * 6 * (2 * 3)),
    ("conv3d", lambda: nn.Conv3d(2, 4, 3), (1, 2, 5, 5, 5), 4 * 3 * 3 * 3 * (2 * 3 * 3 * 3)),
    ("linear on a vector", lambda: nn.Linear(4, 3), (4,), 4 * 3),
    ("upsample is free", lambda: nn.Upsample(scale_factor=2, mode="bilinear"), (1, 2, 4, 4), 0),
]


@pytest.mark.parametrize("device", ["meta", "cpu"])
@pytest.mark.parametrize(
    ("label", "build", "shape", "expected"), HAND_COUNTS, ids=[c[0] for c in HAND_COUNTS]
)
def test_macs_by_hand(
    label: str, build: Callable[[], nn.Module], shape: tuple[int, ...], expected: int, device: str
) -> None:
    with torch.device(device):
        layer = build()
        x = torch.randn(shape)
    report = count_model(layer, (x,))
    assert report.total is not None
    assert report.total.macs == expected
    assert report.uncounted_ops == []


def test_bilinear_by_hand() -> None:
    layer = nn.Bilinear(4, 5, 3)
    report = count_model(layer, (torch.randn(2, 4), torch.randn(2, 5)))
    # out[b, o] = sum_ij x1[b, i] W[o, i, j] x2[b, j]: 2 x 3 x 4 x 5.
    assert report.total is not None and report.total.macs == 2 * 3 * 4 * 5


PTFLOPS_LAYERS: list[tuple[str, Callable[[], nn.Module], tuple[int, ...]]] = [
    ("lstm", lambda: nn.LSTM(8, 16, num_layers=2, batch_first=True), (5, 8)),
    ("gru bidirectional", lambda: nn.GRU(8, 16, batch_first=True, bidirectional=True), (5, 8)),
    ("rnn", lambda: nn.RNN(8, 16), (5, 8)),
    ("conv transpose", lambda: nn.ConvTranspose2d(4, 8, 3, stride=2), (4, 8, 8)),
    ("grouped conv1d", lambda: nn.Conv1d(4, 8, 3, groups=2), (4, 8)),
    ("conv3d", lambda: nn.Conv3d(2, 4, 3), (2, 5, 5, 5)),
    ("upsample", lambda: nn.Upsample(scale_factor=2, mode="nearest"), (2, 4, 4)),
    (
        "norms and activations",
        lambda: nn.Sequential(
            nn.GroupNorm(2, 4),
            nn.PReLU(),
            nn.InstanceNorm2d(4, affine=True),
            nn.ELU(),
            nn.LayerNorm([4, 4]),
            nn.LeakyReLU(),
            nn.ReLU6(),
            nn.GELU(),
        ),
        (4, 4, 4),
    ),
    (
        "pools",
        lambda: nn.Sequential(
            nn.MaxPool2d(2), nn.AvgPool2d(1), nn.AdaptiveMaxPool2d(1), nn.AdaptiveAvgPool2d(1)
        ),
        (4, 6, 6),
    ),
]


@pytest.mark.parametrize(
    ("label", "build", "shape"), PTFLOPS_LAYERS, ids=[c[0] for c in PTFLOPS_LAYERS]
)
def test_ptflops_convention_equals_ptflops(
    label: str, build: Callable[[], nn.Module], shape: tuple[int, ...]
) -> None:
    reference = build()
    expected, params = get_model_complexity_info(
        reference,
        shape,
        as_strings=False,
        print_per_layer_stat=False,
        backend="pytorch",
        backend_specific_config={"count_functional": False},
    )
    assert expected is not None

    report = count_model(build(), (torch.randn(1, *shape),), convention="ptflops")
    assert report.total is not None
    assert report.total.macs == expected
    assert report.total.params == params


class _Retrieval(nn.Module):
    def forward(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        distances = torch.cdist(queries, keys)
        spectrum = torch.fft.rfft(queries, dim=1).abs()
        return torch.nn.functional.cross_entropy(distances.flatten(1), spectrum.argmax(-1)[:, 0])


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_cdist_by_hand_and_an_fft_is_listed_not_dropped(device: str) -> None:
    with torch.device(device):
        queries, keys = torch.randn(2, 5, 3), torch.randn(2, 4, 3)
    report = count_model(_Retrieval(), (queries, keys))
    # 2 batches x 5 x 4 pairs, 3 coordinates each; the loss is free, the FFT has no formula.
    assert report.total is not None and report.total.macs == 2 * 5 * 4 * 3
    assert [(u.op, u.count) for u in report.uncounted_ops] == [("aten::_fft_r2c", 1)]
