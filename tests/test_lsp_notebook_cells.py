"""Notebook hovers, reports and log lines speak in cells ("cell 3, line 6"), not joined lines.

Two ways a notebook reaches the server: as a notebook (VS Code's notebook sync), or as one text
document joining the code cells, as jupyterlab-lsp sends it (each cell and a newline, joined by two
blank lines), with ``flopsight/notebookCells`` from the JupyterLab extension naming the cells.

The seed notebook (examples/seed_mlp.ipynb): cell 1 markdown, cell 2 imports, cell 3 the model;
``nn.Linear(28 * 28, 512)`` is line 6 of cell 3, and ``logits = self.linear_relu_stack(x)`` line 15.
In jupyterlab-lsp's text cell 2 takes lines 1-3, lines 4-5 are blank, cell 3 starts at line 6: the
Linear is at line 11 and the forward line at line 20 of the joined text.
"""

from __future__ import annotations

import pytest_lsp
from flopsight.source.notebook import read_ipynb
from lsp_harness import EXAMPLES, SERVER, line_of, open_notebook, save, start
from lsprotocol import types
from pytest_lsp import LanguageClient

NOTEBOOK = EXAMPLES / "seed_mlp.ipynb"
CELLS = read_ipynb(NOTEBOOK)
# jupyterlab-lsp's IPython overrides turn `!cmd` and `%magic args` into calls, line for line.
IPYTHON = {
    "!pip install ptflops": 'get_ipython().getoutput("pip install ptflops")',
    "%timeit NeuralNetwork()(torch.randn(1, 28, 28))": (
        'get_ipython().run_line_magic("timeit", "NeuralNetwork()(torch.randn(1, 28, 28))")'
    ),
}
CODE = [
    (i, "\n".join(IPYTHON.get(line, line) for line in cell.text.split("\n")))
    for i, cell in enumerate(CELLS)
    if cell.kind == "code"
]
# jupyterlab-lsp's VirtualDocument: every cell's lines + "\n", joined with two blank lines.
JOINED = "\n\n".join(text + "\n" for _, text in CODE)
MODEL_CELL = CELLS[2].text


def spans() -> list[dict[str, int]]:
    out, start_line = [], 0
    for index, text in CODE:
        count = text.count("\n") + 1
        out.append({"index": index, "start": start_line, "lineCount": count})
        start_line += count + 2
    return out


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


def open_joined(client: LanguageClient) -> str:
    # jupyterlab-lsp sends the notebook's own URI (requires_documents_on_disk is false).
    uri = NOTEBOOK.resolve().as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=JOINED
            )
        )
    )
    return uri


def test_the_joined_text_puts_the_lines_where_the_docstring_says() -> None:
    lines = JOINED.splitlines()
    assert lines[10].strip() == "nn.Linear(28 * 28, 512),"  # line 11
    assert lines[19].strip() == "logits = self.linear_relu_stack(x)"  # line 20
    assert spans()[1] == {"index": 2, "start": 5, "lineCount": 16}


async def test_jupyterlab_text_document_hovers_name_cells_once_told(
    client: LanguageClient,
) -> None:
    recorder = await start(client, {"convention": "ptflops"})
    uri = open_joined(client)
    await recorder.analysed(uri)
    class_row = line_of(JOINED, "class NeuralNetwork")
    forward_row = line_of(JOINED, "logits = self.linear_relu_stack(x)")

    # Not told the cells (jupyterlab-lsp alone): lines of the text it sent.
    card = await hover(client, uri, class_row, 8)
    assert "`linear_relu_stack.0` (line 11)" in card

    # Malformed reports are ignored (the server answers on); then the real one.
    for bad in ({"uri": 3, "cells": "x"}, {"cells": [{"index": -1}]}, {"uri": uri, "cells": 7}):
        client.protocol.notify("flopsight/notebookCells", bad)
    assert "`linear_relu_stack.0` (line 11)" in await hover(client, uri, class_row, 8)
    client.protocol.notify("flopsight/notebookCells", {"uri": uri, "cells": spans()})
    card = await hover(client, uri, class_row, 8)
    assert "`linear_relu_stack.0` (cell 3, line 6)" in card
    assert "line 11" not in card
    # ptflops' figure for the seed MLP; its heaviest layer is 784·512 + 512 = 401,920 MACs.
    assert "670.73 KMac" in card and "401.92 KMac" in card
    forward = await hover(client, uri, forward_row, 12)
    assert forward.startswith("### cell 3, line 15 of NeuralNetwork.forward")

    report = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="flopsight.server.showReport", arguments=[uri])
    )
    assert isinstance(report, str)
    assert "(cell 3, line 1)" in report  # the class line, in the heading
    row = next(r for r in report.splitlines() if "`0` | Linear" in r)
    assert row.endswith("| 3:6 |"), row  # the Line column: cell 3, line 6

    # The save summary's log line names the class's cell too.
    # (a summary follows every analysis; the log lines come with the one after the save)
    count = recorder.count("flopsight/summary", uri)
    save(client, uri)
    await recorder.wait_for("flopsight/summary", uri, after=count)
    logs = [m.message for m in client.log_messages if "NeuralNetwork:" in m.message]
    assert logs and logs[-1].startswith(f"{NOTEBOOK.resolve()} (cell 3, line 1): NeuralNetwork:")


async def test_a_synced_notebook_hover_names_cells(client: LanguageClient) -> None:
    recorder = await start(client, {"convention": "ptflops"})
    uri, cell_uris = open_notebook(client, NOTEBOOK, [(c.kind, c.text) for c in CELLS], "c")
    await recorder.analysed(uri)
    card = await hover(client, cell_uris[2], line_of(MODEL_CELL, "class NeuralNetwork"), 8)
    assert "`linear_relu_stack.0` (cell 3, line 6)" in card
    forward = await hover(
        client, cell_uris[2], line_of(MODEL_CELL, "logits = self.linear_relu_stack(x)"), 12
    )
    assert forward.startswith("### cell 3, line 15 of NeuralNetwork.forward")
