"""Notebooks as one virtual module: LSP positions and ranges of cells <-> the virtual text.

A notebook is analysed as the text ``flopsight.source.notebook.build_virtual_module`` joins
from its code cells (each cell's document URI is its id there); everything shown in a cell
is mapped back from that text. Nothing here runs a second code path: the notebook is one
document of the session, and this module only translates lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from lsprotocol import types

from flopsight.source.notebook import NotebookCell, VirtualModule, build_virtual_module


@dataclass
class NotebookText:
    """A notebook's cells and their virtual module."""

    uri: str
    cells: list[NotebookCell] = field(default_factory=list)
    module: VirtualModule = field(default_factory=lambda: VirtualModule(text=""))

    @classmethod
    def build(cls, uri: str, cells: Iterable[NotebookCell]) -> NotebookText:
        cells = list(cells)
        return cls(uri, cells, build_virtual_module(cells))

    @property
    def text(self) -> str:
        return self.module.text

    def cell_text(self, cell_uri: str) -> str:
        for cell in self.cells:
            if cell.id == cell_uri:
                return cell.text
        return ""

    def code_cells(self) -> list[str]:
        return [span.id for span in self.module.cells]

    def to_virtual_line(self, cell_uri: str, row: int) -> int | None:
        """0-based row of a cell -> 1-based virtual line."""
        return self.module.to_virtual(cell_uri, row + 1)

    def to_cell_row(self, line: int) -> tuple[str, int] | None:
        """1-based virtual line -> (cell URI, 0-based row in the cell)."""
        where = self.module.to_cell(line)
        if where is None:
            return None
        span, inner = where
        return span.id, inner - 1

    def to_cell_range(self, rng: types.Range) -> tuple[str, types.Range] | None:
        """A virtual range -> the cell holding its start, and the range there (clipped)."""
        start = self.to_cell_row(rng.start.line + 1)
        if start is None:
            return None
        cell, row = start
        end = self.to_cell_row(rng.end.line + 1)
        if end is None or end[0] != cell:
            end_pos = types.Position(line=row, character=rng.start.character)
        else:
            end_pos = types.Position(line=end[1], character=rng.end.character)
        return cell, types.Range(
            start=types.Position(line=row, character=rng.start.character), end=end_pos
        )

    def to_virtual_range(self, cell_uri: str, rng: types.Range) -> types.Range | None:
        start = self.to_virtual_line(cell_uri, rng.start.line)
        end = self.to_virtual_line(cell_uri, rng.end.line)
        if start is None:
            return None
        end = end if end is not None else start
        return types.Range(
            start=types.Position(line=start - 1, character=rng.start.character),
            end=types.Position(line=end - 1, character=rng.end.character),
        )

    def split_diagnostics(
        self, diagnostics: Iterable[types.Diagnostic]
    ) -> dict[str, list[types.Diagnostic]]:
        """Diagnostics of the virtual text, by cell (every code cell present, maybe empty)."""
        out: dict[str, list[types.Diagnostic]] = {cell: [] for cell in self.code_cells()}
        for diag in diagnostics:
            mapped = self.to_cell_range(diag.range)
            if mapped is None:
                continue
            cell, rng = mapped
            diag.range = rng
            out.setdefault(cell, []).append(diag)
        return out

    def map_edit(self, edit: types.TextEdit) -> tuple[str, types.TextEdit] | None:
        mapped = self.to_cell_range(edit.range)
        if mapped is None:
            return None
        cell, rng = mapped
        return cell, types.TextEdit(range=rng, new_text=edit.new_text)
