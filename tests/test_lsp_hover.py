"""Hover cards end to end on the seed MLP (ptflops convention; figures by hand in
test_lsp_inlay_hints.py: 670,730 MACs, 669,706 params; Linear(512, 512) = 262,656 MACs)."""

from __future__ import annotations

import pytest_lsp
from lsp_harness import EXAMPLES, SERVER, line_of, open_text, save, start
from lsprotocol import types
from pytest_lsp import LanguageClient

SEED = EXAMPLES / "seed_mlp.py"
TEXT = SEED.read_text()


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


async def hover(client: LanguageClient, uri: str, line: int, col: int) -> str | None:
    result = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=col),
        )
    )
    if result is None:
        return None
    assert isinstance(result.contents, types.MarkupContent)
    assert result.contents.kind == types.MarkupKind.Markdown
    return result.contents.value


async def test_hover_cards(client: LanguageClient) -> None:
    recorder = await start(client, {"convention": "ptflops"})
    uri = open_text(client, SEED)
    await recorder.analysed(uri)

    # The class name: totals, the five heaviest layers, the op breakdown, input, convention,
    # device.
    row = line_of(TEXT, "class NeuralNetwork")
    card = await hover(client, uri, row, TEXT.splitlines()[row].index("NeuralNetwork") + 3)
    assert card is not None
    assert "670.73 KMac" in card and "1.34 MFLOPs" in card and "669.71 k params" in card
    heaviest = [line for line in card.splitlines() if line.startswith("| `linear_relu_stack.")]
    assert [line.split("`")[1] for line in heaviest] == [
        "linear_relu_stack.0",  # 401,920
        "linear_relu_stack.2",  # 262,656
        "linear_relu_stack.4",  # 5,130
        "linear_relu_stack.1",  # 512
        "linear_relu_stack.3",  # 512
    ]
    assert "59.9%" in heaviest[0]
    # matmul 669,706 of 670,730 MACs = 99.8 %; the two ReLUs' 1,024 = 0.2 %.
    assert "matmul 99.8%" in card and "activation 0.2%" in card
    assert "(1, 28, 28)" in card and "`ptflops`" in card and "`meta`" in card

    # A layer's constructor line: its MACs, FLOPs (2×), params, share and output shape.
    row = line_of(TEXT, "nn.Linear(512, 512)")
    card = await hover(client, uri, row, TEXT.splitlines()[row].index("Linear"))
    assert card is not None
    assert "linear_relu_stack.2 · Linear" in card
    assert "262.66 KMac" in card and "525.31 KFLOPs" in card and "262.66 k params" in card
    assert "39.2%" in card and "[1, 512]" in card

    # A forward line: its MACs and output shape.
    row = line_of(TEXT, "logits = self.linear_relu_stack(x)")
    card = await hover(client, uri, row, 10)
    assert card is not None
    assert "670.73 KMac" in card and "[1, 10]" in card and "100.0%" in card

    # A layer used in forward, as `self.name`: that layer's card.
    col = TEXT.splitlines()[row].index("linear_relu_stack") + 2
    card = await hover(client, uri, row, col)
    assert card is not None
    assert "linear_relu_stack · Sequential" in card and "669.71 k params" in card

    # Nothing on a line without work.
    assert await hover(client, uri, line_of(TEXT, "super().__init__()"), 9) is None


async def test_measured_figures_join_the_cards(client: LanguageClient) -> None:
    recorder = await start(client, {"convention": "ptflops", "measure": "onSave"})
    uri = open_text(client, SEED)
    await recorder.analysed(uri)
    row = line_of(TEXT, "class NeuralNetwork")
    col = TEXT.splitlines()[row].index("NeuralNetwork")
    card = await hover(client, uri, row, col)
    assert card is not None and "GFLOP/s" not in card  # counting alone times nothing

    done = recorder.finished(uri)
    save(client, uri)
    await recorder.analysed(uri, done)
    card = await hover(client, uri, row, col)
    assert card is not None and "measured on" in card and "GFLOP/s" in card
    layer_row = line_of(TEXT, "nn.Linear(512, 512)")
    card = await hover(client, uri, layer_row, TEXT.splitlines()[layer_row].index("Linear"))
    assert card is not None and "GFLOP/s" in card and "of the time" in card

    # The command measures on demand too (flopsight.measure: onCommand).
    done = recorder.finished(uri)
    answer = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="flopsight.server.measure", arguments=[uri])
    )
    assert "measuring" in answer
    await recorder.analysed(uri, done)
