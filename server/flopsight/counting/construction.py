"""Which line of the analysed file built each module (``LayerCost.line``)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from torch import nn

from flopsight.counting.spellings import source_spellings


def _constructing_frame_line(module: nn.Module, files: frozenset[str]) -> int | None:
    # Skip the __init__ chain of this very object (subclass __init__ -> super().__init__ ...);
    # the next frame is the one that called the outermost __init__.
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_name == "__init__":
        code = frame.f_code
        if not code.co_argcount or frame.f_locals.get(code.co_varnames[0]) is not module:
            break
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None or frame.f_code.co_filename not in files:
        return None
    return frame.f_lineno


@contextmanager
def record_construction(source_file: str) -> Iterator[dict[int, int]]:
    """Map ``id(module) -> line`` for modules built while the context is open.

    A module gets the line in ``source_file`` that called its outermost ``__init__``; modules
    built elsewhere (inside torchvision, say) are left out.
    """
    files = source_spellings(source_file)
    lines: dict[int, int] = {}
    original: Callable[..., None] = nn.Module.__init__

    def recording_init(self: nn.Module, *args: Any, **kwargs: Any) -> None:
        # Always overwrite: an id recorded for a module of a failed build may be reused.
        line = _constructing_frame_line(self, files)
        if line is None:
            lines.pop(id(self), None)
        else:
            lines[id(self)] = line
        original(self, *args, **kwargs)

    nn.Module.__init__ = recording_init  # type: ignore[method-assign]
    try:
        yield lines
    finally:
        nn.Module.__init__ = original  # type: ignore[method-assign]
