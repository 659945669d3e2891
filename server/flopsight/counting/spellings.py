"""Which files the counter charges lines to: the analysed file, and the workspace's others.

A frame's ``co_filename`` may spell the analysed file as given, absolute or resolved. Other
files count when they lie under the workspace root and are not installed code (site-packages,
the interpreter's own library, flopsight itself): their ops, constructions and calls are
charged to their own lines, keyed by the path relative to the root.
"""

from __future__ import annotations

import os
import sys

from flopsight.paths import is_installed

# (file relative to the workspace root, or None for the analysed file; 1-based line)
Loc = tuple[str | None, int]

_FLOPSIGHT = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_INSTALLED = tuple(
    {os.path.abspath(p) + os.sep for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
)


def source_spellings(path: str | None) -> frozenset[str]:
    """Every spelling of ``path`` a code object's ``co_filename`` may use; empty for None."""
    if not path:
        return frozenset()
    return frozenset({path, os.path.abspath(path), os.path.realpath(path)})


def _installed(path: str) -> bool:
    return is_installed(path) or path.startswith(_FLOPSIGHT) or path.startswith(_INSTALLED)


class SourceFiles:
    """Answers, per ``co_filename`` (cached), whether its lines are charged and under what key.

    Without a root only the analysed file is charged; without an analysed file nothing is.
    """

    def __init__(self, source_file: str | None, root: str | None = None) -> None:
        self.own = source_spellings(source_file)
        self.root = os.path.abspath(root) if root and source_file else None
        # co_filename -> charged?; co_filename -> its key (None: the analysed file)
        self.charged: dict[str, bool] = dict.fromkeys(self.own, True)
        self.keys: dict[str, str | None] = dict.fromkeys(self.own)

    def __bool__(self) -> bool:
        return bool(self.own)

    def is_charged(self, filename: str) -> bool:
        known = self.charged.get(filename)
        if known is None:
            known = self.charged[filename] = self._classify(filename)
        return known

    def key(self, filename: str) -> str | None:
        """The key of a charged file: None for the analysed file, else its relative path."""
        return self.keys.get(filename)

    def _classify(self, filename: str) -> bool:
        root = self.root
        if root is None or not filename or filename.startswith("<"):
            return False
        path = os.path.abspath(filename)
        if not path.startswith(root + os.sep) or _installed(path) or not os.path.isfile(path):
            return False
        if os.path.realpath(path) in self.own:  # a second spelling of the analysed file
            self.keys[filename] = None
            return True
        self.keys[filename] = os.path.relpath(path, root).replace(os.sep, "/")
        return True
