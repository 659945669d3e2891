"""Imports of the workspace's files read the editor's buffers (``AnalysisRequest.overlays``).

While a job runs, a finder first on ``sys.meta_path`` finds each module as the normal path
finder does; when the module's file has an overlay, it is loaded from that text instead of
the disk (no bytecode is read or written for it), and ``linecache`` holds the same text, so
tracebacks quote the buffer's lines.

``imported_sources`` says which workspace files a run imported, with the digest of the text
that ran (``FileReport.sources``): the editor compares it with its buffers.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import linecache
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib.machinery import ModuleSpec
from types import ModuleType

from flopsight.job import AnalysisRequest
from flopsight.paths import bytes_digest, is_installed, text_digest


class _BufferLoader(importlib.machinery.SourceFileLoader):
    """A source file loader whose source is the buffer's text."""

    def __init__(self, fullname: str, path: str, text: str) -> None:
        super().__init__(fullname, path)
        self._text = text

    def get_data(self, path: str) -> bytes:
        if path == self.path:
            return self._text.encode("utf-8", "surrogatepass")
        return super().get_data(path)

    def path_stats(self, path: str) -> Mapping[str, float]:
        # No stats: SourceLoader then neither trusts nor writes a .pyc for the buffer.
        raise OSError(f"{path} is read from the editor's buffer")


class _BufferFinder:
    def __init__(self, overlays: Mapping[str, str]) -> None:
        self.by_path = {os.path.abspath(p): text for p, text in overlays.items()}
        self.served: list[str] = []
        # The module names the overlaid files can have (``layers``; a package's folder name):
        # other imports go straight to the normal finders, searched once.
        self.names = {_module_name(p) for p in self.by_path}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname.rpartition(".")[2] not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or not spec.has_location or spec.origin is None:
            return None
        origin = os.path.abspath(spec.origin)
        text = self.by_path.get(origin)
        if text is None:
            return None
        self.served.append(spec.origin)
        linecache.cache[spec.origin] = (len(text), None, text.splitlines(True), spec.origin)
        return importlib.util.spec_from_file_location(
            fullname,
            spec.origin,
            loader=_BufferLoader(fullname, spec.origin, text),
            submodule_search_locations=spec.submodule_search_locations,
        )


def _module_name(path: str) -> str:
    stem = os.path.splitext(os.path.basename(path))[0]
    return os.path.basename(os.path.dirname(path)) if stem == "__init__" else stem


@contextmanager
def buffer_imports(overlays: Mapping[str, str]) -> Iterator[None]:
    """Serve imports of the files in ``overlays`` from their text while the context is open."""
    if not overlays:
        yield
        return
    finder = _BufferFinder(overlays)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)
        for path in finder.served:
            linecache.cache.pop(path, None)


def imported_sources(before: set[str], request: AnalysisRequest) -> dict[str, str]:
    """The Python files under the workspace root (or the file's folder) that the run imported
    (modules not in ``before``), by path relative to it: the sha256 of the text that ran."""
    base = os.path.abspath(request.root or os.path.dirname(os.path.abspath(request.path)))
    own = os.path.abspath(request.path)
    texts = {os.path.abspath(p): t for p, t in request.overlays.items()}
    out: dict[str, str] = {}
    for name in set(sys.modules) - before:
        file = getattr(sys.modules.get(name), "__file__", None)
        if not isinstance(file, str) or not file.endswith(".py"):
            continue
        path = os.path.abspath(file)
        if path == own or not path.startswith(base + os.sep) or is_installed(path):
            continue
        text = texts.get(path)
        try:
            digest = text_digest(text) if text is not None else bytes_digest(_read_bytes(path))
        except OSError:
            continue
        out[os.path.relpath(path, base).replace(os.sep, "/")] = digest
    return dict(sorted(out.items()))


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()
