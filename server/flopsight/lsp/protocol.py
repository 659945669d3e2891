"""pygls' protocol, except that document texts are left to ``flopsight.lsp.sync``.

pygls applies each didChange to its own ``TextDocument`` before our handler runs; its lines come
from ``str.splitlines`` (breaking at ``\\f``, U+0085, U+2028 too) and, where a position lies past
the end of one of those lines, it clamps the position in the params themselves, so the handler
would receive a changed range. Here didChange reaches the handler untouched; notebook changes
still update pygls' notebook structure (cell order and kinds), without the cells' text.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import attrs
from lsprotocol import types
from pygls.protocol import LanguageServerProtocol, lsp_method


class TextSyncProtocol(LanguageServerProtocol):
    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(
        self, params: types.DidChangeTextDocumentParams
    ) -> Generator[Any, Any, None]:
        handler = self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)
        if handler is not None:
            yield handler, (params,), None

    @lsp_method(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
    def lsp_notebook_document__did_change(
        self, params: types.DidChangeNotebookDocumentParams
    ) -> Generator[Any, Any, None]:
        cells = params.change.cells
        structure = params
        if cells is not None and cells.text_content:
            change = attrs.evolve(params.change, cells=attrs.evolve(cells, text_content=None))
            structure = attrs.evolve(params, change=change)
        self.workspace.update_notebook_document(structure)
        handler = self.fm.features.get(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
        if handler is not None:
            yield handler, (params,), None
