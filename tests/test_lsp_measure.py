"""The ``flopsight.server.measure`` command (over counting/measure.py) end to end over the real
server and worker on the CPU: the measured report behind the cards is consistent with its own
count (FLOPs by hand: Linear(64, 256) on (8, 64) is 8 x 64 x 256 MACs, 2x that FLOPs) and the
hover shows the issue's `4.2 ms · 975 GFLOP/s · 31% of peak`. No timing thresholds."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsp_harness import SERVER, inlay_hints, line_of, open_text, start
from lsprotocol import types
from pytest_lsp import LanguageClient

MEASURE = "flopsight.server.measure"
TEXT = """\
from torch import nn


class Net(nn.Module):  # flopsight: input=(8, 64)
    def __init__(self):
        super().__init__()
        self.up = nn.Linear(64, 256)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.up(x))
"""
SUMMARY = re.compile(r"\d[\d.,]* (µs|ms|s) · [\d.,]+ GFLOP/s · \d+% of peak")


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


async def hover(client: LanguageClient, uri: str, line: int, col: int) -> str:
    result = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=col),
        )
    )
    assert result is not None and isinstance(result.contents, types.MarkupContent)
    return result.contents.value


async def execute(client: LanguageClient, command: str, *arguments: Any) -> Any:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command, arguments=list(arguments))
    )


async def test_measure_command_fills_the_hover(client: LanguageClient, tmp_path: Path) -> None:
    recorder = await start(client, {"measure": "onCommand"})
    path = tmp_path / "net.py"
    path.write_text(TEXT)
    uri = open_text(client, path)
    await recorder.analysed(uri)
    row = line_of(TEXT, "class Net")
    col = TEXT.splitlines()[row].index("Net") + 1
    assert "GFLOP/s" not in await hover(client, uri, row, col)  # counted, not measured yet

    done = recorder.finished(uri)
    answer = await execute(client, MEASURE, uri)
    assert "measuring" in answer
    await recorder.analysed(uri, done)

    # The report behind the cards: measured on the CPU, figures consistent with the count.
    options = {"format": "json", "model": "Net"}
    data = await execute(client, "flopsight.server.showReport", uri, options)
    (model,) = data["models"]
    assert model["status"] == "ok", model
    assert model["total"]["flops"] == 2 * 8 * 64 * 256  # by hand
    assert model["latency_ms"] > 0
    assert model["gflops_per_s"] == pytest.approx(
        model["total"]["flops"] / (model["latency_ms"] / 1e3) / 1e9
    )
    assert model["measure"]["device"] == "cpu" and model["peak_gflops_per_s"] > 0
    up = next(layer for layer in model["layers"] if layer["path"] == "up")
    assert up["gflops_per_s"] == pytest.approx(up["flops"] / (up["latency_ms"] / 1e3) / 1e9)

    # The line, `4.2 ms · 975 GFLOP/s · 31% of peak`, on the model and on the layer.
    card = await hover(client, uri, row, col)
    assert SUMMARY.search(card), card
    layer_card = await hover(client, uri, line_of(TEXT, "nn.Linear(64, 256)"), 20)
    assert "### up · Linear" in layer_card
    assert SUMMARY.search(layer_card), layer_card


BIG = """\
from torch import nn


class Wide(nn.Module):  # flopsight: input=(1, 32768)
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32768, 32768)

    def forward(self, x):
        return self.fc(x)
"""


async def test_a_refused_measurement_keeps_the_count(
    client: LanguageClient, tmp_path: Path
) -> None:
    # Linear(32768, 32768): 32768 * 32768 + 32768 params, 4 bytes each, about 4 GiB: over a
    # 3000 MB limit, so the measurement is refused; the count (on meta) still shows.
    recorder = await start(client, {"measure": "onCommand", "limits": {"memoryMB": 3000}})
    path = tmp_path / "wide.py"
    path.write_text(BIG)
    uri = open_text(client, path)
    await recorder.analysed(uri)
    fc = line_of(BIG, "nn.Linear(32768, 32768)")
    before = (await inlay_hints(client, uri)).get(fc, "")
    assert "1.07 GMac" in before, before  # 32768 * 32768 MACs

    done = recorder.finished(uri)
    await execute(client, MEASURE, uri)
    await recorder.analysed(uri, done)
    after = (await inlay_hints(client, uri)).get(fc, "")
    assert after == before
    row = line_of(BIG, "class Wide")
    card = await hover(client, uri, row, BIG.splitlines()[row].index("Wide") + 1)
    assert "Not measured" in card and "GFLOP/s" not in card, card
