"""torchvision's detection models count: nms runs as flopsight's PyTorch kernel on the CPU (its
compiled ops cannot load here), under a reported assumption; against torchvision's GFLOPS."""

from __future__ import annotations

from pathlib import Path

import pytest_lsp
import torchvision
from flopsight.counting.runner import analyse_file
from flopsight.job import AnalysisRequest
from flopsight.report.model import FileReport
from lsp_harness import SERVER, line_of, open_text, start
from pytest_lsp import LanguageClient

DETECTORS = Path(__file__).parent / "data" / "detection" / "detectors.py"


def published_gmacs(name: str) -> float:
    # torchvision's "GFLOPS" column counts multiply-accumulates (docs/conventions.md).
    (weights,) = list(torchvision.models.get_model_weights(name))
    return float(weights.meta["_ops"])


def analyse() -> FileReport:
    return analyse_file(AnalysisRequest(text=DETECTORS.read_text(), path=str(DETECTORS)))


def test_detectors_count_with_the_nms_assumption_reported() -> None:
    report = analyse()
    ssdlite, faster_rcnn = report.models
    for model in report.models:
        assert model.status == "ok", model.error
        assert model.uncounted_ops == []
        assert any("nms ran as flopsight's PyTorch kernel" in n for n in model.notes)

    # SSDLite has no per-box heads: the whole model is torchvision's published figure.
    assert round(ssdlite.total.macs / 1e9, 3) == published_gmacs("ssdlite320_mobilenet_v3_large")

    layers = {layer.path: layer for layer in faster_rcnn.layers}
    # Backbone and RPN match torchvision's table; its figure stops there, because with the
    # trained weights on its random test image no proposal passes rpn_score_thresh=0.05.
    dense = layers["backbone"].macs + layers["rpn"].macs
    assert round(dense / 1e9, 3) == published_gmacs("fasterrcnn_mobilenet_v3_large_320_fpn")
    # flopsight counts the box head at the model's configured 150 proposals (random weights
    # keep them all): TwoMLPHead (256·7·7 → 1024 → 1024) and the predictor (91 classes, boxes).
    proposals = 150
    box_head = 256 * 7 * 7 * 1024 + 1024 * 1024
    predictor = 1024 * 91 + 1024 * 91 * 4
    assert layers["roi_heads"].macs == proposals * (box_head + predictor)


DEFORM = Path(__file__).parent / "data" / "detection" / "deform.py"


def test_an_op_flopsight_does_not_supply_is_named() -> None:
    report = analyse_file(AnalysisRequest(text=DEFORM.read_text(), path=str(DEFORM)))
    (model,) = report.models
    assert model.status == "error"
    assert model.error.message.startswith("torchvision.ops.deform_conv2d needs torchvision's")
    assert "nms and roi_align only" in model.error.message
    assert model.error.line == line_of(DEFORM.read_text(), "return self.conv(") + 1


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


async def test_the_stopping_op_is_a_diagnostic(client: LanguageClient) -> None:
    recorder = await start(client)
    uri = open_text(client, DEFORM)
    await recorder.analysed(uri)
    [diag] = [d for d in client.diagnostics.get(uri, []) if d.code == "FS202"]
    assert diag.range.start.line == line_of(DEFORM.read_text(), "return self.conv(")
    assert "torchvision.ops.deform_conv2d" in diag.message
