"""Notebooks: the Python cells of a Jupyter notebook are analysed as one module; hints, hovers,
lenses, diagnostics and code actions land in the right cell.

The seed MLP notebook (examples/seed_mlp.ipynb): imports in one cell, the model in another, so
the class counts only because the cells run as one module. ptflops-convention figures by hand
(as in test_lsp_inlay_hints.py): Linear(784, 512) = 784·512 + 512 = 401,920 MACs of 670,730.
"""

from __future__ import annotations

import pytest_lsp
from flopsight.source.notebook import read_ipynb
from lsp_harness import EXAMPLES, NOTEBOOK_CAPABILITIES, SERVER, open_notebook, start
from lsprotocol import types
from pytest_lsp import LanguageClient

NOTEBOOK = EXAMPLES / "seed_mlp.ipynb"


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


async def test_notebook_cells_as_one_module(client: LanguageClient) -> None:
    recorder = await start(client, {"convention": "ptflops"}, capabilities=NOTEBOOK_CAPABILITIES)
    texts = [(c.kind, c.text) for c in read_ipynb(NOTEBOOK)]
    uri, cells = open_notebook(client, NOTEBOOK, texts)
    await recorder.analysed(uri)

    [(model_cell, model_text)] = [
        (cell, text) for cell, (kind, text) in zip(cells, texts, strict=True) if "class " in text
    ]
    hints = await client.text_document_inlay_hint_async(
        types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=model_cell),
            range=types.Range(start=types.Position(0, 0), end=types.Position(1000, 0)),
        )
    )
    lines = model_text.splitlines()
    by_row = {h.position.line: h.label for h in hints or []}
    first = next(i for i, line in enumerate(lines) if "nn.Linear(28 * 28, 512)" in line)
    assert by_row[first] == "401.92 KMac · 401.92 k params · 59.9%"
    for hint in hints or []:
        assert hint.position.character == len(lines[hint.position.line])

    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=model_cell))
    )
    [lens] = lenses or []
    assert lens.range.start.line == next(i for i, ln in enumerate(lines) if "class " in ln)
    assert lens.command is not None and lens.command.title.startswith("670.73 KMac")

    # Other cells get no hints of this model.
    for cell in cells:
        if cell != model_cell:
            other = await client.text_document_inlay_hint_async(
                types.InlayHintParams(
                    text_document=types.TextDocumentIdentifier(uri=cell),
                    range=types.Range(start=types.Position(0, 0), end=types.Position(1000, 0)),
                )
            )
            assert not other


async def test_notebook_diagnostics_and_actions_in_their_cell(client: LanguageClient) -> None:
    recorder = await start(client, capabilities=NOTEBOOK_CAPABILITIES)
    broken = (
        "class Broken(nn.Module):  # flopsight: input=(1, 32)\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc1 = nn.Linear(32, 64)\n"
        "        self.fc2 = nn.Linear(128, 10)\n"
        "\n"
        "    def forward(self, x):\n"
        "        return self.fc2(self.fc1(x))\n"
    )
    plain = (
        "class Plain(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(20, 5)\n"
        "\n"
        "    def forward(self, x):\n"
        "        return self.fc(x)\n"
    )
    texts = [("code", "import torch\nfrom torch import nn"), ("code", broken), ("code", plain)]
    uri, cells = open_notebook(client, NOTEBOOK, texts)
    await recorder.analysed(uri)
    # fc2 wants 128 features, fc1 gives 64: the error is on row 7 of the second cell.
    [error] = [d for d in client.diagnostics[cells[1]] if d.code == "FS202"]
    assert error.range.start.line == 7
    assert not [d for d in client.diagnostics.get(cells[0], []) if d.code == "FS202"]
    # The unannotated class in the third cell: its pragma goes on its own class line there.
    [hint] = [d for d in client.diagnostics[cells[2]] if d.code == "FS107"]
    assert hint.range.start.line == 0
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=cells[2]),
            range=types.Range(start=types.Position(0, 0), end=types.Position(0, 0)),
            context=types.CodeActionContext(diagnostics=[hint]),
        )
    )
    [action] = [a for a in result or [] if isinstance(a, types.CodeAction)]
    assert action.edit is not None and action.edit.changes is not None
    [edit] = action.edit.changes[cells[2]]
    assert isinstance(edit, types.TextEdit)
    assert edit.range.start == types.Position(0, len("class Plain(nn.Module):"))
    assert edit.new_text == "  # flopsight: input=(1, 20)"


def notebook_change(
    client: LanguageClient,
    uri: str,
    version: int,
    *,
    structure: types.NotebookDocumentCellChangeStructure | None = None,
    text: list[types.NotebookDocumentCellContentChanges] | None = None,
) -> None:
    client.notebook_document_did_change(
        types.DidChangeNotebookDocumentParams(
            notebook_document=types.VersionedNotebookDocumentIdentifier(version=version, uri=uri),
            change=types.NotebookDocumentChangeEvent(
                cells=types.NotebookDocumentCellChanges(structure=structure, text_content=text)
            ),
        )
    )


async def cell_hints(client: LanguageClient, cell: str) -> dict[int, str]:
    hints = await client.text_document_inlay_hint_async(
        types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=cell),
            range=types.Range(start=types.Position(0, 0), end=types.Position(1000, 0)),
        )
    )
    return {h.position.line: str(h.label) for h in hints or []}


def code_cell(uri: str) -> types.NotebookCell:
    return types.NotebookCell(kind=types.NotebookCellKind.Code, document=uri)


async def test_cell_edits_insertions_deletions_and_moves(client: LanguageClient) -> None:
    recorder = await start(client, {"debounceMs": 20}, capabilities=NOTEBOOK_CAPABILITIES)
    model = (
        "class Net(nn.Module):  # flopsight: input=(1, 16)\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(16, 4)\n"
        "\n"
        "    def forward(self, x):\n"
        "        return self.fc(x)\n"
    )
    uri, cells = open_notebook(
        client, NOTEBOOK, [("code", "from torch import nn"), ("code", model)]
    )
    await recorder.analysed(uri)
    # Linear(16, 4): 16·4 = 64 MACs, 16·4 + 4 = 68 params, the whole model.
    label = "64 Mac · 68 params · 100.0%"
    assert await cell_hints(client, cells[1]) == {3: label, 6: "64 Mac → [1, 4]"}
    assert await cell_hints(client, cells[0]) == {}

    # Two lines typed at the top of the model cell: the hints follow, then land anew.
    done = recorder.finished(uri)
    top = types.Position(0, 0)
    notebook_change(
        client,
        uri,
        2,
        text=[
            types.NotebookDocumentCellContentChanges(
                document=types.VersionedTextDocumentIdentifier(uri=cells[1], version=2),
                changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(start=top, end=top), text="import os\nimport sys\n"
                    )
                ],
            )
        ],
    )
    assert (await cell_hints(client, cells[1])).get(5) in (None, label)
    await recorder.analysed(uri, done)
    assert await cell_hints(client, cells[1]) == {5: label, 8: "64 Mac → [1, 4]"}

    # A new cell inserted between them: the hints stay in the model's cell.
    done = recorder.finished(uri)
    new_cell = f"vscode-notebook-cell:{NOTEBOOK.resolve()}#new"
    notebook_change(
        client,
        uri,
        3,
        structure=types.NotebookDocumentCellChangeStructure(
            array=types.NotebookCellArrayChange(
                start=1, delete_count=0, cells=[code_cell(new_cell)]
            ),
            did_open=[
                types.TextDocumentItem(
                    uri=new_cell, language_id="python", version=1, text="x = 1\ny = 2\n"
                )
            ],
        ),
    )
    assert await cell_hints(client, new_cell) == {}
    await recorder.analysed(uri, done)
    assert await cell_hints(client, cells[1]) == {5: label, 8: "64 Mac → [1, 4]"}
    assert await cell_hints(client, new_cell) == {}

    # The imports cell moved after the model: `nn` is not defined when the class is: an error
    # in the model's cell (FS205: its class statement failed, so no model by that name exists;
    # FS201 before the typed error kinds, though no __init__ ran), and no numbers.
    done = recorder.finished(uri)
    notebook_change(
        client,
        uri,
        4,
        structure=types.NotebookDocumentCellChangeStructure(
            array=types.NotebookCellArrayChange(
                start=0,
                delete_count=3,
                cells=[code_cell(new_cell), code_cell(cells[1]), code_cell(cells[0])],
            )
        ),
    )
    await recorder.analysed(uri, done)
    assert await cell_hints(client, cells[1]) == {}
    diags = client.diagnostics.get(cells[1], [])
    assert [d.range.start.line for d in diags if d.code == "FS205"] == [2]
    assert any("name 'nn' is not defined" in d.message for d in diags if d.code == "FS203")

    # The imports cell deleted: still an error; moved back first, the model counts again.
    done = recorder.finished(uri)
    notebook_change(
        client,
        uri,
        5,
        structure=types.NotebookDocumentCellChangeStructure(
            array=types.NotebookCellArrayChange(
                start=0,
                delete_count=3,
                cells=[code_cell(cells[0]), code_cell(new_cell), code_cell(cells[1])],
            )
        ),
    )
    await recorder.analysed(uri, done)
    assert await cell_hints(client, cells[1]) == {5: label, 8: "64 Mac → [1, 4]"}
    assert not [d for d in client.diagnostics.get(cells[1], []) if d.severity == 1]
    done = recorder.finished(uri)
    notebook_change(
        client,
        uri,
        6,
        structure=types.NotebookDocumentCellChangeStructure(
            array=types.NotebookCellArrayChange(start=0, delete_count=1, cells=[]),
            did_close=[types.TextDocumentIdentifier(uri=cells[0])],
        ),
    )
    await recorder.analysed(uri, done)
    assert await cell_hints(client, cells[1]) == {}
    assert [d for d in client.diagnostics.get(cells[1], []) if d.severity == 1]
