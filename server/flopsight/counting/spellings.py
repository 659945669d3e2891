"""The names a frame may give the analysed file: the path as given, absolute, and resolved."""

from __future__ import annotations

import os


def source_spellings(path: str | None) -> frozenset[str]:
    """Every spelling of ``path`` a code object's ``co_filename`` may use; empty for None."""
    if not path:
        return frozenset()
    return frozenset({path, os.path.abspath(path), os.path.realpath(path)})
