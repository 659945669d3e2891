"""Shared by the tests/test_lsp_*.py files: a pytest-lsp client driving the real server
(``python -m flopsight.lsp``) over stdio, which records what the server sends."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DATA = ROOT / "tests" / "data" / "lsp"
SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "flopsight.lsp"])

# Small and quick for tests; a fresh host imports torch once per server (a few seconds).
TEST_SETTINGS: dict[str, Any] = {
    "debounceMs": 20,
    "limits": {"timeoutSeconds": 60, "memoryMB": 8192},
    # Lenses don't depend on the work tree's git state; test_compare_with_git.py turns it on.
    "compareWith": "none",
}

CAPABILITIES = types.ClientCapabilities(
    workspace=types.WorkspaceClientCapabilities(
        configuration=True,
        inlay_hint=types.InlayHintWorkspaceClientCapabilities(refresh_support=True),
        code_lens=types.CodeLensWorkspaceClientCapabilities(refresh_support=True),
        did_change_configuration=types.DidChangeConfigurationClientCapabilities(),
    ),
    window=types.WindowClientCapabilities(work_done_progress=True),
    text_document=types.TextDocumentClientCapabilities(
        inlay_hint=types.InlayHintClientCapabilities(),
        hover=types.HoverClientCapabilities(
            content_format=[types.MarkupKind.Markdown, types.MarkupKind.PlainText]
        ),
        code_lens=types.CodeLensClientCapabilities(),
        code_action=types.CodeActionClientCapabilities(
            code_action_literal_support=types.ClientCodeActionLiteralOptions(
                code_action_kind=types.ClientCodeActionKindOptions(
                    value_set=[types.CodeActionKind.QuickFix]
                )
            )
        ),
        publish_diagnostics=types.PublishDiagnosticsClientCapabilities(),
        synchronization=types.TextDocumentSyncClientCapabilities(did_save=True),
    ),
)


# The same, for a client that syncs notebooks (notebookDocument/*).
NOTEBOOK_CAPABILITIES = types.ClientCapabilities(
    workspace=CAPABILITIES.workspace,
    window=CAPABILITIES.window,
    text_document=CAPABILITIES.text_document,
    notebook_document=types.NotebookDocumentClientCapabilities(
        synchronization=types.NotebookDocumentSyncClientCapabilities()
    ),
)


class Recorder:
    """What the server sent besides responses: custom notifications and refresh requests."""

    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.events: list[tuple[str, Any]] = []
        for method in (
            "flopsight/analysisStarted",
            "flopsight/analysisFinished",
            "flopsight/summary",
            "flopsight/compared",
            "flopsight/scaled",
        ):
            client.feature(method)(self._recorder(method))
        client.feature(types.WORKSPACE_INLAY_HINT_REFRESH)(self._recorder("inlayHintRefresh"))
        client.feature(types.WORKSPACE_CODE_LENS_REFRESH)(self._recorder("codeLensRefresh"))

    def _recorder(self, name: str) -> Callable[..., None]:
        def record(_client: LanguageClient, params: Any = None) -> None:
            self.events.append((name, params))

        return record

    def of(self, name: str, uri: str | None = None) -> list[Any]:
        return [
            params
            for event, params in self.events
            if event == name and (uri is None or _get(params, "uri") == uri)
        ]

    def count(self, name: str, uri: str | None = None) -> int:
        return len(self.of(name, uri))

    def finished(self, uri: str) -> int:
        """Analyses of ``uri`` that ran to the end (not superseded by a newer edit)."""
        return sum(
            1 for p in self.of("flopsight/analysisFinished", uri) if not _get(p, "cancelled")
        )

    async def until(self, condition: Callable[[], bool], timeout: float = 120.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            if loop.time() > deadline:
                raise TimeoutError("the server did not send what the test waits for")
            await asyncio.sleep(0.02)

    async def wait_for(self, name: str, uri: str | None = None, after: int = 0) -> Any:
        """The ``after``-th (0-based) event ``name`` (for ``uri``), once it came."""
        await self.until(lambda: self.count(name, uri) > after)
        return self.of(name, uri)[after]

    async def analysed(self, uri: str, done_before: int = 0) -> None:
        """Waits until more than ``done_before`` analyses of ``uri`` have run to the end."""
        await self.until(lambda: self.finished(uri) > done_before)


def _get(params: Any, key: str) -> Any:
    if isinstance(params, dict):
        return params.get(key)
    return getattr(params, key, None)


async def start(
    client: LanguageClient,
    settings: dict[str, Any] | None = None,
    *,
    init_options: bool = False,
    capabilities: types.ClientCapabilities = CAPABILITIES,
    root: Path = ROOT,
) -> Recorder:
    """Initializes the session; settings go to workspace/configuration or initializationOptions."""
    section = {**TEST_SETTINGS, **(settings or {})}
    recorder = Recorder(client)
    if not init_options:
        client.set_configuration(section, section="flopsight")
    await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities,
            root_uri=root.as_uri(),
            initialization_options={"flopsight": section} if init_options else None,
        )
    )
    return recorder


def open_text(client: LanguageClient, path: Path, text: str | None = None, version: int = 1) -> str:
    uri = path.resolve().as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri,
                language_id="python",
                version=version,
                text=path.read_text() if text is None else text,
            )
        )
    )
    return uri


def open_notebook(
    client: LanguageClient, path: Path, texts: list[tuple[str, str]], prefix: str = "cell"
) -> tuple[str, list[str]]:
    """notebookDocument/didOpen of ``path`` with cells of ``(kind, text)`` ("code" or
    "markdown"); the notebook's URI and its cells' (``vscode-notebook-cell:PATH#cellN``)."""
    uri = path.resolve().as_uri()
    cells = [f"vscode-notebook-cell:{path.resolve()}#{prefix}{i}" for i in range(len(texts))]
    client.notebook_document_did_open(
        types.DidOpenNotebookDocumentParams(
            notebook_document=types.NotebookDocument(
                uri=uri,
                notebook_type="jupyter-notebook",
                version=1,
                cells=[
                    types.NotebookCell(
                        kind=types.NotebookCellKind.Code
                        if kind == "code"
                        else types.NotebookCellKind.Markup,
                        document=cell,
                    )
                    for cell, (kind, _) in zip(cells, texts, strict=True)
                ],
            ),
            cell_text_documents=[
                types.TextDocumentItem(
                    uri=cell,
                    language_id="python" if kind == "code" else "markdown",
                    version=1,
                    text=text,
                )
                for cell, (kind, text) in zip(cells, texts, strict=True)
            ],
        )
    )
    return uri, cells


def replace_all(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


def insert(client: LanguageClient, uri: str, line: int, col: int, text: str, version: int) -> None:
    pos = types.Position(line=line, character=col)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(start=pos, end=pos), text=text
                )
            ],
        )
    )


def save(client: LanguageClient, uri: str) -> None:
    client.text_document_did_save(
        types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )


async def inlay_hints(client: LanguageClient, uri: str, last_line: int = 10_000) -> dict[int, str]:
    """``{0-based line: label}``."""
    hints = await client.text_document_inlay_hint_async(
        types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(
                start=types.Position(line=0, character=0),
                end=types.Position(line=last_line, character=0),
            ),
        )
    )
    out: dict[int, str] = {}
    for hint in hints or []:
        assert isinstance(hint.label, str)
        out[hint.position.line] = hint.label
    return out


async def inlay_hint_objects(client: LanguageClient, uri: str) -> list[types.InlayHint]:
    hints = await client.text_document_inlay_hint_async(
        types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(
                start=types.Position(line=0, character=0),
                end=types.Position(line=10_000, character=0),
            ),
        )
    )
    return list(hints or [])


def line_of(text: str, needle: str) -> int:
    """0-based line of the first line containing ``needle``."""
    for i, line in enumerate(re.split(r"\r\n|\r|\n", text)):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in text")


def apply_edits(text: str, edits: list[types.TextEdit]) -> str:
    """The text after ``edits`` (ASCII text: columns are characters); last edit first."""
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def offset(pos: types.Position) -> int:
        return offsets[min(pos.line, len(lines))] + pos.character

    for edit in sorted(edits, key=lambda e: offset(e.range.start), reverse=True):
        start, end = offset(edit.range.start), offset(edit.range.end)
        text = text[:start] + edit.new_text + text[end:]
    return text
