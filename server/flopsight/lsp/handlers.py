"""The language server's features (pygls 2): one thin handler per LSP method.

Each handler turns LSP params into a call on a protocol-free module (``hints``, ``hover``,
``lens``, ``diagnostics``, ``actions``) over the session's re-anchored reports. The server never
imports torch: models run in the worker (``flopsight.worker``).

Besides the standard features it sends three notifications a client may use for a status bar:

``flopsight/analysisStarted`` ``{"uri": str}``
    a round of analysis of the document began (jobs were sent to the worker).
``flopsight/analysisFinished`` ``{"uri": str, "cancelled": bool}``
    that round ended (``cancelled``: a newer edit superseded it).
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
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from flopsight import __version__
from flopsight.lsp import actions, hover, lens
from flopsight.lsp.hints import document_hints, to_inlay_hints
from flopsight.lsp.positions import index
from flopsight.lsp.session import Analyser, Session, uri_to_path
from flopsight.settings import Settings

log = logging.getLogger(__name__)


def make_analyser(settings: Settings) -> Analyser:
    from flopsight.worker import WorkerPool

    pool: Analyser = WorkerPool(python=settings.python)
    return pool


class FlopsightServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("flopsight", __version__)
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


@server.feature(types.TEXT_DOCUMENT_INLAY_HINT, types.InlayHintOptions(resolve_provider=False))
def inlay_hint(ls: FlopsightServer, params: types.InlayHintParams) -> list[types.InlayHint]:
    session = ls.session
    view = session.view(params.text_document.uri)
    if view is None or not session.settings.inlay_hints_enabled:
        return []
    doc = session.documents[params.text_document.uri]
    hints = document_hints(view.models, session.hint_options())
    rng = params.range
    return to_inlay_hints(hints, doc.text.splitlines(), rng.start.line, rng.end.line, session.utf16)


@server.feature(types.TEXT_DOCUMENT_HOVER)
def on_hover(ls: FlopsightServer, params: types.HoverParams) -> types.Hover | None:
    session = ls.session
    uri = params.text_document.uri
    view = session.view(uri)
    if view is None:
        return None
    doc = session.documents[uri]
    lines = doc.text.splitlines()
    row = params.position.line
    if row >= len(lines):
        return None
    col = index(lines[row], params.position.character, session.utf16)
    found = hover.hover_markdown(view, session.source(doc), row + 1, col)
    if found is None:
        return None
    markdown, _line = found
    return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=markdown))


@server.feature(types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensOptions(resolve_provider=False))
def code_lens(ls: FlopsightServer, params: types.CodeLensParams) -> list[types.CodeLens]:
    uri = params.text_document.uri
    view = ls.session.view(uri)
    if view is None:
        return []
    out = []
    for item in lens.lenses(view):
        pos = types.Position(line=item.line - 1, character=0)
        out.append(
            types.CodeLens(
                range=types.Range(start=pos, end=pos),
                command=types.Command(
                    title=item.title, command=lens.SHOW_REPORT, arguments=[uri, item.model]
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
    doc = session.documents.get(params.text_document.uri)
    if doc is None:
        return []
    return actions.code_actions(doc.uri, doc.text, session.source(doc), params.range, session.utf16)


@server.command(lens.SHOW_REPORT)
def show_report(ls: FlopsightServer, *args: Any) -> str | dict[str, Any]:
    """``[uri, model]`` -> the model's per-layer table as markdown (every model without a name);
    ``[uri, {"format": "json", "model": name | null}]`` -> the report as JSON, lines as now."""
    uri = str(args[0]) if args else ""
    options = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
    name = options.get("model") if options else (str(args[1]) if len(args) > 1 else None)
    return lens.show_report(ls.session.view(uri), uri_to_path(uri), name, options.get("format"))
