"""Lines of a source text: spans in character columns, and comments found without tokenizing.

``split_lines`` is flopsight's one line model, used by the source analysis, the language server,
``annotate`` and notebooks alike: ``\n``, ``\r\n`` and ``\r`` end a line, as for Python's
tokenizer and the LSP. ``str.splitlines`` also breaks at ``\f``, ``\v``, ``\x1c``-``\x1e``,
U+0085, U+2028 and U+2029, which would put every line below one of them off by one.

``ast`` reports columns as UTF-8 byte offsets; flopsight's spans use character (code point)
offsets so that a non-ASCII line still puts a diagnostic under the right text. On ASCII lines the
two agree.
"""

from __future__ import annotations

import ast
import bisect
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from flopsight.source.model import Span

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    """The lines of ``text`` without their line breaks (``\n``, ``\r\n``, ``\r`` only).

    A text ending in a line break has an empty last line, as an editor shows it.
    """
    if "\r" not in text:
        return text.split("\n")
    return _LINE_BREAK.split(text)


def line_starts(text: str) -> list[int]:
    """The string index where each line of ``split_lines(text)`` starts."""
    if "\r" not in text:
        starts = list(itertools.accumulate((len(s) + 1 for s in text.split("\n")), initial=0))
        starts.pop()
        return starts
    return [0, *(m.end() for m in _LINE_BREAK.finditer(text))]


@dataclass(frozen=True)
class Comment:
    line: int  # 1-based
    col: int  # character column of the ``#``
    text: str  # from the ``#`` to the end of the line (newline excluded)
    trailing: bool  # code precedes it on its line


class SourceLines:
    """The text split into lines, converting ``ast`` byte columns to character columns."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = split_lines(text)

    def line(self, lineno: int) -> str:
        if 1 <= lineno <= len(self.lines):
            return self.lines[lineno - 1]
        return ""

    def char_col(self, lineno: int, byte_col: int) -> int:
        line = self.line(lineno)
        if line.isascii():
            return byte_col
        return len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))

    def node_span(self, node: ast.AST) -> Span:
        lineno: int = getattr(node, "lineno", 1)
        col: int = getattr(node, "col_offset", 0)
        end_lineno: int = getattr(node, "end_lineno", None) or lineno
        end_col: int = getattr(node, "end_col_offset", None) or col
        return Span(
            lineno,
            self.char_col(lineno, col),
            end_lineno,
            self.char_col(end_lineno, end_col),
        )

    def segment(self, node: ast.AST) -> str:
        span = self.node_span(node)
        if span.line == span.end_line:
            return self.line(span.line)[span.col : span.end_col]
        parts = [self.line(span.line)[span.col :]]
        parts += [self.line(n) for n in range(span.line + 1, span.end_line)]
        parts.append(self.line(span.end_line)[: span.end_col])
        return "\n".join(parts)


def _nodes_spanning(tree: ast.AST, wanted: list[int]) -> Iterator[ast.AST]:
    """Nodes whose lines include one of ``wanted`` (sorted), pruning every other subtree."""
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        start = getattr(node, "lineno", None)
        if start is not None:
            end = getattr(node, "end_lineno", None) or start
            i = bisect.bisect_left(wanted, start)
            if i == len(wanted) or wanted[i] > end:
                continue
        yield node
        todo.extend(ast.iter_child_nodes(node))


def string_interiors(
    tree: ast.AST, lines: SourceLines, wanted: list[int] | None = None
) -> dict[int, int]:
    """Lines that start inside a multi-line string: line -> column where the string ends on it.

    A line entirely inside the string maps to -1. ``wanted``: only these lines matter (sorted).
    """
    inside: dict[int, int] = {}
    nodes = ast.walk(tree) if wanted is None else _nodes_spanning(tree, wanted)
    for node in nodes:
        if not isinstance(node, ast.Constant | ast.JoinedStr):
            continue
        end = node.end_lineno
        if end is None or end == node.lineno:
            continue
        if isinstance(node, ast.Constant) and not isinstance(node.value, str | bytes):
            continue
        for n in range(node.lineno + 1, end):
            inside[n] = -1
        end_col = lines.char_col(end, node.end_col_offset or 0)
        inside[end] = max(inside.get(end, 0), end_col) if inside.get(end, 0) != -1 else -1
    return inside


def find_comment(line: str, start: int = 0) -> int | None:
    """Column of the ``#`` that starts a comment on ``line`` (scanning from ``start``), or None.

    ``start`` must be outside any string. A string left open at the end of the line (a triple
    quote continuing below) ends the search.
    """
    i = start
    n = len(line)
    while i < n:
        c = line[i]
        if c == "#":
            return i
        if c in "'\"":
            triple = line[i : i + 3] == c * 3
            quote = c * 3 if triple else c
            i += len(quote)
            while i < n:
                if line[i] == "\\":
                    i += 2
                    continue
                if line.startswith(quote, i):
                    i += len(quote)
                    break
                i += 1
            else:
                return None
            continue
        i += 1
    return None


def comments_containing(lines: SourceLines, tree: ast.AST, needle: str) -> dict[int, Comment]:
    """Every comment whose text contains ``needle``, by line (cheap: only lines holding it)."""
    candidates = [i + 1 for i, line in enumerate(lines.lines) if needle in line]
    if not candidates:
        return {}
    interiors = string_interiors(tree, lines, candidates)
    found: dict[int, Comment] = {}
    for lineno in candidates:
        start = interiors.get(lineno, 0)
        if start < 0:
            continue
        line = lines.line(lineno)
        col = find_comment(line, start)
        if col is None or needle not in line[col:]:
            continue
        found[lineno] = Comment(lineno, col, line[col:], trailing=bool(line[:col].strip()))
    return found


def is_comment_only(line: str) -> bool:
    return line.lstrip().startswith("#")
