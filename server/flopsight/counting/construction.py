"""Which line built each module (``LayerCost.line`` and ``LayerCost.file``)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from torch import nn

from flopsight.counting.spellings import Loc, SourceFiles


def _constructing_frame(module: nn.Module, files: SourceFiles) -> Loc | None:
    # Skip the __init__ chain of this very object (subclass __init__ -> super().__init__ ...);
    # the next frame is the one that called the outermost __init__.
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_name == "__init__":
        code = frame.f_code
        if not code.co_argcount or frame.f_locals.get(code.co_varnames[0]) is not module:
            break
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return None
    filename = frame.f_code.co_filename
    if not files.is_charged(filename):
        return None
    return (files.key(filename), frame.f_lineno)


@contextmanager
def record_construction(source_file: str, root: str | None = None) -> Iterator[dict[int, Loc]]:
    """Map ``id(module) -> (file, line)`` for modules built while the context is open.

    A module gets the line that called its outermost ``__init__``, in ``source_file`` (file
    None) or another file under the workspace ``root``; modules built elsewhere (inside
    torchvision, say) are left out.
    """
    files = SourceFiles(source_file, root)
    lines: dict[int, Loc] = {}
    original: Callable[..., None] = nn.Module.__init__

    def recording_init(self: nn.Module, *args: Any, **kwargs: Any) -> None:
        # Always overwrite: an id recorded for a module of a failed build may be reused.
        where = _constructing_frame(self, files)
        if where is None:
            lines.pop(id(self), None)
        else:
            lines[id(self)] = where
        original(self, *args, **kwargs)

    nn.Module.__init__ = recording_init  # type: ignore[method-assign]
    try:
        yield lines
    finally:
        nn.Module.__init__ = original  # type: ignore[method-assign]
