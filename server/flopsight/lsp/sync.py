"""The server's copy of each open text document, kept by the protocol's own line definition.

didOpen / didChange are applied here, not through pygls' ``TextDocument``: its line list comes
from ``str.splitlines``, which also breaks at ``\\f``, ``\\v``, U+0085 and U+2028, so an
incremental edit below such a character landed on the wrong line and the server's text drifted
from the editor's. Here ``\\n``, ``\\r\\n`` and ``\\r`` end a line (``flopsight.source.text``) and
columns are the client's units (UTF-16 unless it chose UTF-32). Protocol-free apart from the
change events' types.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from lsprotocol import types

from flopsight.lsp.positions import index
from flopsight.source.text import line_starts


@dataclass
class SyncedText:
    """One document's text, its version, and where its lines start (computed when needed)."""

    text: str
    version: int | None = None
    _starts: list[int] | None = field(default=None, repr=False)

    @property
    def starts(self) -> list[int]:
        if self._starts is None:
            self._starts = line_starts(self.text)
        return self._starts

    def offset(self, pos: types.Position, utf16: bool = True) -> int:
        """The string index of a client position; past a line's end is its end, as the LSP says."""
        starts = self.starts
        if pos.line >= len(starts):
            return len(self.text)
        start = starts[pos.line]
        end = starts[pos.line + 1] if pos.line + 1 < len(starts) else len(self.text)
        line = self.text[start:end].rstrip("\r\n")
        return start + index(line, pos.character, utf16)

    def apply(self, change: types.TextDocumentContentChangeEvent, utf16: bool = True) -> None:
        if isinstance(change, types.TextDocumentContentChangePartial):
            a = self.offset(change.range.start, utf16)
            b = max(a, self.offset(change.range.end, utf16))
            self.text = self.text[:a] + change.text + self.text[b:]
        else:
            self.text = change.text
        self._starts = None


class DocumentTexts:
    """The texts of the open documents (notebook cells included), by URI."""

    def __init__(self) -> None:
        self._docs: dict[str, SyncedText] = {}
        self.utf16 = True

    def open(self, uri: str, text: str, version: int | None = None) -> str:
        self._docs[uri] = SyncedText(text, version)
        return text

    def change(
        self,
        uri: str,
        changes: Iterable[types.TextDocumentContentChangeEvent],
        version: int | None = None,
    ) -> str:
        """Applies the changes in order (each is relative to the text the previous one left)."""
        doc = self._docs.setdefault(uri, SyncedText(""))
        for change in changes:
            doc.apply(change, self.utf16)
        doc.version = version
        return doc.text

    def close(self, uri: str) -> None:
        self._docs.pop(uri, None)

    def text(self, uri: str) -> str | None:
        doc = self._docs.get(uri)
        return None if doc is None else doc.text

    def __contains__(self, uri: object) -> bool:
        return uri in self._docs

    def __len__(self) -> int:
        return len(self._docs)
