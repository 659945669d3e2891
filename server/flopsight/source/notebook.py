"""Notebooks as one virtual module: the code cells, in order, joined into a single Python text.

Everything downstream (source analysis, the worker, reports) sees one ordinary file; this module
maps its lines back to ``(cell, line)`` and forth. Markdown cells are left out; IPython magics and
shell escapes (``%timeit``, ``!pip install``, ``x = !ls``) become comments so they never run and
line numbers stay put; a cell whose ``%%`` magic is not Python (``%%bash``) is commented out whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from flopsight.source.text import split_lines

CellKind = Literal["code", "markdown", "raw"]

# Cell magics whose body is still Python and runs as such.
_PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug"}
_LINE_MAGIC = re.compile(r"^\s*(%|!)")
_SHELL_ASSIGN = re.compile(r"^\s*[\w.,\s]+=\s*[!%]")
_HELP = re.compile(r"^\s*[\w.]+\?{1,2}\s*$|^\s*\?")


@dataclass(frozen=True)
class NotebookCell:
    text: str
    kind: CellKind = "code"
    # The editor's cell document URI, or "cell <n>" for a file read from disk.
    id: str = ""


@dataclass(frozen=True)
class CellSpan:
    index: int  # position among all cells of the notebook (0-based)
    id: str
    start: int  # first line of the cell in the virtual text (1-based)
    line_count: int


@dataclass
class VirtualModule:
    text: str
    cells: list[CellSpan] = field(default_factory=list)

    def to_cell(self, line: int) -> tuple[CellSpan, int] | None:
        """Virtual 1-based line → (cell, 1-based line inside it); None for a separator line."""
        for cell in self.cells:
            if cell.start <= line < cell.start + cell.line_count:
                return cell, line - cell.start + 1
        return None

    def to_virtual(self, cell_id: str, line: int) -> int | None:
        """1-based line inside the cell with this id → virtual 1-based line."""
        for cell in self.cells:
            if cell.id == cell_id:
                return cell.start + line - 1 if 1 <= line <= cell.line_count else None
        return None

    def describe(self, line: int | None) -> str:
        """``cell 3, line 5`` (cells numbered from 1, as notebook UIs show them)."""
        if line is None:
            return "?"
        where = self.to_cell(line)
        if where is None:
            return f"line {line}"
        cell, inner = where
        return f"cell {cell.index + 1}, line {inner}"


def neutralise_ipython(text: str) -> str:
    """Turns magics, shell escapes and help queries into comments, keeping every line in place."""
    lines = split_lines(text)
    first = lines[0].strip() if lines else ""
    if first.startswith("%%"):
        magic = first[2:].split()[0] if first[2:].split() else ""
        if magic not in _PYTHON_CELL_MAGICS:
            return "\n".join("# " + line if line.strip() else line for line in lines)
        lines[0] = "# " + lines[0]
    out = []
    for line in lines:
        if _LINE_MAGIC.match(line) or _SHELL_ASSIGN.match(line) or _HELP.match(line):
            indent = line[: len(line) - len(line.lstrip())]
            # Inside a block a bare comment would leave it empty: `pass` keeps it valid.
            out.append(f"{indent}pass  # {line.strip()}" if indent else f"# {line}")
        else:
            out.append(line)
    return "\n".join(out)


def build_virtual_module(cells: Sequence[NotebookCell]) -> VirtualModule:
    """Joins the code cells, each followed by one blank separator line."""
    parts: list[str] = []
    spans: list[CellSpan] = []
    line = 1
    for index, cell in enumerate(cells):
        if cell.kind != "code":
            continue
        body = neutralise_ipython(cell.text.rstrip("\r\n"))
        count = body.count("\n") + 1
        spans.append(
            CellSpan(index=index, id=cell.id or f"cell {index + 1}", start=line, line_count=count)
        )
        parts.append(body)
        line += count + 1
    return VirtualModule(text="\n\n".join(parts) + ("\n" if parts else ""), cells=spans)


def read_ipynb(source: str | Path) -> list[NotebookCell]:
    """Cells of an ``.ipynb`` file (nbformat 4), from its path or its JSON text."""
    raw = Path(source).read_text(encoding="utf-8") if isinstance(source, Path) else source
    try:
        data: Any = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"not a notebook (invalid JSON at line {e.lineno}): {e.msg}") from e
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise ValueError("not a notebook: no 'cells' list (nbformat 4 expected)")
    cells = []
    for i, cell in enumerate(data["cells"]):
        src = cell.get("source", "")
        text = "".join(src) if isinstance(src, list) else str(src)
        kind = cell.get("cell_type", "code")
        cells.append(
            NotebookCell(
                text=text, kind=kind if kind in ("code", "markdown") else "raw", id=f"cell {i + 1}"
            )
        )
    return cells


def is_notebook_path(path: str | Path) -> bool:
    return str(path).endswith(".ipynb")
