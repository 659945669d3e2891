"""`macs` totals and params equal torchvision's published table for all 80 classifiers
(and its 6 segmentation and 9 video models).

The reference is torchvision's own ``weights.meta["_ops"]`` (GFLOPS column, in GMACs, three
decimals) and ``meta["num_params"]``, each model at its DEFAULT weights' crop size.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torchvision.models as tvm
from flopsight.counting.build import build_model
from flopsight.counting.counter import count_model

MODELS = tvm.list_models(module=tvm)


def _constructor_kwargs(name: str, crop: int) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"weights": None}
    if name.startswith("vit_"):
        kwargs["image_size"] = crop  # ViTs are published at their weights' crop size
    if name == "googlenet":
        kwargs["aux_logits"] = False  # its published parameter count has no aux heads
    # inception_v3 keeps its aux head: the published count includes it (and eval skips it).
    return kwargs


def test_all_classification_models_are_listed() -> None:
    assert len(MODELS) == 80


@pytest.mark.parametrize("name", MODELS)
def test_macs_and_params_match_published_table(name: str) -> None:
    weights = tvm.get_model_weights(name).DEFAULT
    crop = weights.transforms().crop_size[0]
    kwargs = _constructor_kwargs(name, crop)

    model, device = build_model(lambda: tvm.get_model(name, **kwargs))
    report = count_model(model, (torch.empty(1, 3, crop, crop, device="meta"),), device=device)

    assert report.total is not None
    assert device in ("meta", "meta-params")  # no weights allocated
    assert round(report.total.macs / 1e9, 3) == weights.meta["_ops"]
    assert report.total.params == weights.meta["num_params"]
    assert report.total.flops == 2 * report.total.macs
    assert report.uncounted_ops == []


SEGMENTATION = tvm.list_models(module=tvm.segmentation)
VIDEO = tvm.list_models(module=tvm.video)


@pytest.mark.parametrize("name", SEGMENTATION + VIDEO)
def test_segmentation_and_video_models_match_published_table(name: str) -> None:
    weights = tvm.get_model_weights(name).DEFAULT
    transforms = weights.transforms()
    kwargs: dict[str, Any] = {"weights": None}
    if name in SEGMENTATION:
        size = transforms.resize_size[0]
        shape: tuple[int, ...] = (1, 3, size, size)
        kwargs["weights_backbone"] = None
        if not name.startswith("lraspp"):
            kwargs["aux_loss"] = True  # the published weights carry the auxiliary head
    else:
        crop = transforms.crop_size[0]
        shape = (1, 3, 16, crop, crop)  # 16-frame clips, as the video weights are published

    model, device = build_model(lambda: tvm.get_model(name, **kwargs))
    report = count_model(model, (torch.empty(shape, device="meta"),), device=device)

    assert report.total is not None
    assert round(report.total.macs / 1e9, 3) == weights.meta["_ops"]
    assert report.total.params == weights.meta["num_params"]
    assert report.uncounted_ops == []
