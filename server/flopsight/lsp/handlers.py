"""The language server's features (pygls 2): one thin handler per LSP method.

Each handler turns LSP params into a call on a protocol-free module (``hints``, ``hover``,
``lens``, ``diagnostics``, ``actions``) over the session's re-anchored reports. The server never
imports torch: models run in the worker (``flopsight.worker``).

Besides the standard features it sends five notifications a client may use for a status bar:

``flopsight/analysisStarted`` ``{"uri": str}``
    a round of analysis of the document began (jobs were sent to the worker).
``flopsight/analysisFinished`` ``{"uri": str, "cancelled": bool}``
    that round ended (``cancelled``: a newer edit superseded it).
``flopsight/compared`` ``{"uri": str, "rev": str}``
    after a round, the comparison with ``flopsight.compareWith`` is in (lenses refreshed).
``flopsight/scaled`` ``{"uri": str, "model": str}``
    after a round, that model's counts at other values of its symbolic dimensions are in (the
    class line's hover shows how its MACs grow).
``flopsight/summary`` (after each save, once the analysis of the saved text is in)::

    {"uri": str,
     "models": [{"name": str, "line": int (0-based), "status": "ok" | "error" | "skipped",
                 "macs": int | null, "flops": int | null, "params": int | null,
                 "label": str (the code lens title, or the error), "error": str | null}],
     "heaviest": <one of models, the ok model with the most MACs> | null,
     "text": str (e.g. "NeuralNetwork: 670.73 KMac · 669.71 k")}

The same summary goes to ``window/logMessage``, one line per model. The command
``flopsight.showReport`` (arguments ``[uri, model name]``) returns the model's per-layer table as
markdown.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from flopsight import __version__
from flopsight.lsp import actions, hover, lens
from flopsight.lsp.hints import document_hints, to_inlay_hints
from flopsight.lsp.notebooks import NotebookText
from flopsight.lsp.positions import index
from flopsight.lsp.session import Analyser, OpenDocument, Session, uri_to_path
from flopsight.settings import Settings
from flopsight.source.notebook import NotebookCell

log = logging.getLogger(__name__)


def make_analyser(settings: Settings) -> Analyser:
    from flopsight.worker import WorkerPool

    pool: Analyser = WorkerPool(python=settings.python)
    return pool


# Jupyter notebooks are synced as notebooks: their Python cells are analysed as one module.
NOTEBOOK_SYNC = types.NotebookDocumentSyncOptions(
    notebook_selector=[
        types.NotebookDocumentFilterWithCells(
            notebook="jupyter-notebook", cells=[types.NotebookCellLanguage(language="python")]
        )
    ],
    save=True,
)


class FlopsightServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("flopsight", __version__, notebook_document_sync=NOTEBOOK_SYNC)
        self.session = Session(_Hooks(self), make_analyser)


class _Hooks:
    """The session's view of the client."""

    def __init__(self, server: LanguageServer) -> None:
        self.server = server

    def _caps(self) -> types.ClientCapabilities:
        return self.server.client_capabilities

    def publish(self, uri: str, diagnostics: list[types.Diagnostic], version: int | None) -> None:
        self.server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=version)
        )

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self.server.protocol.notify(method, params)

    def log(self, message: str) -> None:
        self.server.window_log_message(
            types.LogMessageParams(type=types.MessageType.Info, message=message)
        )

    def refresh(self) -> None:
        workspace = self._caps().workspace
        if workspace is None:
            return
        if workspace.inlay_hint is not None and workspace.inlay_hint.refresh_support:
            self.server.workspace_inlay_hint_refresh(None)
        if workspace.code_lens is not None and workspace.code_lens.refresh_support:
            self.server.workspace_code_lens_refresh(None)

    async def progress_begin(self, title: str, message: str) -> object | None:
        window = self._caps().window
        if window is None or not window.work_done_progress:
            return None
        token = f"flopsight-{uuid.uuid4().hex[:12]}"
        await self.server.window_work_done_progress_create_async(
            types.WorkDoneProgressCreateParams(token=token)
        )
        self.server.progress(
            types.ProgressParams(
                token=token,
                value=types.WorkDoneProgressBegin(title=title, message=message, cancellable=False),
            )
        )
        return token

    def progress_end(self, token: object, message: str) -> None:
        assert isinstance(token, str)
        self.server.progress(
            types.ProgressParams(token=token, value=types.WorkDoneProgressEnd(message=message))
        )


server = FlopsightServer()


def _section(options: Any) -> dict[str, Any] | None:
    """The ``flopsight`` settings from initializationOptions or a didChangeConfiguration payload."""
    if not isinstance(options, dict):
        return None
    inner = options.get("flopsight")
    return inner if isinstance(inner, dict) else options


async def _pull_configuration(ls: FlopsightServer) -> None:
    workspace = ls.client_capabilities.workspace
    if workspace is None or not workspace.configuration:
        return
    try:
        result = await ls.workspace_configuration_async(
            types.ConfigurationParams(items=[types.ConfigurationItem(section="flopsight")])
        )
    except Exception as exc:  # a client without the section keeps the defaults
        log.warning("workspace/configuration failed: %s", exc)
        return
    if result and isinstance(result[0], dict):
        ls.session.settings_changed(Settings.from_lsp(result[0], ls.session.settings))


@server.feature(types.INITIALIZE)
def initialize(ls: FlopsightServer, params: types.InitializeParams) -> None:
    session = ls.session
    session.settings = Settings.from_lsp(_section(params.initialization_options))
    folders = params.workspace_folders or []
    root_uri = folders[0].uri if folders else params.root_uri
    session.root = uri_to_path(root_uri) if root_uri else params.root_path
    session.utf16 = ls.workspace.position_encoding in (None, types.PositionEncodingKind.Utf16)


@server.feature(types.INITIALIZED)
async def initialized(ls: FlopsightServer, params: types.InitializedParams) -> None:
    try:
        await _pull_configuration(ls)
    finally:
        ls.session.configured.set()
    ls.session.warm_up()


@server.feature(types.SHUTDOWN)
def shutdown(ls: FlopsightServer, params: None) -> None:
    ls.session.shutdown()


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
async def did_change_configuration(
    ls: FlopsightServer, params: types.DidChangeConfigurationParams
) -> None:
    section = _section(params.settings)
    if section and any(k in section for k in Settings().to_lsp()):
        ls.session.settings_changed(Settings.from_lsp(section, ls.session.settings))
    else:
        await _pull_configuration(ls)


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: FlopsightServer, params: types.DidOpenTextDocumentParams) -> None:
    doc = params.text_document
    ls.session.opened(doc.uri, ls.workspace.get_text_document(doc.uri).source, doc.version)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: FlopsightServer, params: types.DidChangeTextDocumentParams) -> None:
    doc = params.text_document
    ls.session.changed(doc.uri, ls.workspace.get_text_document(doc.uri).source, doc.version)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
def did_save(ls: FlopsightServer, params: types.DidSaveTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.session.saved(uri, ls.workspace.get_text_document(uri).source)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: FlopsightServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.session.closed(params.text_document.uri)


def _notebook(ls: FlopsightServer, uri: str) -> NotebookText | None:
    notebook = ls.workspace.get_notebook_document(notebook_uri=uri)
    if notebook is None:
        return None
    cells = []
    for cell in notebook.cells:
        code = cell.kind == types.NotebookCellKind.Code
        text = ls.workspace.get_text_document(cell.document).source
        cells.append(NotebookCell(text=text, kind="code" if code else "markdown", id=cell.document))
    return NotebookText.build(notebook.uri, cells)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
def notebook_did_open(ls: FlopsightServer, params: types.DidOpenNotebookDocumentParams) -> None:
    notebook = _notebook(ls, params.notebook_document.uri)
    if notebook is not None:
        ls.session.notebook_opened(notebook, params.notebook_document.version)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
def notebook_did_change(ls: FlopsightServer, params: types.DidChangeNotebookDocumentParams) -> None:
    notebook = _notebook(ls, params.notebook_document.uri)
    if notebook is not None:
        ls.session.notebook_changed(notebook, params.notebook_document.version)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_SAVE)
def notebook_did_save(ls: FlopsightServer, params: types.DidSaveNotebookDocumentParams) -> None:
    ls.session.saved(params.notebook_document.uri, None)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
def notebook_did_close(ls: FlopsightServer, params: types.DidCloseNotebookDocumentParams) -> None:
    ls.session.closed(params.notebook_document.uri)


def _located(ls: FlopsightServer, uri: str) -> tuple[OpenDocument, str | None] | None:
    return ls.session.locate(uri)


@server.feature(types.TEXT_DOCUMENT_INLAY_HINT, types.InlayHintOptions(resolve_provider=False))
def inlay_hint(ls: FlopsightServer, params: types.InlayHintParams) -> list[types.InlayHint]:
    session = ls.session
    found = _located(ls, params.text_document.uri)
    if found is None or not session.settings.inlay_hints_enabled:
        return []
    doc, cell = found
    view = session.view(doc.uri)
    if view is None:
        return []
    hints = document_hints(view.models, session.hint_options())
    rng = params.range
    if cell is None or doc.notebook is None:
        lines = doc.text.splitlines()
        return to_inlay_hints(hints, lines, rng.start.line, rng.end.line, session.utf16)
    in_cell = []
    for hint in hints:
        where = doc.notebook.to_cell_row(hint.line)
        if where is not None and where[0] == cell:
            in_cell.append(replace(hint, line=where[1] + 1))
    lines = doc.notebook.cell_text(cell).splitlines()
    return to_inlay_hints(in_cell, lines, rng.start.line, rng.end.line, session.utf16)


@server.feature(types.TEXT_DOCUMENT_HOVER)
def on_hover(ls: FlopsightServer, params: types.HoverParams) -> types.Hover | None:
    session = ls.session
    found = _located(ls, params.text_document.uri)
    if found is None:
        return None
    doc, cell = found
    view = session.view(doc.uri)
    if view is None:
        return None
    row: int | None = params.position.line
    if cell is not None and doc.notebook is not None:
        line = doc.notebook.to_virtual_line(cell, params.position.line)
        row = None if line is None else line - 1
    lines = doc.text.splitlines()
    if row is None or row >= len(lines):
        return None
    col = index(lines[row], params.position.character, session.utf16)
    found_card = hover.hover_markdown(view, session.source(doc), row + 1, col, lines[row])
    if found_card is None:
        return None
    markdown, _line = found_card
    return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=markdown))


@server.feature(types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensOptions(resolve_provider=False))
def code_lens(ls: FlopsightServer, params: types.CodeLensParams) -> list[types.CodeLens]:
    found = _located(ls, params.text_document.uri)
    if found is None:
        return []
    doc, cell = found
    view = ls.session.view(doc.uri)
    if view is None:
        return []
    out = []
    for item in lens.lenses(view, ls.session.baselines.of(doc.uri)):
        row = item.line - 1
        if cell is not None and doc.notebook is not None:
            where = doc.notebook.to_cell_row(item.line)
            if where is None or where[0] != cell:
                continue
            row = where[1]
        pos = types.Position(line=row, character=0)
        out.append(
            types.CodeLens(
                range=types.Range(start=pos, end=pos),
                command=types.Command(
                    title=item.title, command=lens.SHOW_REPORT, arguments=[doc.uri, item.model]
                ),
            )
        )
    return out


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
)
def code_action(ls: FlopsightServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    session = ls.session
    found = _located(ls, params.text_document.uri)
    if found is None:
        return []
    doc, cell = found
    rng: types.Range | None = params.range
    if cell is not None and doc.notebook is not None:
        rng = doc.notebook.to_virtual_range(cell, params.range)
    if rng is None:
        return []
    found_actions = actions.code_actions(
        doc.uri, doc.text, session.source(doc), rng, session.utf16, session.view(doc.uri)
    )
    if doc.notebook is None:
        return found_actions
    return [a for a in (_to_cells(doc.notebook, doc.uri, a) for a in found_actions) if a]


def _to_cells(
    notebook: NotebookText, uri: str, action: types.CodeAction
) -> types.CodeAction | None:
    """A code action on a notebook's virtual text, its edits moved into the cells."""
    if action.edit is None or action.edit.changes is None:
        return action
    changes: dict[str, list[types.TextEdit]] = {}
    for edit in action.edit.changes.get(uri, []):
        mapped = notebook.map_edit(edit) if isinstance(edit, types.TextEdit) else None
        if mapped is None:
            return None
        changes.setdefault(mapped[0], []).append(mapped[1])
    action.edit = types.WorkspaceEdit(changes=changes)
    return action


@server.command(lens.SHOW_REPORT)
def show_report(ls: FlopsightServer, *args: Any) -> str | dict[str, Any]:
    """``[uri, model]`` -> the model's per-layer table as markdown (every model without a name);
    ``[uri, {"format": "json", "model": name | null}]`` -> the report as JSON, lines as now."""
    uri = str(args[0]) if args else ""
    options = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
    name = options.get("model") if options else (str(args[1]) if len(args) > 1 else None)
    found = _located(ls, uri)
    if found is not None:
        uri = found[0].uri  # a notebook's cell: the notebook
    return lens.show_report(ls.session.view(uri), uri_to_path(uri), name, options.get("format"))


@server.command(lens.MEASURE)
def measure(ls: FlopsightServer, *args: Any) -> str:
    """``[uri]`` (or nothing: every open document): time the models now; the figures join the
    hover cards when the analysis is in."""
    uri = str(args[0]) if args and isinstance(args[0], str) else None
    if ls.session.measure(uri):
        return f"flopsight: measuring the models of {uri_to_path(uri) if uri else 'open files'}"
    return "flopsight: nothing to measure (open a Python file with a model; flopsight.execute on)"
