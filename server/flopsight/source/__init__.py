"""flopsight.source: what a Python text defines, read without importing torch.

- ``analyse_source(text, path=None) -> SourceAnalysis``: the models (``nn.Module`` subclasses and
  module-level instances carrying a pragma), their input annotations (pragma, jaxtyping,
  ``Annotated``), diagnostics FS101-FS108, and every top-level statement with whether it executes.
  Never raises; a text that does not parse gives ``SourceAnalysis.syntax_error``.
- ``resolve_inputs(spec, setting_dims, dtype_override=None) -> list[InputSpec]``: concrete shapes;
  raises ``UnresolvedDimension`` for a symbolic dimension without a value.
- ``executable_nodes(tree, analysis.statements) -> list[ast.stmt]``: the top-level nodes that
  execute, with their original line numbers; compile each alone
  (``compile(ast.Module([node], []), path, "exec")``) so one that fails does not stop the others.
  ``executable_source(text, analysis)`` gives the same as (first, last) line ranges.
- ``pragma_comment(shape, dtype=None)``: ``"# flopsight: input=(1, 3, 224, 224)"``.

Lines are 1-based; columns are 0-based character offsets (equal to ``ast``'s byte offsets on
ASCII lines). Lines break at \\n, \\r\\n and \\r only, as Python's tokenizer does (not at form
feeds, unlike ``str.splitlines``).

Decisions where the design is silent:
- Docstrings and other bare constants execute (harmless); every other expression statement is
  skipped. A ``raise`` inside a ``try`` handler keeps the block executable (guarded imports).
- A top-level assignment calling an annotated class of the file (``model = Net()``) is skipped
  like a pragma'd instance: flopsight builds that model itself, on meta. It still runs when a
  pragma'd instance's expression reads its name.
- A pragma that belongs to no model (inside a function, on ``def forward``, on a tuple
  assignment, separated from its class by a blank line) is an FS108 warning.
- An unannotated model whose pragma or annotation already has a diagnostic gets no FS107 hint.
"""

from __future__ import annotations

from flopsight.source.analyse import analyse_source
from flopsight.source.execution import executable_nodes, executable_ranges
from flopsight.source.inputs import resolve_inputs
from flopsight.source.model import (
    InputAnnotation,
    ModelSpec,
    SourceAnalysis,
    SourceDiagnostic,
    Span,
    TopLevelStatement,
    UnresolvedDimension,
)
from flopsight.source.pragma import KNOWN_PRAGMA_KEYS, normalise_dtype, pragma_comment


def executable_source(text: str, analysis: SourceAnalysis) -> list[tuple[int, int]]:
    """(first line, last line) of each top-level statement that executes (1-based, inclusive)."""
    del text  # the statements already carry their lines
    return executable_ranges(analysis.statements)


__all__ = [
    "KNOWN_PRAGMA_KEYS",
    "InputAnnotation",
    "ModelSpec",
    "SourceAnalysis",
    "SourceDiagnostic",
    "Span",
    "TopLevelStatement",
    "UnresolvedDimension",
    "analyse_source",
    "executable_nodes",
    "executable_source",
    "normalise_dtype",
    "pragma_comment",
    "resolve_inputs",
]
