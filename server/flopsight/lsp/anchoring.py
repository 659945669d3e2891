"""Re-anchoring: carry the lines of an earlier analysis over to the text as it is now.

A report names lines of the text it was computed from. While the user types, the editor shows
that report against a newer text; every line number must either follow the statement it
belongs to or be withheld, never land on a different statement.

Both texts are parsed; each statement gets an identity made of its parents' identities and its
own: a ``class``/``def`` by its name, a block (``if``/``for``/``with``/``try``) by its header,
any other statement (assignments included) by its whole text, each with its rank among equal
siblings. A line of the old text maps to the new text when the statement holding it exists
there with the same identity and the same text. When the new text does not parse (half-typed
code), only unchanged runs of lines found by a line diff carry over, each line keeping its own
text.

Every step is linear in the texts' sizes (the line diff compares only what lies between the common
first and last lines, and gives up beyond ``DIFF_MAX_LINES``), and the maps are cached by the
characters of the texts they hold (``CACHE_MAX_CHARS``), not by count: a few large files cannot
pin hundreds of megabytes.
"""

from __future__ import annotations

import ast
import difflib
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace

from flopsight.report.model import LayerCost, LineCost, ModelError, ModelReport, SourceWarning
from flopsight.source.text import split_lines

# old line (1-based) -> new line (1-based)
LineMap = Mapping[int, int]


class Unchanged(Mapping[int, int]):
    """The map of a text to itself: every line to itself, without a dict of 100k entries."""

    def __init__(self, text: str) -> None:
        # Line breaks as split_lines counts them: \n, \r\n, \r.
        self.count = text.count("\n") + text.count("\r") - text.count("\r\n") + 1

    def __getitem__(self, line: int) -> int:
        if isinstance(line, int) and 1 <= line <= self.count:
            return line
        raise KeyError(line)

    def __iter__(self) -> Iterator[int]:
        return iter(range(1, self.count + 1))

    def __len__(self) -> int:
        return self.count


_Key = tuple[tuple[str, str, int], ...]


def _stmt_lines(lines: Sequence[str], first: int, last: int) -> tuple[str, ...]:
    if first == last and 0 < first <= len(lines):
        return (lines[first - 1].strip(),)
    return tuple(line.strip() for line in lines[max(first, 1) - 1 : last])


def _last_line(node: ast.stmt) -> int:
    return node.end_lineno if node.end_lineno is not None else node.lineno


def _first_line(node: ast.stmt) -> int:
    decorators: list[ast.expr] = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)])


def _child_bodies(node: ast.stmt) -> list[tuple[str, list[ast.stmt]]]:
    bodies: list[tuple[str, list[ast.stmt]]] = []
    for field_name in ("body", "orelse", "finalbody"):
        value = getattr(node, field_name, None)
        if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
            bodies.append((field_name, value))
    for i, handler in enumerate(getattr(node, "handlers", []) or []):
        if isinstance(handler, ast.ExceptHandler):
            bodies.append((f"except{i}", handler.body))
    for i, case in enumerate(getattr(node, "cases", []) or []):
        bodies.append((f"case{i}", case.body))
    return bodies


class _Statements:
    """Every statement of a text keyed by identity: key -> (header lines, header text)."""

    def __init__(self, text: str, tree: ast.Module) -> None:
        self.lines = split_lines(text)
        self.entries: dict[_Key, tuple[list[int], tuple[str, ...]]] = {}
        self._walk(tree.body, ())

    def _walk(self, body: list[ast.stmt], parent: _Key) -> None:
        seen: dict[tuple[str, str], int] = {}
        for node in body:
            bodies = _child_bodies(node)
            first = _first_line(node)
            if bodies:
                # Header: from the decorators to the line before the first child statement.
                first_child = min(_first_line(b[1][0]) for b in bodies)
                header_last = max(node.lineno, first_child - 1)
                header_last = min(header_last, _last_line(node))
                owned = list(range(first, header_last + 1))
            else:
                owned = list(range(first, _last_line(node) + 1))
            text = _stmt_lines(self.lines, owned[0], owned[-1]) if owned else ()
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                ident = (type(node).__name__, node.name)
            elif bodies:
                ident = ("block", text[0] if text else "")
            else:
                ident = ("stmt", "\n".join(text))
            rank = seen.get(ident, 0)
            seen[ident] = rank + 1
            key = (*parent, (ident[0], ident[1], rank))
            self.entries[key] = (owned, text)
            for name, child in bodies:
                self._walk(child, (*key, ("field", name, 0)))


def _parse(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError):
        return None


# Lines between the common head and tail that the line diff still compares (quadratic in them).
DIFF_MAX_LINES = 2000
CACHE_MAX_CHARS = 16 * 2**20


class _MapCache:
    """Line maps by (old text, new text), least recently used out first, bounded by characters;
    each entry remembers the document it was made for, so that closing it drops its entries."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.chars = 0
        self._maps: OrderedDict[tuple[str, str], LineMap] = OrderedDict()
        self._owners: dict[tuple[str, str], str | None] = {}

    def get(self, key: tuple[str, str]) -> LineMap | None:
        found = self._maps.get(key)
        if found is not None:
            self._maps.move_to_end(key)
        return found

    def put(self, key: tuple[str, str], value: LineMap, owner: str | None = None) -> None:
        size = len(key[0]) + len(key[1])
        if size > self.max_chars:
            return
        if key in self._maps:
            self.chars -= size
        self._maps[key] = value
        self._owners[key] = owner
        self.chars += size
        while self.chars > self.max_chars:
            old_key, _ = self._maps.popitem(last=False)
            del self._owners[old_key]
            self.chars -= len(old_key[0]) + len(old_key[1])

    def forget(self, owner: str) -> None:
        """Drops every map made for the document ``owner`` (it was closed)."""
        for key in [k for k, o in self._owners.items() if o == owner]:
            del self._maps[key], self._owners[key]
            self.chars -= len(key[0]) + len(key[1])

    def __len__(self) -> int:
        return len(self._maps)


CACHE = _MapCache(CACHE_MAX_CHARS)


def line_map(old_text: str, new_text: str, owner: str | None = None) -> LineMap:
    """Where each line of ``old_text`` is in ``new_text``; lines without a sure match are absent.

    ``owner``: the document the map is for (``CACHE.forget`` drops its maps when it closes).
    """
    if old_text == new_text:
        return Unchanged(new_text)
    key = (old_text, new_text)
    found = CACHE.get(key)
    if found is None:
        found = _line_map(old_text, new_text)
        CACHE.put(key, found, owner)
    return found


def line_maps(old_texts: Sequence[str], new_text: str) -> list[LineMap]:
    """``line_map`` of each old text, uncached: what the helper process computes for a large
    document (the session keeps the view it gives)."""
    return [_line_map(old, new_text) for old in old_texts]


def _line_map(old_text: str, new_text: str) -> LineMap:
    if old_text == new_text:
        return Unchanged(new_text)
    old_tree, new_tree = _parse(old_text), _parse(new_text)
    if old_tree is None or new_tree is None:
        return _diff_map(old_text, new_text)
    old, new = _Statements(old_text, old_tree), _Statements(new_text, new_tree)
    mapping: dict[int, int] = {}
    for key, (old_lines, old_stmt_text) in old.entries.items():
        found = new.entries.get(key)
        if found is None:
            continue
        new_lines, new_stmt_text = found
        if old_stmt_text != new_stmt_text or len(old_lines) != len(new_lines):
            continue
        for a, b in zip(old_lines, new_lines, strict=True):
            mapping[a] = b
    return mapping


def _diff_map(old_text: str, new_text: str) -> LineMap:
    old_lines, new_lines = split_lines(old_text), split_lines(new_text)
    head = 0
    limit = min(len(old_lines), len(new_lines))
    while head < limit and old_lines[head] == new_lines[head]:
        head += 1
    tail = 0
    while (
        tail < limit - head
        and old_lines[len(old_lines) - 1 - tail] == new_lines[len(new_lines) - 1 - tail]
    ):
        tail += 1
    mapping: dict[int, int] = {i: i for i in range(1, head + 1)}
    shift = len(new_lines) - len(old_lines)
    for i in range(len(old_lines) - tail + 1, len(old_lines) + 1):
        mapping[i] = i + shift
    old_mid = old_lines[head : len(old_lines) - tail]
    new_mid = new_lines[head : len(new_lines) - tail]
    if len(old_mid) > DIFF_MAX_LINES or len(new_mid) > DIFF_MAX_LINES:
        return mapping  # a large rewrite: its lines get no hints until the text parses again
    matcher = difflib.SequenceMatcher(a=old_mid, b=new_mid, autojunk=False)
    for tag, i1, i2, j1, _j2 in matcher.get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                mapping[head + i1 + k + 1] = head + j1 + k + 1
    return mapping


def _moved(line: int | None, mapping: LineMap) -> int | None:
    return None if line is None else mapping.get(line)


def anchor_model(report: ModelReport, mapping: LineMap) -> ModelReport | None:
    """The report with every line moved to the current text; None when the model's own line is gone.

    Layers whose line has no sure match lose it (they get no hint); per-line costs without a
    match are dropped; an error line without a match falls back to None (the model's line).
    """
    line = mapping.get(report.line)
    if line is None:
        return None
    # Lines of other files (``file`` set) are not this text's: they stay as they are.
    layers = [
        layer if layer.file is not None else replace(layer, line=_moved(layer.line, mapping))
        for layer in report.layers
    ]
    lines: list[LineCost] = []
    for cost in report.lines:
        if cost.file is not None:
            lines.append(cost)
            continue
        moved = mapping.get(cost.line)
        if moved is not None:
            lines.append(replace(cost, line=moved))
    error: ModelError | None = None
    if report.error is not None:
        error = replace(report.error, line=_moved(report.error.line, mapping))
    return replace(report, line=line, layers=layers, lines=lines, error=error)


def anchor_warnings(warnings: Iterable[SourceWarning], mapping: LineMap) -> list[SourceWarning]:
    """Warnings whose line still exists (file-level ones, without a line, always stay)."""
    kept: list[SourceWarning] = []
    for w in warnings:
        if w.line is None:
            kept.append(w)
        elif w.line in mapping:
            kept.append(replace(w, line=mapping[w.line]))
    return kept


def layer_lines(layers: Iterable[LayerCost]) -> set[int]:
    return {layer.line for layer in layers if layer.line is not None and layer.file is None}
