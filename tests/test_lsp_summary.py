"""The display strings a client shows as they are: ``flopsight/summary`` after every analysis
(status bar), the report page's view (``flopsight.server.showReport`` with ``format: "view"``),
and on save the models in window/logMessage.

Seed MLP, ptflops convention, by hand (test_lsp_inlay_hints.py): 670,730 MACs (670.73 KMac),
1,341,460 FLOPs (1.34 MFLOPs), 669,706 params (669.71 k). Linear(784, 512): 784·512 + 512 =
401,920 MACs and params, 401,920 / 670,730 = 59.92 %; Linear(512, 512): 262,656 (39.16 %);
Linear(512, 10): 5,130 (0.76 %); each ReLU 512 MACs (0.08 %). Param memory 669,706 · 4 bytes =
2,678,824 B = 2.55 MiB (2,678,824 / 2^20 = 2.5547).
"""

from __future__ import annotations

from typing import Any

import pytest_lsp
from lsp_harness import EXAMPLES, SERVER, insert, line_of, open_text, save, start
from lsprotocol import types
from pytest_lsp import LanguageClient

SEED = EXAMPLES / "seed_mlp.py"
TEXT = SEED.read_text()


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


def field(obj: Any, key: str) -> Any:
    return obj[key] if isinstance(obj, dict) else getattr(obj, key)


async def test_summary_after_every_analysis(client: LanguageClient) -> None:
    recorder = await start(client, {"convention": "ptflops"})
    uri = open_text(client, SEED)
    summary = await recorder.wait_for("flopsight/summary", uri)  # no save needed
    [model] = summary.models
    assert model.name == "NeuralNetwork"
    assert model.line == line_of(TEXT, "class NeuralNetwork")
    assert (model.macs, model.flops, model.params) == (670_730, 1_341_460, 669_706)
    assert model.status == "ok"
    assert model.label == "670.73 KMac · 1.34 MFLOPs · 669.71 k params · (1, 28, 28)"
    assert model.cost == "670.73 KMac · 669.71 k"
    line = line_of(TEXT, "class NeuralNetwork") + 1
    detail = f"NeuralNetwork (line {line}): 670.73 KMac · 1.34 MFLOPs · 669.71 k params"
    assert model.detail == detail
    assert summary.heaviest.name == "NeuralNetwork"
    assert summary.status.text == "⚡ 670.73 KMac · 669.71 k"
    assert summary.status.tooltip == f"NeuralNetwork\n{detail}"
    assert summary.status.warning is False
    assert summary.lines == [detail]
    # Sent before the round's analysisFinished, so a status bar never shows a stale figure.
    names = [name for name, _ in recorder.events if name.startswith("flopsight/")]
    assert names.index("flopsight/summary") < names.index("flopsight/analysisFinished")
    assert not [m for m in client.log_messages if "NeuralNetwork" in m.message]

    # An edit: another summary, without a save; a save also logs the models.
    count = recorder.count("flopsight/summary", uri)
    insert(client, uri, len(TEXT.splitlines()), 0, "# edited\n", version=2)
    await recorder.wait_for("flopsight/summary", uri, after=count)
    count = recorder.count("flopsight/summary", uri)
    save(client, uri)
    await recorder.wait_for("flopsight/summary", uri, after=count)
    logs = [m.message for m in client.log_messages if "NeuralNetwork" in m.message]
    assert logs and "670.73 KMac" in logs[-1] and str(SEED) in logs[-1]


async def test_broken_and_unannotated_models_in_the_status(client: LanguageClient) -> None:
    recorder = await start(client, {"convention": "ptflops"})
    text = TEXT.replace("# flopsight: input=(1, 28, 28)", "# flopsight: input=(1, 27, 28)")
    uri = open_text(client, SEED.with_name("broken_mlp.py"), text)
    summary = await recorder.wait_for("flopsight/summary", uri)
    [model] = summary.models
    assert model.status == "error" and model.cost is None
    assert summary.heaviest is None
    assert summary.status.text == "flopsight: NeuralNetwork failed"
    assert summary.status.warning is True
    assert model.detail.startswith(f"NeuralNetwork (line {model.line + 1}): failed — ")


async def test_report_view_strings(client: LanguageClient) -> None:
    recorder = await start(client, {"convention": "ptflops"})
    uri = open_text(client, SEED)
    await recorder.analysed(uri)
    view = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="flopsight.server.showReport", arguments=[uri, {"format": "view"}]
        )
    )
    assert field(view, "convention") == "ptflops"
    [model] = field(view, "models")
    assert field(model, "title") == "NeuralNetwork" and field(model, "error") is None
    facts = dict(field(model, "facts"))
    assert facts["MACs"] == "670.73 KMac" and facts["FLOPs"] == "1.34 MFLOPs"
    assert facts["Params"] == "669.71 k" and facts["Param memory"] == "2.55 MiB"
    assert facts["Input"] == "x: [1, 28, 28]" and facts["Built on"] == "meta"
    rows = {field(r, "path"): r for r in field(model, "rows")}
    first = rows["linear_relu_stack.0"]
    assert (field(first, "macs"), field(first, "share"), field(first, "params")) == (
        "401.92 KMac",
        "59.9%",
        "401.92 k",
    )
    assert field(first, "shape") == "[1, 512]" and field(first, "depth") == 2
    assert field(first, "line") == line_of(TEXT, "nn.Linear(28 * 28, 512)") + 1
    assert field(rows["(NeuralNetwork)"], "depth") == 0
    # The heaviest leaf layers, widths relative to the first: 262,656 / 401,920 = 65.3503 %.
    bars = field(model, "bars")
    assert [field(b, "label") for b in bars] == [
        "linear_relu_stack.0",
        "linear_relu_stack.2",
        "linear_relu_stack.4",
        "linear_relu_stack.1",
        "linear_relu_stack.3",
    ]
    assert [field(b, "width") for b in bars[:2]] == [100.0, 65.4]
    assert field(bars[2], "share") == "0.8%"
