"""Which top-level statements of a file run when flopsight loads it (design: What runs).

Definitions run: imports, ``def``, ``class``, assignments, and ``if``/``try`` blocks made only of
these. Everything else is skipped: expression statements (``train()``, ``print(...)``), loops,
``with`` blocks, the ``if __name__ == "__main__":`` block, and the assignments that build a model
flopsight builds itself. Docstrings and other bare constants run (they are harmless).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from flopsight.source.model import TopLevelStatement

INSTANCE_REASON = "model instance built by flopsight"


def is_main_guard(node: ast.stmt) -> bool:
    """``if __name__ == "__main__":`` (either operand order, also ``!=`` never runs it either)."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and len(test.comparators) == 1):
        return False
    sides = [test.left, test.comparators[0]]
    has_name = any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)
    has_main = any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides)
    return has_name and has_main and isinstance(test.ops[0], ast.Eq)


def _kind(node: ast.stmt) -> str:
    """Why a statement is not a definition ("" when it is one)."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        return ""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return ""
    if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
        return ""
    if isinstance(node, ast.Pass):
        return ""
    if isinstance(node, ast.Expr):
        if isinstance(node.value, ast.Constant):
            return ""  # a docstring or a bare constant: harmless
        return "expression statement"
    if isinstance(node, ast.For | ast.AsyncFor | ast.While):
        return "loop"
    if isinstance(node, ast.With | ast.AsyncWith):
        return "with block"
    if isinstance(node, ast.If):
        if is_main_guard(node):
            return "__main__ block"
        return _block_reason("if block", [*node.body, *node.orelse])
    if isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
        try_node: ast.Try = node  # type: ignore[assignment]
        inner: list[ast.stmt] = [*try_node.body, *try_node.orelse, *try_node.finalbody]
        for handler in try_node.handlers:
            # Re-raising from a handler is part of a guarded import (`raise ImportError(...)`).
            inner += [s for s in handler.body if not isinstance(s, ast.Raise)]
        return _block_reason("try block", inner)
    names = {
        ast.Assert: "assert statement",
        ast.Delete: "del statement",
        ast.Raise: "raise statement",
        ast.Return: "return statement",
        ast.Global: "global statement",
        ast.Nonlocal: "nonlocal statement",
        ast.Break: "break statement",
        ast.Continue: "continue statement",
    }
    for cls, reason in names.items():
        if isinstance(node, cls):
            return reason
    if type(node).__name__ == "Match":
        return "match statement"
    return f"{type(node).__name__.lower()} statement"


def _block_reason(block: str, body: Iterable[ast.stmt]) -> str:
    for stmt in body:
        inner = _kind(stmt)
        if inner:
            return f"{block}: line {stmt.lineno} ({inner}) is not a definition"
    return ""


def top_level_statements(
    tree: ast.Module, skip_lines: dict[int, str] | None = None
) -> list[TopLevelStatement]:
    """Each top-level statement, whether it runs and why not.

    ``skip_lines``: first lines of statements to skip anyway, with the reason (the assignments
    that build a model flopsight builds itself).
    """
    skip_lines = skip_lines or {}
    out: list[TopLevelStatement] = []
    for node in tree.body:
        start = first_line(node)
        end = node.end_lineno or node.lineno
        reason = skip_lines.get(node.lineno) or _kind(node)
        out.append(TopLevelStatement(start, end, not reason, reason))
    return out


def first_line(node: ast.stmt) -> int:
    """The statement's first line, decorators included."""
    decorators: list[ast.expr] = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)])


def executable_nodes(tree: ast.Module, statements: list[TopLevelStatement]) -> list[ast.stmt]:
    """The top-level nodes that execute, in order, keeping their original line numbers.

    Compile each on its own (``compile(ast.Module([node], []), path, "exec")``) so that one that
    fails does not stop the others.
    """
    runs = {s.line for s in statements if s.executes}
    return [n for n in tree.body if first_line(n) in runs]


def executable_ranges(statements: list[TopLevelStatement]) -> list[tuple[int, int]]:
    """(first line, last line) of each statement that executes, 1-based and inclusive."""
    return [(s.line, s.end_line) for s in statements if s.executes]
