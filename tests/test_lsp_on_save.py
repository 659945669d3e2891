"""On save: a summary per model, as window/logMessage and the flopsight/summary notification.

Seed MLP, ptflops convention: 670,730 MACs, 1,341,460 FLOPs, 669,706 params (by hand in
test_lsp_inlay_hints.py)."""

from __future__ import annotations

import pytest_lsp
from lsp_harness import EXAMPLES, SERVER, line_of, open_text, save, start
from pytest_lsp import LanguageClient

SEED = EXAMPLES / "seed_mlp.py"


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


async def test_summary_on_save(client: LanguageClient) -> None:
    recorder = await start(client, {"convention": "ptflops"})
    uri = open_text(client, SEED)
    await recorder.analysed(uri)
    assert recorder.count("flopsight/summary") == 0  # only saves send it
    save(client, uri)
    summary = await recorder.wait_for("flopsight/summary", uri)
    [model] = summary.models
    assert model.name == "NeuralNetwork"
    assert model.line == line_of(SEED.read_text(), "class NeuralNetwork")
    assert (model.macs, model.flops, model.params) == (670_730, 1_341_460, 669_706)
    assert model.status == "ok"
    assert model.label == "670.73 KMac · 1.34 MFLOPs · 669.71 k params · (1, 28, 28)"
    assert summary.heaviest.name == "NeuralNetwork"
    logs = [m.message for m in client.log_messages if "NeuralNetwork" in m.message]
    assert logs and "670.73 KMac" in logs[-1] and str(SEED) in logs[-1]
