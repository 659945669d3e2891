"""The language server's features (pygls 2): one thin handler per LSP method.

Each handler turns LSP params into a call on a protocol-free module (``hints``, ``hover``,
``lens``, ``diagnostics``, ``actions``) over the session's re-anchored reports. The server never
imports torch: models run in the worker (``flopsight.worker``).

Besides the standard features it sends five notifications a client may use for a status bar.
Every figure in them is a display string made here (``flopsight.report.units``); a client shows
them as they are and computes nothing:

``flopsight/analysisStarted`` ``{"uri": str}``
    a round of analysis of the document began (jobs were sent to the worker).
``flopsight/summary`` (after every round that ran to the end, before analysisFinished)::
``flopsight/compared`` ``{"uri": str, "rev": str}``
    after a round, the comparison with ``flopsight.compareWith`` is in (lenses refreshed).
``flopsight/scaled`` ``{"uri": str, "model": str}``
    after a round, that model's counts at other values of its symbolic dimensions are in (the
    class line's hover shows how its MACs grow).

    {"uri": str,
     "models": [{"name": str (the pragma's name= or the class/variable), "line": int (0-based),
                 "status": "ok" | "error" | "skipped",
                 "macs": int | null, "flops": int | null, "params": int | null,
                 "label": str (the code lens title, or the error), "error": str | null,
                 "cost": str | null (e.g. "670.73 KMac · 669.71 k"; null unless counted),
                 "detail": str (e.g. "NeuralNetwork (line 7): 670.73 KMac · 1.34 MFLOPs ·
                                669.71 k params", or why there are no figures)}],
     "heaviest": <one of models, the counted model with the most MACs> | null,
     "text": str (one log line, e.g. "NeuralNetwork: 670.73 KMac · 669.71 k"),
     "status": {"text": str (e.g. "⚡ 670.73 KMac · 669.71 k"), "tooltip": str,
                "warning": bool (a model failed)} | null (no models: nothing to show),
     "lines": [str] (each model's detail, for a tooltip while a newer round runs)}

    On save the models also go to ``window/logMessage``, one line each.
``flopsight/analysisFinished`` ``{"uri": str, "cancelled": bool}``
    that round ended (``cancelled``: a newer edit superseded it).

Commands (ids of the server's own, so that an editor's commands never collide with them):

``flopsight.server.showReport``
    ``[uri, model name]`` -> the model's per-layer table as markdown (every model without a
    name); ``[uri, {"format": "json" | "view", "model": name | null}]`` -> the FileReport JSON
    (lines as now), or the report page's display strings (``flopsight.lsp.summary.report_view``:
    per model ``title``, ``facts`` [[label, text]], ``rows`` of the layer tree, ``bars`` of the
    heaviest layers, ``error``, ``uncounted``, ``memory`` (the chart of the live bytes over the
    step when memory is tracked, else null: ``summary.memory_chart``); the file's ``warnings``
    and ``notes``).
``flopsight.server.measure``
    ``[uri]`` (or nothing: every open document): time the models now.
``flopsight.server.stats``
    ``{"documents": int, "texts": int, "lineMapCacheEntries": int, "lineMapCacheChars": int}``:
    what the server holds (open documents, synced texts, cached line maps), for benchmarks.

From a client that joins a notebook's cells into one text document (jupyterlab-lsp; the
JupyterLab extension sends it) the server takes ``flopsight/notebookCells``
``{"uri": str, "cells": [{"index": int, "start": int, "lineCount": int}]}`` (``index``: the
cell's place in the notebook, markdown cells counted; ``start``: its first line in the text,
0-based), so hovers and messages say "cell 3, line 6" instead of a line of the joined text.

``flopsight/activeDocument`` ``{"uri": str}`` (the VS Code extension sends it when the active
editor changes) says which document the user looks at: when it has models of its own, the
hints of the other files its models run follow them (several models may run one file).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from flopsight import __version__
from flopsight.lsp import actions, elsewhere, hover, lens
from flopsight.lsp.hints import LineHint, document_hints, to_inlay_hints
from flopsight.lsp.notebooks import NotebookText
from flopsight.lsp.positions import index
from flopsight.lsp.protocol import TextSyncProtocol
from flopsight.lsp.session import Analyser, OpenDocument, Session, uri_to_path
from flopsight.lsp.summary import report_view
from flopsight.lsp.sync import DocumentTexts
from flopsight.report.table import PLAIN
from flopsight.settings import Settings
from flopsight.source.notebook import CellSpan, NotebookCell
from flopsight.source.text import split_lines

log = logging.getLogger(__name__)

STATS = "flopsight.server.stats"


def make_analyser(settings: Settings) -> Analyser:
    from flopsight.worker import WorkerPool

    pool: Analyser = WorkerPool(python=settings.python, sandbox=settings.sandbox)
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
        super().__init__(
            "flopsight",
            __version__,
            notebook_document_sync=NOTEBOOK_SYNC,
            protocol_cls=TextSyncProtocol,
        )
        self.session = Session(_Hooks(self), make_analyser)
        # The documents' texts by the protocol's line definition (see flopsight.lsp.sync).
        self.texts = DocumentTexts()


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


def _read_settings(ls: FlopsightServer, section: object, base: Settings | None) -> Settings:
    """The settings of ``section`` over ``base``; each value not used is a warning naming it."""
    settings, problems = Settings.read(section, base)
    for problem in problems:
        log.warning("%s", problem)
        ls.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Warning, message=str(problem))
        )
    return settings


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
    if result and result[0] is not None:
        ls.session.settings_changed(_read_settings(ls, result[0], ls.session.settings))


@server.feature(types.INITIALIZE)
def initialize(ls: FlopsightServer, params: types.InitializeParams) -> None:
    session = ls.session
    session.settings = _read_settings(ls, _section(params.initialization_options), None)
    folders = params.workspace_folders or []
    root_uri = folders[0].uri if folders else params.root_uri
    session.root = uri_to_path(root_uri) if root_uri else params.root_path
    session.utf16 = ls.workspace.position_encoding in (None, types.PositionEncodingKind.Utf16)
    ls.texts.utf16 = session.utf16


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
        ls.session.settings_changed(_read_settings(ls, section, ls.session.settings))
    else:
        await _pull_configuration(ls)


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: FlopsightServer, params: types.DidOpenTextDocumentParams) -> None:
    doc = params.text_document
    ls.session.opened(doc.uri, ls.texts.open(doc.uri, doc.text, doc.version), doc.version)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: FlopsightServer, params: types.DidChangeTextDocumentParams) -> None:
    doc = params.text_document
    text = ls.texts.change(doc.uri, params.content_changes, doc.version)
    ls.session.changed(doc.uri, text, doc.version)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
def did_save(ls: FlopsightServer, params: types.DidSaveTextDocumentParams) -> None:
    uri = params.text_document.uri
    text = ls.texts.text(uri)
    if params.text is not None:
        text = ls.texts.open(uri, params.text)
    ls.session.saved(uri, text)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: FlopsightServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.texts.close(params.text_document.uri)
    ls.session.closed(params.text_document.uri)


def _notebook(ls: FlopsightServer, uri: str) -> NotebookText | None:
    """The notebook's cells (order and kind as pygls keeps them; texts from ``ls.texts``)."""
    notebook = ls.workspace.get_notebook_document(notebook_uri=uri)
    if notebook is None:
        return None
    cells = []
    for cell in notebook.cells:
        code = cell.kind == types.NotebookCellKind.Code
        text = ls.texts.text(cell.document) or ""
        cells.append(NotebookCell(text=text, kind="code" if code else "markdown", id=cell.document))
    return NotebookText.build(notebook.uri, cells)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
def notebook_did_open(ls: FlopsightServer, params: types.DidOpenNotebookDocumentParams) -> None:
    for cell in params.cell_text_documents:
        ls.texts.open(cell.uri, cell.text, cell.version)
    notebook = _notebook(ls, params.notebook_document.uri)
    if notebook is not None:
        ls.session.notebook_opened(notebook, params.notebook_document.version)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
def notebook_did_change(ls: FlopsightServer, params: types.DidChangeNotebookDocumentParams) -> None:
    cells = params.change.cells
    if cells is not None:
        structure = cells.structure
        for opened in (structure.did_open or []) if structure else []:
            ls.texts.open(opened.uri, opened.text, opened.version)
        for closed in (structure.did_close or []) if structure else []:
            ls.texts.close(closed.uri)
        for content in cells.text_content or []:
            ls.texts.change(content.document.uri, content.changes, content.document.version)
    notebook = _notebook(ls, params.notebook_document.uri)
    if notebook is not None:
        ls.session.notebook_changed(notebook, params.notebook_document.version)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_SAVE)
def notebook_did_save(ls: FlopsightServer, params: types.DidSaveNotebookDocumentParams) -> None:
    ls.session.saved(params.notebook_document.uri, None)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
def notebook_did_close(ls: FlopsightServer, params: types.DidCloseNotebookDocumentParams) -> None:
    for cell in params.cell_text_documents:
        ls.texts.close(cell.uri)
    ls.session.closed(params.notebook_document.uri)


def _field(obj: Any, name: str) -> Any:
    """A field of a custom notification's params (pygls gives namedtuples; tests may send dicts)."""
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


@server.feature("flopsight/activeDocument")
def active_document(ls: FlopsightServer, params: Any) -> None:
    uri = _field(params, "uri")
    if isinstance(uri, str) and ls.session.looked_at(uri):
        ls.session.client.refresh()


@server.feature("flopsight/notebookCells")
def notebook_cells(ls: FlopsightServer, params: Any) -> None:
    uri, cells = _field(params, "uri"), _field(params, "cells")
    spans = []
    for i, cell in enumerate(cells if isinstance(cells, list | tuple) else []):
        index, start, count = (_field(cell, k) for k in ("index", "start", "lineCount"))
        if all(isinstance(v, int) and v >= 0 for v in (index, start, count)):
            spans.append(
                CellSpan(index=index, id=f"cell {i + 1}", start=start + 1, line_count=count)
            )
    if isinstance(uri, str):
        ls.session.cells_reported(uri, spans)


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
        hints = _with_elsewhere(session, doc, hints)
        lines = split_lines(doc.text)
        return to_inlay_hints(hints, lines, rng.start.line, rng.end.line, session.utf16)
    in_cell = []
    for hint in hints:
        where = doc.notebook.to_cell_row(hint.line)
        if where is not None and where[0] == cell:
            in_cell.append(replace(hint, line=where[1] + 1))
    lines = split_lines(doc.notebook.cell_text(cell))
    return to_inlay_hints(in_cell, lines, rng.start.line, rng.end.line, session.utf16)


def _with_elsewhere(session: Session, doc: OpenDocument, own: list[LineHint]) -> list[LineHint]:
    """The document's own hints, then on other lines those of the model (of another document)
    that runs this file and that the user last looked at or edited."""
    rel = session.relative(doc)
    uses = session.uses(doc) if rel is not None else []
    if not uses or rel is None:
        return own
    taken = {hint.line for hint in own}
    extra = [
        h for h in elsewhere.hints(uses[0], rel, session.hint_options()) if h.line not in taken
    ]
    return sorted([*own, *extra], key=lambda h: h.line)


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
    lines = split_lines(doc.text)
    if row is None or row >= len(lines):
        return None
    col = index(lines[row], params.position.character, session.utf16)
    names = session.line_names(doc)
    source = session.source(doc)
    found_card = hover.hover_markdown(view, source, row + 1, col, lines[row], names)
    if found_card is None:
        rel = session.relative(doc) if cell is None else None
        card = elsewhere.hover(session.uses(doc), rel, row + 1) if rel is not None else None
        if card is None:
            return None
        found_card = (card, row + 1)
    elif source is not None:
        # Hovering a model's name makes it the one other files' hints follow.
        for spec in source.models:
            if spec.line == row + 1 and view.model(spec.name) is not None:
                session.focus = (doc.uri, spec.name)
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
    items = lens.lenses(view, ls.session.baselines.of(doc.uri))
    rel = ls.session.relative(doc) if cell is None else None
    uses = ls.session.uses(doc) if rel is not None else []
    source = ls.session.source(doc) if uses else None
    if uses and rel is not None and source is not None:
        own = {item.line for item in items}
        items += [
            lens.Lens(c.line, c.title, uses[0].report.name, uses[0].uri)
            for c in elsewhere.class_lenses(uses[0], rel, source)
            if c.line not in own
        ]
    for item in items:
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
                    title=item.title,
                    command=lens.SHOW_REPORT,
                    arguments=[item.uri or doc.uri, item.model],
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
    ``[uri, {"format": "json" | "view", "model": name | null}]`` -> the report as JSON (lines
    as now) or as the report page's display strings."""
    uri = str(args[0]) if args else ""
    options = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
    name = options.get("model") if options else (str(args[1]) if len(args) > 1 else None)
    found = _located(ls, uri)
    names = PLAIN
    if found is not None:
        # A notebook's cell: the notebook, its lines said as cell and line.
        uri, names = found[0].uri, ls.session.line_names(found[0])
    view = ls.session.view(uri)
    if options.get("format") == "view" and view is not None:
        return report_view(view, uri_to_path(uri), name)
    return lens.show_report(view, uri_to_path(uri), name, options.get("format"), names)


@server.command(STATS)
def stats(ls: FlopsightServer, *args: Any) -> dict[str, int]:
    return {**ls.session.stats(), "texts": len(ls.texts)}


@server.command(lens.MEASURE)
def measure(ls: FlopsightServer, *args: Any) -> str:
    """``[uri]`` (or nothing: every open document): time the models now; the figures join the
    hover cards when the analysis is in."""
    uri = str(args[0]) if args and isinstance(args[0], str) else None
    if ls.session.measure(uri):
        return f"flopsight: measuring the models of {uri_to_path(uri) if uri else 'open files'}"
    return "flopsight: nothing to measure (open a Python file with a model; flopsight.execute on)"
