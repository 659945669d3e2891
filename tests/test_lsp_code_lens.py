"""Code lens end to end: the model's totals above the class, running flopsight.server.showReport.

Seed MLP, ptflops convention: 670,730 MACs (670.73 KMac), FLOPs = 2 × MACs = 1,341,460
(1.34 MFLOPs), 669,706 params (669.71 k), input (1, 28, 28) — figures by hand in
test_lsp_inlay_hints.py.
"""

from __future__ import annotations

import pytest_lsp
from lsp_harness import DATA, EXAMPLES, SERVER, inlay_hints, line_of, open_text, start
from lsprotocol import types
from pytest_lsp import LanguageClient

SEED = EXAMPLES / "seed_mlp.py"
TEXT = SEED.read_text()


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


async def test_lens_title_and_show_report(client: LanguageClient) -> None:
    recorder = await start(client, {"convention": "ptflops"})
    uri = open_text(client, SEED)
    await recorder.analysed(uri)
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert lenses is not None
    [lens] = lenses
    assert lens.range.start.line == line_of(TEXT, "class NeuralNetwork")
    assert lens.command is not None
    assert lens.command.title == "670.73 KMac · 1.34 MFLOPs · 669.71 k params · (1, 28, 28)"
    assert lens.command.command == "flopsight.server.showReport"
    assert list(lens.command.arguments or []) == [uri, "NeuralNetwork"]

    table = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="flopsight.server.showReport", arguments=[uri, "NeuralNetwork"]
        )
    )
    assert isinstance(table, str)
    assert "| Module |" in table
    # linear_relu_stack.0, Linear(784, 512), by hand in the ptflops convention: 784·512 weights'
    # MACs plus 512 for the bias = 401,920 MACs of 670,730 (59.9%); 401,920 params of 669,706
    # (60.0%).
    [row] = [r for r in table.splitlines() if "`0`" in r]
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    macs = 784 * 512 + 512
    assert (round(100 * macs / 670_730, 1), round(100 * macs / 669_706, 1)) == (59.9, 60.0)
    assert cells[1:6] == ["Linear", "401.92 KMac", "59.9%", "401.92 k", "60.0%"]
    assert "Computational complexity: 670.73 KMac" in table
    assert "Number of parameters: 669.71 k" in table

    report = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="flopsight.server.showReport",
            arguments=[uri, {"format": "json", "model": None}],
        )
    )
    assert report["schema"] == "flopsight.report/3"
    [model] = report["models"]
    assert model["total"]["macs"] == 670_730 and model["total"]["params"] == 669_706


async def test_error_lens(client: LanguageClient) -> None:
    recorder = await start(client)
    uri = open_text(client, DATA / "shape_mismatch.py")
    await recorder.analysed(uri)
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert lenses is not None
    [lens] = lenses
    assert lens.command is not None
    assert lens.command.title.startswith("flopsight: RuntimeError:")


async def test_instance_lens_for_the_seed_densenet(client: LanguageClient) -> None:
    # The seed article's figures for densenet161 at (1, 3, 224, 224), ptflops convention:
    # 7.82 GMac, 28.68 M params; FLOPs = 2 × MACs = 15.64 GFLOPs.
    recorder = await start(client, {"convention": "ptflops"})
    path = EXAMPLES / "seed_densenet.py"
    text = path.read_text()
    uri = open_text(client, path)
    await recorder.analysed(uri)
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    [lens] = lenses or []
    row = line_of(text, "net = models.densenet161()")
    assert lens.range.start.line == row
    assert lens.command is not None
    assert lens.command.title == "7.82 GMac · 15.64 GFLOPs · 28.68 M params · (1, 3, 224, 224)"
    # The instance line's hint is the model's total; the article's ptflops call at top level
    # could not run (it needs `net`, which flopsight builds itself): a warning, the count stands.
    hints = await inlay_hints(client, uri)
    assert hints[row] == "7.82 GMac · 28.68 M params"
    warned = [d for d in client.diagnostics[uri] if d.code == "FS203"]
    assert warned and warned[0].range.start.line == line_of(text, "get_model_complexity_info(")
