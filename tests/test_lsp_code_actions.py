"""Code actions end to end: insert a pragma guessed from the first layer, fix a pragma key;
after the edit, the model analyses and gets its hints."""

from __future__ import annotations

import pytest_lsp
from lsp_harness import DATA, SERVER, apply_edits, inlay_hints, line_of, open_text, start
from lsprotocol import types
from pytest_lsp import LanguageClient


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


async def actions_at(client: LanguageClient, uri: str, line: int) -> list[types.CodeAction]:
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line, 0), end=types.Position(line, 0)),
            context=types.CodeActionContext(diagnostics=list(client.diagnostics.get(uri, []))),
        )
    )
    return [a for a in result or [] if isinstance(a, types.CodeAction)]


def edits_of(action: types.CodeAction, uri: str) -> list[types.TextEdit]:
    assert action.edit is not None and action.edit.changes is not None
    return [e for e in action.edit.changes[uri] if isinstance(e, types.TextEdit)]


async def test_insert_pragma_then_the_model_counts(client: LanguageClient) -> None:
    recorder = await start(client)
    path = DATA / "unannotated.py"
    text = path.read_text()
    uri = open_text(client, path)
    await recorder.analysed(uri)
    row = line_of(text, "class Classifier")
    [action] = await actions_at(client, uri, row)
    # The first layer is nn.Linear(784, 128): the guessed input is (1, 784).
    assert "input=(1, 784)" in action.title
    assert action.kind == types.CodeActionKind.QuickFix
    new_text = apply_edits(text, edits_of(action, uri))
    assert new_text.splitlines()[row] == (
        "class Classifier(nn.Module):  # flopsight: input=(1, 784)"
    )

    done = recorder.finished(uri)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=new_text)],
        )
    )
    await recorder.analysed(uri, done)
    hints = await inlay_hints(client, uri)
    # macs convention: hidden = 784·128 = 100,352 MACs, 784·128 + 128 = 100,480 params;
    # out = 128·10 = 1,280 MACs; total 101,632 MACs; 100,352 / 101,632 = 98.74 %.
    assert hints[line_of(new_text, "self.hidden = nn.Linear")] == (
        "100.35 KMac · 100.48 k params · 98.7%"
    )
    assert hints[line_of(new_text, "return self.out")] == "101.63 KMac → [1, 10]"
    assert not [d for d in client.diagnostics[uri] if d.code == "FS107"]


async def test_fix_unknown_pragma_key(client: LanguageClient) -> None:
    recorder = await start(client)
    path = DATA / "pragma_errors.py"
    text = path.read_text()
    uri = open_text(client, path)
    await recorder.analysed(uri)
    row = line_of(text, "inptu=")
    [action] = [a for a in await actions_at(client, uri, row) if "pragma key" in a.title]
    new_text = apply_edits(text, edits_of(action, uri))
    assert new_text.splitlines()[row].endswith("# flopsight: input=(1, 16)")

    done = recorder.finished(uri)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=new_text)],
        )
    )
    await recorder.analysed(uri, done)
    hints = await inlay_hints(client, uri)
    # Typo now counts: Linear(16, 4) = 16·4 = 64 MACs, 16·4 + 4 = 68 params.
    assert hints[line_of(new_text, "self.fc = nn.Linear(16, 4)")] == "64 Mac · 68 params · 100.0%"
    assert not [d for d in client.diagnostics[uri] if d.code == "FS103"]
