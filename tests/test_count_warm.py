"""The warm-up the worker host runs before forking jobs: one copy, in counting/warm.py."""

from __future__ import annotations

import os
import sys

import pytest
import torch
from flopsight.counting import formulas, warm
from flopsight.worker import host


def test_warm_up_counts_in_every_convention_and_leaves_the_process_as_it_was(
    capsys: pytest.CaptureFixture[str],
) -> None:
    formulas.CLASSIFIED.clear()
    path, modules, cwd = list(sys.path), set(sys.modules), os.getcwd()
    warm.warm_up(full=True)
    assert "warm-up failed" not in capsys.readouterr().err
    # The model's convolution, batch norm and linear were classified by the macs rules.
    for packet in (torch.ops.aten.convolution, torch.ops.aten.addmm):
        assert packet in formulas.CLASSIFIED
    assert sys.path == path and os.getcwd() == cwd
    assert not [m for m in set(sys.modules) - modules if m.startswith("flopsight_warm")]


def test_the_host_warms_up_with_the_counting_engines_warm_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[bool] = []
    monkeypatch.setattr(warm, "warm_up", calls.append)
    host._warm_up()
    host._spare_warm_up()
    assert calls == [True, False]
