"""The server's state and its analysis loop, behind a small interface to the client.

``Session`` keeps the open documents, the settings and the latest result of each model, and
decides when to analyse: after ``debounceMs`` of quiet following an edit, at once on open and
save, and for every open document when the settings change. Each round parses the current
text (no torch), starts one worker job per (document, model) and, when they are all in,
publishes diagnostics and asks the client to refresh hints and lenses. A newer round for the
same document cancels the older one's jobs; jobs of other documents are left alone.

The LSP specifics (sending notifications, requests, progress) live behind ``ClientHooks``, which
``flopsight.lsp.handlers`` implements; tests can drive a session with a fake client and pool.

Large documents: the event loop never parses or re-anchors a text above
``offload.INLINE_MAX_CHARS`` itself; that runs in a helper process (``flopsight.lsp.offload``),
and until it is done such a document shows no hints (withheld, never misplaced). A document over
``flopsight.maxFileSizeKB`` is not analysed at all: one info diagnostic (FS402) says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, get_args
from urllib.parse import unquote, urlparse

from lsprotocol import types

from flopsight.job import AnalysisRequest, MeasureOptions, MemoryOptions
from flopsight.lsp import anchoring
from flopsight.lsp import diagnostics as diag
from flopsight.lsp.baseline import Baselines
from flopsight.lsp.documents import DocumentResults, DocumentView, ModelResult
from flopsight.lsp.elsewhere import Use
from flopsight.lsp.hints import HintOptions
from flopsight.lsp.notebooks import NotebookText
from flopsight.lsp.offload import Offload, read_source
from flopsight.paths import text_digest
from flopsight.report.model import Convention, FileReport, ModelError, ModelReport
from flopsight.report.table import PLAIN, LineNames, NotebookLines
from flopsight.settings import Settings
from flopsight.source.inputs import resolve_inputs
from flopsight.source.model import ModelSpec, SourceAnalysis, UnresolvedDimension
from flopsight.source.notebook import CellSpan, VirtualModule

log = logging.getLogger(__name__)

PROGRESS_AFTER_S = 0.5


class Analyser(Protocol):
    """The worker pool as the server uses it (``flopsight.worker``)."""

    async def analyse(
        self,
        request: AnalysisRequest,
        *,
        document: str,
        model: str,
        timeout_s: float,
        memory_mb: int,
        priority: float = 0.0,
    ) -> FileReport: ...


class ClientHooks(Protocol):
    def publish(
        self, uri: str, diagnostics: list[types.Diagnostic], version: int | None
    ) -> None: ...
    def notify(self, method: str, params: dict[str, Any]) -> None: ...
    def log(self, message: str) -> None: ...
    def refresh(self) -> None: ...
    async def progress_begin(self, title: str, message: str) -> object | None: ...
    def progress_end(self, token: object, message: str) -> None: ...


def uri_to_path(uri: str) -> str:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return unquote(parsed.path)
    return unquote(parsed.path) or uri


@dataclass
class OpenDocument:
    uri: str
    text: str
    version: int | None = None
    results: DocumentResults = field(default_factory=DocumentResults)
    # Source analysis of ``source_text`` (the text as of the last round or request that needed it).
    source: SourceAnalysis | None = None
    source_text: str | None = None
    debounce: asyncio.Task[None] | None = None
    round: asyncio.Task[None] | None = None
    # Diagnostics found while starting the jobs (unresolved dims, worker failures).
    extra: list[types.Diagnostic] = field(default_factory=list)
    rounds: int = 0
    # Set for a notebook: ``text`` is its virtual module; diagnostics go to its cells.
    notebook: NotebookText | None = None
    published_cells: set[str] = field(default_factory=set)
    # Saved since the last summary was sent.
    summary_pending: bool = False
    # The next round also times the models (flopsight.measure: onSave, or the server command).
    measure_pending: bool = False
    # The view of (text, results generation): kept, as re-anchoring a large text is not cheap.
    view_cache: tuple[str, int, DocumentView] | None = None
    reanchor: asyncio.Task[None] | None = None
    # When the user last opened, edited or saved it: the latest one's jobs start first.
    touched: float = 0.0
    # (text, its sha256): whether models of other documents ran this very text.
    digest: tuple[str, str] | None = None
    # The other open documents' texts the last round sent (path -> digest of the overlay).
    overlaid: dict[str, str] = field(default_factory=dict)

    def text_digest(self) -> str:
        if self.digest is None or self.digest[0] is not self.text:
            self.digest = (self.text, text_digest(self.text))
        return self.digest[1]

    @property
    def path(self) -> str:
        return uri_to_path(self.uri)


def _forget(task: asyncio.Future[Any]) -> None:
    """Collects the outcome of a job nobody waits for any more."""
    if not task.cancelled():
        task.exception()


def _is_cancellation(exc: BaseException) -> bool:
    """asyncio's cancellation, or the pool's (``JobCancelled``: a newer job replaced this one)."""
    return isinstance(exc, asyncio.CancelledError) or type(exc).__name__ == "JobCancelled"


class Session:
    def __init__(
        self,
        client: ClientHooks,
        analyser_factory: Callable[[Settings], Analyser],
        settings: Settings | None = None,
    ) -> None:
        self.client = client
        self.settings = settings or Settings()
        self.root: str | None = None
        self.documents: dict[str, OpenDocument] = {}
        # notebook cell URI -> the notebook's URI
        self.cells: dict[str, str] = {}
        # A text document that joins a notebook's cells (jupyterlab-lsp): the cells it reported.
        self.reported_cells: dict[str, VirtualModule] = {}
        self._analyser_factory = analyser_factory
        self._analyser: Analyser | None = None
        self._analyser_python: tuple[str, str] | None = None
        self.utf16 = True
        self._closing: asyncio.Future[Any] | None = None
        self.configured = asyncio.Event()
        self.offload = Offload()
        # The committed version of each document (the lens's Δ vs flopsight.compareWith).
        self.baselines = Baselines()
        self._baseline_tasks: dict[str, asyncio.Task[None]] = {}
        # The model the user last looked at or edited, (document, model or None): another
        # file's hints follow it when several models run through that file.
        self.focus: tuple[str, str | None] | None = None

    # -- the pool -------------------------------------------------------------------------
    def analyser(self) -> Analyser:
        key = (self.settings.python, self.settings.sandbox)
        if self._analyser is None or self._analyser_python != key:
            self._close_analyser()
            self._analyser = self._analyser_factory(self.settings)
            self._analyser_python = key
        return self._analyser

    def _cancel_jobs(self, uri: str | None, keep_models: tuple[str, ...] = ()) -> None:
        """Kill the pool's queued and running jobs of ``uri`` (of every document: None) now."""
        cancel = getattr(self._analyser, "cancel_jobs", None)
        if callable(cancel):
            cancel(document=uri, keep_models=keep_models)

    def _close_analyser(self, wait: bool = False) -> None:
        """Stops the pool (its hosts and children); in the background unless ``wait``."""
        analyser, self._analyser = self._analyser, None
        close = getattr(analyser, "close", None)
        if not callable(close):
            return
        if wait:
            with contextlib.suppress(Exception):
                close()
            return
        # The pool's close() blocks until its processes are gone: not on the event loop.
        self._closing = asyncio.ensure_future(asyncio.to_thread(close))

    def shutdown(self) -> None:
        for doc in self.documents.values():
            self._cancel(doc)
        self._close_analyser(wait=True)
        self.offload.close()

    # -- reading --------------------------------------------------------------------------
    def too_large(self, doc: OpenDocument) -> bool:
        """Over ``flopsight.maxFileSizeKB`` (UTF-8 bytes): not analysed."""
        limit = self.settings.max_file_size_kb * 1024
        text = doc.text
        if len(text) * 4 <= limit:
            return False
        size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
        return size > limit

    def source(self, doc: OpenDocument) -> SourceAnalysis | None:
        """The source analysis of the current text; None while a large one is read off the loop
        (or the document is too large to read)."""
        if doc.source is not None and doc.source_text == doc.text:
            return doc.source
        if self.too_large(doc) or self.offload.is_large(doc.text):
            return None
        doc.source = read_source(doc.text, doc.path)
        doc.source_text = doc.text
        return doc.source

    async def _source_of(self, doc: OpenDocument, text: str) -> SourceAnalysis:
        if doc.source is not None and doc.source_text == text:
            return doc.source
        source = await self.offload.run(text, read_source, text, doc.path)
        doc.source, doc.source_text = source, text
        return source

    def view(self, uri: str) -> DocumentView | None:
        doc = self.documents.get(uri)
        if doc is None or not self.settings.execute or self.too_large(doc):
            return None
        return self._view(doc)

    def _view(self, doc: OpenDocument) -> DocumentView | None:
        """The results anchored to the current text; None while a large text is re-anchored."""
        text, generation = doc.text, doc.results.generation
        cached = doc.view_cache
        if cached is not None and cached[0] is text and cached[1] == generation:
            return cached[2]
        if self.offload.is_large(text) and any(t != text for t in doc.results.texts()):
            self._schedule_reanchor(doc)
            return None
        view = doc.results.view(text, owner=doc.uri)
        doc.view_cache = (text, generation, view)
        return view

    def _schedule_reanchor(self, doc: OpenDocument) -> None:
        if doc.reanchor is None or doc.reanchor.done():
            doc.reanchor = asyncio.ensure_future(self._reanchor(doc))

    async def _reanchor(self, doc: OpenDocument) -> None:
        """Re-anchors a large document's results in the helper process, then asks the client
        to fetch hints and lenses again."""
        text, generation = doc.text, doc.results.generation
        old = [t for t in doc.results.texts() if t != text]
        maps = await self.offload.run(text, anchoring.line_maps, old, text)
        if self.documents.get(doc.uri) is not doc:
            return
        if doc.text is text and doc.results.generation == generation:
            by_text = {id(t): m for t, m in zip(old, maps, strict=True)}
            view = doc.results.view(text, by_text, owner=doc.uri)
            doc.view_cache = (text, generation, view)
        self.client.refresh()

    def stats(self) -> dict[str, int]:
        """What the server holds (``flopsight.server.stats``): documents and cached line maps."""
        return {
            "documents": len(self.documents),
            "lineMapCacheEntries": len(anchoring.CACHE),
            "lineMapCacheChars": anchoring.CACHE.chars,
        }

    def hint_options(self) -> HintOptions:
        # minShare is a fraction (0.01: lines under 1% get no hint), as the VS Code settings
        # describe it; a value above 1 is read as a percentage.
        share = self.settings.inlay_hints_min_share
        return HintOptions(self.settings.inlay_hints_show, share * 100 if share <= 1 else share)

    # -- events ---------------------------------------------------------------------------
    def opened(self, uri: str, text: str, version: int | None) -> None:
        doc = self.documents.get(uri) or OpenDocument(uri, text, version)
        doc.text, doc.version = text, version
        doc.touched = time.monotonic()
        self.documents[uri] = doc
        self.schedule(doc, delay_s=0.0)
        self._dependents_of(doc, delay_s=0.0)

    def changed(self, uri: str, text: str, version: int | None) -> None:
        doc = self.documents.get(uri)
        if doc is None:
            doc = OpenDocument(uri, text, version)
            self.documents[uri] = doc
        doc.text, doc.version = text, version
        doc.touched = time.monotonic()
        if doc.results.models:
            self.focus = (uri, None)
        delay_s = self.settings.debounce_ms / 1000.0
        self.schedule(doc, delay_s=delay_s)
        self._dependents_of(doc, delay_s=delay_s)

    def looked_at(self, uri: str) -> bool:
        """The user looks at ``uri`` (its editor became active): its models become the ones
        other files' hints follow. True when that changed anything."""
        found = self.locate(uri)
        if found is None or not found[0].results.models:
            return False
        focus = (found[0].uri, None)
        changed, self.focus = self.focus != focus, focus
        return changed

    # -- the workspace's other files ----------------------------------------------------------
    def relative(self, doc: OpenDocument) -> str | None:
        """The document's path relative to the workspace root (None: outside it, or no root)."""
        if self.root is None or doc.notebook is not None:
            return None
        root = os.path.abspath(self.root)
        path = os.path.abspath(doc.path)
        if not path.startswith(root + os.sep):
            return None
        return os.path.relpath(path, root).replace(os.sep, "/")

    def _dependents_of(self, doc: OpenDocument, delay_s: float) -> None:
        """Re-analyse the other documents whose models ran another text of ``doc``'s file."""
        rel = self.relative(doc)
        if rel is None:
            return
        digest = doc.text_digest()
        for other in self.documents.values():
            ran = other.results.sources().get(rel) if other is not doc else None
            if ran is not None and ran != digest:
                self.schedule(other, delay_s=delay_s)

    def _overlays(self, doc: OpenDocument) -> dict[str, OpenDocument]:
        """The open documents the document's models ran last time, by absolute path."""
        known = doc.results.sources()
        out: dict[str, OpenDocument] = {}
        for other in self.documents.values():
            rel = self.relative(other) if other is not doc else None
            if rel is not None and rel in known:
                out[os.path.abspath(other.path)] = other
        return out

    def _stale_overlays(self, doc: OpenDocument) -> bool:
        """Whether an open document the models ran differs from the text they ran, and was not
        sent as it is now (a file they import for the first time, or edited meanwhile)."""
        known = doc.results.sources()
        for other in self.documents.values():
            rel = self.relative(other) if other is not doc else None
            if rel is None or rel not in known:
                continue
            digest = other.text_digest()
            if known[rel] != digest and doc.overlaid.get(os.path.abspath(other.path)) != digest:
                return True
        return False

    def uses(self, doc: OpenDocument) -> list[Use]:
        """The analysed models (of other documents) that ran this document's current text; the
        one the user last looked at or edited first, then by their documents' last edit."""
        rel = self.relative(doc)
        if rel is None:
            return []
        digest = doc.text_digest()
        found: list[tuple[tuple[bool, bool, float], Use]] = []
        for other in self.documents.values():
            if other is doc or not any(
                r.sources.get(rel) == digest for r in other.results.models.values()
            ):
                continue
            view = self._view(other)
            if view is None:
                continue
            # model.py:8, or in a notebook "nb.ipynb (cell 2, line 5)".
            names, file = self.line_names(other), self.relative(other)
            file = file or os.path.basename(other.path)
            for name, result in other.results.models.items():
                anchored = view.model(name)
                if result.sources.get(rel) != digest or anchored is None:
                    continue
                if anchored.report.status != "ok":
                    continue
                report = anchored.report
                focus = self.focus or ("", None)
                rank = (
                    focus[0] != other.uri,
                    focus[1] is not None and focus[1] != name,
                    -other.touched,
                )
                found.append((rank, Use(report, other.uri, names.at(file, report.line))))
        found.sort(key=lambda item: item[0])
        return [use for _, use in found]

    def saved(self, uri: str, text: str | None) -> None:
        doc = self.documents.get(uri)
        if doc is None:
            return
        if text is not None:
            doc.text = text
        doc.touched = time.monotonic()
        # A later edit may supersede this round: the summary then comes with the next one.
        doc.summary_pending = True
        if self.settings.measure == "onSave":
            doc.measure_pending = True
        self.schedule(doc, delay_s=0.0)

    def measure(self, uri: str | None) -> bool:
        """``flopsight.server.measure``: time the models of the document (every open one when
        ``uri`` is None) now; False when there is none."""
        if not self.settings.execute:
            return False
        found = self.locate(uri) if uri else None
        docs = [found[0]] if found else ([] if uri else list(self.documents.values()))
        for doc in docs:
            doc.measure_pending = True
            self.schedule(doc, delay_s=0.0)
        return bool(docs)

    def closed(self, uri: str) -> None:
        doc = self.documents.pop(uri, None)
        if doc is not None:
            # Models that ran this buffer run the file on disk from now on: count them again.
            path = os.path.abspath(doc.path)
            for other in self.documents.values():
                if path in other.overlaid:
                    self.schedule(other, delay_s=0.0)
        self.reported_cells.pop(uri, None)
        self.baselines.forget(uri)
        compare = self._baseline_tasks.pop(uri, None)
        if compare is not None:
            compare.cancel()
        if doc is not None:
            self._cancel(doc)
            if doc.reanchor is not None:
                doc.reanchor.cancel()
            anchoring.CACHE.forget(uri)
            self._cancel_jobs(uri)
        if doc is not None and doc.notebook is not None:
            for cell in doc.published_cells | set(doc.notebook.code_cells()):
                self.cells.pop(cell, None)
                self.client.publish(cell, [], None)
            return
        self.client.publish(uri, [], None)

    # -- notebooks --------------------------------------------------------------------------
    def notebook_opened(
        self, notebook: NotebookText, version: int | None, delay_s: float = 0.0
    ) -> None:
        doc = self.documents.get(notebook.uri)
        if doc is None:
            doc = OpenDocument(notebook.uri, notebook.text, version)
            self.documents[notebook.uri] = doc
        doc.text, doc.version, doc.notebook = notebook.text, version, notebook
        doc.touched = time.monotonic()
        for cell in notebook.code_cells():
            self.cells[cell] = notebook.uri
        self.schedule(doc, delay_s=delay_s)

    def notebook_changed(self, notebook: NotebookText, version: int | None) -> None:
        self.notebook_opened(notebook, version, self.settings.debounce_ms / 1000.0)

    def cells_reported(self, uri: str, spans: list[CellSpan]) -> None:
        self.reported_cells[uri] = VirtualModule(text="", cells=spans)

    def line_names(self, doc: OpenDocument) -> LineNames:
        """How to name the document's lines to the user: a notebook's say cell and line."""
        if doc.notebook is not None:
            return NotebookLines(doc.notebook.module)
        reported = self.reported_cells.get(doc.uri)
        return NotebookLines(reported) if reported is not None else PLAIN

    def locate(self, uri: str) -> tuple[OpenDocument, str | None] | None:
        """The open document a URI belongs to, and the cell when it is a notebook cell."""
        doc = self.documents.get(uri)
        if doc is not None:
            return doc, None
        notebook = self.cells.get(uri)
        if notebook is not None and notebook in self.documents:
            return self.documents[notebook], uri
        return None

    def settings_changed(self, settings: Settings) -> None:
        old, self.settings = self.settings, settings
        if old == settings:
            return
        if not settings.execute:  # turned off, or the workspace lost trust: nothing may run on
            self._cancel_jobs(None)
        for doc in self.documents.values():
            if (
                old.convention != settings.convention
                or old.mode != settings.mode
                or not settings.execute
            ):
                doc.results.clear()
            self.schedule(doc, delay_s=0.0)

    # -- analysis -------------------------------------------------------------------------
    def _cancel(self, doc: OpenDocument) -> None:
        for task in (doc.debounce, doc.round):
            if task is not None and not task.done():
                task.cancel()
        doc.debounce = doc.round = None

    def schedule(self, doc: OpenDocument, delay_s: float) -> None:
        if doc.debounce is not None and not doc.debounce.done():
            doc.debounce.cancel()
        doc.debounce = asyncio.ensure_future(self._after(doc, delay_s))

    async def _after(self, doc: OpenDocument, delay_s: float) -> None:
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        # Nothing runs before the client's settings are in (workspace/configuration).
        await self.configured.wait()
        if doc.round is not None and not doc.round.done():
            doc.round.cancel()
        doc.round = asyncio.ensure_future(self.analyse(doc))

    async def analyse(self, doc: OpenDocument) -> None:
        """One round: parse, run every annotated model, publish, refresh.

        ``flopsight/analysisStarted`` opens every round and ``flopsight/analysisFinished``
        closes it, after the diagnostics and refresh requests (``cancelled``: superseded).
        """
        self.client.notify("flopsight/analysisStarted", {"uri": doc.uri})
        try:
            await self._run_models(doc)
        except asyncio.CancelledError:
            self.client.notify("flopsight/analysisFinished", {"uri": doc.uri, "cancelled": True})
            raise
        self.publish(doc)
        # The files its models ran: their FS107 hints go for the classes now counted.
        sources = doc.results.sources()
        for other in list(self.documents.values()):
            if other is not doc and self.relative(other) in sources:
                self.publish(other)
        self.client.refresh()
        if self._stale_overlays(doc):  # it ran an open file's disk copy: again, with the buffer
            self.schedule(doc, delay_s=0.0)
        self._compare_later(doc)
        self._scale_later(doc)
        saved, doc.summary_pending = doc.summary_pending, False
        self.send_summary(doc, log=saved)
        self.client.notify("flopsight/analysisFinished", {"uri": doc.uri, "cancelled": False})

    async def _run_models(self, doc: OpenDocument) -> None:
        measure, doc.measure_pending = doc.measure_pending, False
        text = doc.text
        doc.rounds += 1
        doc.extra = []
        if self.too_large(doc):
            doc.results.clear()
            doc.source = doc.source_text = None
            return
        source = await self._source_of(doc, text)
        if not self.settings.execute:
            doc.results.clear()
            self._cancel_jobs(doc.uri)
            return
        if source.syntax_error is not None:
            return  # the last results stay, re-anchored, until the text parses again
        runnable = [m for m in source.models if self._resolvable(doc, m)]
        doc.results.keep_only({m.name for m in runnable})
        # The jobs of models this text no longer has are killed; the others are superseded.
        self._cancel_jobs(doc.uri, tuple(m.name for m in runnable))
        if not runnable:
            return
        names = [m.name for m in runnable]
        progress = asyncio.ensure_future(self._progress(doc, names))
        jobs = [asyncio.ensure_future(self._job(doc, text, name, measure)) for name in names]
        try:
            await asyncio.gather(*jobs)
        except asyncio.CancelledError:
            for job in jobs:
                job.cancel()
            raise
        finally:
            progress.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                token = await progress
                if token is not None:
                    self.client.progress_end(token, "done")

    def _resolvable(self, doc: OpenDocument, spec: ModelSpec) -> bool:
        """Whether the model has concrete inputs; a dimension without a value is FS105."""
        if spec.inputs is None:
            return False
        try:
            resolve_inputs(spec, self.settings.dims)
        except UnresolvedDimension as exc:
            lines = diag.Lines(doc.text, self.utf16)
            rng = lines.span_range(exc.span or spec.name_span)
            doc.extra.append(diag.make(rng, "FS105", str(exc), types.DiagnosticSeverity.Error))
            return False
        except ValueError:
            return False
        return True

    def warm_up(self) -> None:
        """Starts the models' worker now, so the first analysis finds it warm."""
        if not self.settings.execute:
            return
        start = getattr(self.analyser(), "start", None)
        if callable(start):
            start()

    async def _progress(self, doc: OpenDocument, models: list[str]) -> object | None:
        await asyncio.sleep(PROGRESS_AFTER_S)
        name = os.path.basename(doc.path)
        token = await self.client.progress_begin(
            "flopsight", f"counting {', '.join(models)} in {name}"
        )
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
        return token

    async def _job(self, doc: OpenDocument, text: str, model: str, measure: bool = False) -> None:
        settings = self.settings
        if not settings.execute or self.documents.get(doc.uri) is not doc:
            return  # turned off, or closed, since the round began
        overlays = self._overlays(doc)  # the editor's copies of the files it runs
        request = AnalysisRequest(
            text=text,
            path=doc.path,
            root=self.root,
            convention=settings.convention,
            dims=dict(settings.dims),
            models=[model],
            # measure times the forward, so its FLOP/s are the forward's.
            mode="inference" if measure else settings.mode,
            extra_conventions=[c for c in get_args(Convention) if c != settings.convention]
            if settings.compare
            else [],
            # Timed on the CPU the worker runs on (the report says which device).
            measure=MeasureOptions() if measure else None,
            memory=_memory_options(settings),
            overlays={path: other.text for path, other in overlays.items()},
        )
        doc.overlaid = {path: other.text_digest() for path, other in overlays.items()}
        try:
            pending = asyncio.ensure_future(
                self.analyser().analyse(
                    request,
                    document=doc.uri,
                    model=model,
                    timeout_s=settings.timeout_seconds,
                    memory_mb=settings.memory_mb,
                    priority=doc.touched,
                )
            )
            # The pool itself cancels a job when a newer one for the same (document, model)
            # comes, so a cancelled round leaves the pool's job to finish or be superseded.
            try:
                report = await asyncio.shield(pending)
            except asyncio.CancelledError:
                pending.add_done_callback(_forget)
                raise
        except BaseException as exc:  # the worker's failures become diagnostics
            if _is_cancellation(exc):
                if isinstance(exc, asyncio.CancelledError):
                    raise
                return
            log.exception("analysis of %s in %s failed", model, doc.uri)
            failed = ModelReport(
                name=model,
                kind="class",
                line=self._model_line(doc, text, model),
                status="error",
                error=ModelError(str(exc) or type(exc).__name__, type(exc).__name__, "unavailable"),
            )
            doc.results.put(ModelResult(text, failed, settings.convention))
            return
        for m in report.models:
            if m.status != "ok" and m.line == 1:
                # A failure report of a large text names no line (the pool does not parse it).
                m = replace(m, line=self._model_line(doc, text, m.name))
            if m.measure_error is not None:
                self.client.log(f"flopsight: {m.name} was not measured: {m.measure_error.text()}")
            doc.results.put(
                ModelResult(
                    text=text,
                    report=m,
                    convention=report.convention,
                    warnings=list(report.warnings),
                    notes=list(report.notes),
                    output=report.output,
                    sources=dict(report.sources),
                )
            )

    def _model_line(self, doc: OpenDocument, text: str, model: str) -> int:
        source = doc.source if doc.source_text == text else None
        if source is not None:
            spec = source.model(model)
            if spec is not None:
                return spec.line
        return 1

    def _compare_later(self, doc: OpenDocument) -> None:
        """After the round's hints are out: the committed version's counts, then a refresh."""
        if doc.notebook is not None or not self.settings.execute:
            return
        previous = self._baseline_tasks.get(doc.uri)
        if previous is not None and not previous.done():
            previous.cancel()
        self._baseline_tasks[doc.uri] = asyncio.ensure_future(self._compare(doc, doc.text))

    def _scale_later(self, doc: OpenDocument) -> None:
        """After the round's hints are out: each model with symbolic input dimensions counted
        at other values of them (the class-line hover's scaling), as a job of its own."""
        if not self.settings.execute:
            return
        source = self.source(doc)
        if source is None or doc.notebook is not None:
            return
        for name, result in list(doc.results.models.items()):
            if result.report.status != "ok" or result.report.scaling:
                continue
            spec = source.model(name) if result.text == doc.text else None
            if spec is None or not any(
                isinstance(d, str) for i in spec.inputs or [] for d in i.shape
            ):
                continue
            task = asyncio.ensure_future(self._scale(doc, result))
            task.add_done_callback(_forget)

    async def _scale(self, doc: OpenDocument, result: ModelResult) -> None:
        settings = self.settings
        request = AnalysisRequest(
            text=result.text,
            path=doc.path,
            root=self.root,
            convention=settings.convention,
            dims=dict(settings.dims),
            models=[result.report.name],
            scaling=True,
        )
        try:
            report = await self.analyser().analyse(
                request,
                document=f"{doc.uri}#scaling",
                model=result.report.name,
                timeout_s=settings.timeout_seconds,
                memory_mb=settings.memory_mb,
            )
        except Exception as exc:
            if not _is_cancellation(exc):
                log.warning("scaling of %s in %s failed: %s", result.report.name, doc.uri, exc)
            return
        name = result.report.name
        scaled = [m for m in report.models if m.name == name and m.scaling]
        # Only onto the very result it extends: a newer round's result stays as it is.
        if scaled and doc.results.models.get(name) is result:
            # A new result (the cached views follow the results' generation); the report the
            # round put stays as it is.
            doc.results.put(
                replace(result, report=replace(result.report, scaling=scaled[0].scaling))
            )
        self.client.notify("flopsight/scaled", {"uri": doc.uri, "model": name})

    async def _compare(self, doc: OpenDocument, text: str) -> None:
        settings = self.settings

        async def count(request: AnalysisRequest, key: str) -> FileReport:
            # Its own job key: the document's next round does not replace the committed count.
            return await self.analyser().analyse(
                request,
                document=key,
                model=(request.models or [""])[0],
                timeout_s=settings.timeout_seconds,
                memory_mb=settings.memory_mb,
            )

        try:
            changed = await self.baselines.update(
                doc.uri,
                doc.path,
                text,
                self.root,
                settings,
                count,
                sources=doc.results.sources(),
                buffers={os.path.abspath(d.path): d.text for d in self.documents.values()},
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("comparing %s with %s failed", doc.uri, settings.compare_with)
            return
        if changed and self.documents.get(doc.uri) is doc:
            self.client.refresh()
        self.client.notify("flopsight/compared", {"uri": doc.uri, "rev": settings.compare_with})

    # -- output ---------------------------------------------------------------------------
    def diagnostics(self, doc: OpenDocument) -> list[types.Diagnostic] | None:
        """The document's diagnostics; None while a large text is still read (the round that
        reads it publishes)."""
        if self.too_large(doc):
            return [diag.too_large(self.settings.max_file_size_kb)]
        source = self.source(doc)
        if source is None:
            return None
        view = self._view(doc) if self.settings.execute else None
        elsewhere = self.uses(doc) if self.settings.execute else []
        return diag.document_diagnostics(
            doc.text,
            source,
            view,
            execute=self.settings.execute,
            extra=doc.extra,
            utf16=self.utf16,
            counted_elsewhere={layer.type for use in elsewhere for layer in use.report.layers},
        )

    def publish(self, doc: OpenDocument) -> None:
        if self.documents.get(doc.uri) is not doc:
            return
        diagnostics = self.diagnostics(doc)
        if diagnostics is None:
            return
        if doc.notebook is None:
            self.client.publish(doc.uri, diagnostics, doc.version)
            return
        by_cell = doc.notebook.split_diagnostics(diagnostics)
        for gone in doc.published_cells - set(by_cell):
            self.client.publish(gone, [], None)
        for cell, diagnostics in by_cell.items():
            self.client.publish(cell, diagnostics, None)
        doc.published_cells = set(by_cell)

    def send_summary(self, doc: OpenDocument, log: bool = False) -> None:
        """``flopsight/summary`` after every round; on save the models also go to the log."""
        from flopsight.lsp.lens import log_lines
        from flopsight.lsp.summary import summary

        view = self._view(doc) or DocumentView([], [], [])
        if log:
            for line in log_lines(doc.path, view, self.line_names(doc)):
                self.client.log(line)
        self.client.notify("flopsight/summary", summary(doc.uri, view))


def _memory_options(settings: Settings) -> MemoryOptions | None:
    """Peak memory for the hover and lens (issue 15), when flopsight.train.memory or .gpu ask."""
    if not settings.tracks_memory:
        return None
    return MemoryOptions(
        optimizer=settings.train_optimizer, precision=settings.train_precision, gpu=settings.gpu
    )
