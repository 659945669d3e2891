"""A model that fails to build on meta and runs out of memory on the CPU reports meta's error:
the one that says what is wrong (a default config that does not build), not the allocation."""

from __future__ import annotations

import pytest
import torch
from flopsight.counting.build import build_model
from torch import nn


def test_the_meta_error_wins_over_running_out_of_memory() -> None:
    def factory() -> nn.Module:
        if torch.empty(0).device.type == "meta":
            raise TypeError("unsupported operand type(s) for //: 'NoneType' and 'NoneType'")
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 GB")

    with pytest.raises(TypeError, match="NoneType"):
        build_model(factory)


def test_a_cpu_error_that_is_not_memory_still_propagates() -> None:
    def factory() -> nn.Module:
        if torch.empty(0).device.type == "meta":
            raise NotImplementedError("meta")
        raise ValueError("the real problem")

    with pytest.raises(ValueError, match="the real problem"):
        build_model(factory)
