"""The committed version of each open file, counted once, for the code lens's change
``Δ +12.40 GMac (+11.7 %) · +7.09 M params vs HEAD`` (setting ``flopsight.compareWith``).

Runs after a round has published its hints, never before: the committed text's models go
through the same worker as their own jobs (never superseded by the document's), and the result
is cached by (file, commit, convention, dims), so each committed version is counted once.
Nothing for a file outside a repository, untracked at the revision, or equal to it.

A model that runs other files of the workspace (``layers.py``) is compared with the committed
versions of those too: they go to the job as overlays, and an edit of ``layers.py`` alone
shows as a change of the model in ``model.py``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from flopsight import gitrev
from flopsight.job import AnalysisRequest
from flopsight.paths import text_digest
from flopsight.report.model import FileReport, ModelReport
from flopsight.settings import Settings

log = logging.getLogger(__name__)

# Committed versions kept (a handful of files and revisions in a session).
CACHE_SIZE = 64

# Runs one model of a text through the worker: (request, job key) -> its report.
Count = Callable[[AnalysisRequest, str], Awaitable[FileReport]]


@dataclass(frozen=True)
class Baseline:
    """The committed version's models, by name, and the revision as the setting names it."""

    rev: str
    commit: str
    models: dict[str, ModelReport]


class Baselines:
    def __init__(self) -> None:
        self._counted: OrderedDict[tuple[object, ...], asyncio.Task[dict[str, ModelReport]]] = (
            OrderedDict()
        )
        # Per document: the baseline of its newest text (None: nothing to compare with).
        self.current: dict[str, Baseline | None] = {}

    def of(self, uri: str) -> Baseline | None:
        return self.current.get(uri)

    def forget(self, uri: str) -> None:
        self.current.pop(uri, None)

    async def update(
        self,
        uri: str,
        path: str,
        text: str,
        root: str | None,
        settings: Settings,
        count: Count,
        sources: Mapping[str, str] | None = None,
        buffers: Mapping[str, str] | None = None,
    ) -> bool:
        """Finds and counts the committed version of ``path``; True when the baseline changed.

        ``sources``: the other workspace files (relative to ``root``) the current models ran,
        whose committed versions the count uses too; ``buffers``: the open ones' texts (by
        absolute path), else the disk's copy is the current one.
        """
        before = self.current.get(uri)
        found = None
        if settings.compare_with.lower() != "none":
            found = await asyncio.to_thread(gitrev.committed, path, settings.compare_with)
        others: dict[str, str] = {}
        if found is not None and root is not None and sources:
            others = await asyncio.to_thread(
                _committed_others, root, sources, found[0], settings.compare_with
            )
        if found is None or (found[1] == text and _unchanged(others, buffers or {})):
            self.current[uri] = None
            return before is not None
        commit, committed = found
        dims = tuple(sorted(settings.dims.items()))
        digests = tuple(sorted((p, text_digest(t)) for p, t in others.items()))
        key = (path, commit, settings.convention, dims, digests)
        task = self._counted.get(key)
        if task is None or (task.done() and task.exception() is not None):
            task = asyncio.ensure_future(
                self._count(f"{uri}@{commit}", path, committed, root, settings, count, others)
            )
            self._counted[key] = task
            while len(self._counted) > CACHE_SIZE:
                self._counted.popitem(last=False)
        self._counted.move_to_end(key)
        models = await asyncio.shield(task)
        baseline = Baseline(settings.compare_with, commit, models)
        self.current[uri] = baseline
        return baseline != before

    async def _count(
        self,
        key: str,
        path: str,
        text: str,
        root: str | None,
        settings: Settings,
        count: Count,
        overlays: dict[str, str],
    ) -> dict[str, ModelReport]:
        from flopsight.source import analyse_source
        from flopsight.source.inputs import resolve_inputs

        source = analyse_source(text, path)
        if source.syntax_error is not None:
            return {}
        names = []
        for spec in source.models:
            if spec.inputs is None:
                continue
            try:
                resolve_inputs(spec, settings.dims)
            except ValueError:
                continue
            names.append(spec.name)
        requests = [
            AnalysisRequest(
                text=text,
                path=path,
                root=root,
                convention=settings.convention,
                dims=dict(settings.dims),
                models=[name],
                overlays=dict(overlays),
            )
            for name in names
        ]
        out: dict[str, ModelReport] = {}
        for done in await asyncio.gather(
            *(count(r, key) for r in requests), return_exceptions=True
        ):
            if isinstance(done, BaseException):
                log.warning("counting the committed version of %s failed: %s", path, done)
                continue
            for m in done.models:
                out[m.name] = m
        return out


def _committed_others(
    root: str, sources: Mapping[str, str], commit: str, rev: str
) -> dict[str, str]:
    """The committed text of each other file the models ran (absolute path -> text); files
    outside the repository or untracked at the revision keep their current text."""
    out: dict[str, str] = {}
    for rel in sources:
        path = os.path.join(root, rel)
        found = gitrev.committed(path, rev)
        if found is not None and found[0] == commit:
            out[path] = found[1]
    return out


def _unchanged(committed: Mapping[str, str], buffers: Mapping[str, str]) -> bool:
    """Whether each file's current text (its open buffer, else the disk's) is the committed."""
    for path, text in committed.items():
        current = buffers.get(path)
        if current is None:
            try:
                with open(path, encoding="utf-8", newline="") as f:
                    current = f.read()
            except OSError:
                return False
        if current != text:
            return False
    return True
