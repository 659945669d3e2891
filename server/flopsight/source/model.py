"""What ``flopsight.source`` finds in a Python text, without importing torch.

Lines are 1-based and columns 0-based (as Python's ``ast`` reports them); the LSP layer
converts to 0-based positions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "info", "hint"]


@dataclass(frozen=True)
class Span:
    line: int
    col: int
    end_line: int
    end_col: int


@dataclass
class SourceDiagnostic:
    span: Span
    code: str  # "FS101"... (the README lists them)
    message: str  # says what is wrong and how to fix it
    severity: Severity = "error"
    # Machine-readable detail for code actions, e.g. {"key": "inptu", "suggestion": "input"}.
    data: dict[str, Any] = field(default_factory=dict)
    # What is wrong without the editor's advice (the CLI adds its own): the parser's message.
    detail: str | None = None


@dataclass(frozen=True)
class InitExpression:
    """An ``init`` value that is code (``GPTConfig(n_layer=2)``): the source side keeps its
    text; only the worker evaluates it, in the file's namespace, where execution is allowed."""

    text: str
    span: Span


@dataclass
class InputAnnotation:
    """One input of a model as written: dims are ints, or names of symbolic dimensions."""

    name: str  # forward parameter name, or "x" / "input_<i>" when the pragma gives none
    shape: list[int | str]
    dtype: str | None = None  # None: float32 (or the pragma's dtype)
    span: Span | None = None  # where the shape is written (for diagnostics)


@dataclass
class ModelSpec:
    """One model the file defines: an ``nn.Module`` subclass or a module-level instance."""

    name: str  # class name, or the variable assigned (``net``)
    kind: Literal["class", "instance"]
    line: int  # the ``class`` line (after decorators) or the assignment's first line
    end_line: int  # last line of the class body / assignment
    name_span: Span  # the class name / assigned variable, for hover and lens anchoring
    # For an instance: the source text of the call that builds it (``models.densenet161()``).
    expression: str | None = None
    # None: the model has no input annotation (it is then not executed unless overridden).
    inputs: list[InputAnnotation] | None = None
    input_source: Literal["pragma", "jaxtyping", "annotated"] | None = None
    # The pragma's `input` is a dict: each input goes to forward by keyword.
    inputs_by_name: bool = False
    # Constructor keyword arguments: literals, or InitExpressions the worker evaluates.
    init: dict[str, Any] = field(default_factory=dict)
    dims: dict[str, int] = field(default_factory=dict)  # pragma ``dims=``
    label: str | None = None  # pragma ``name=``
    # pragma ``mode=``: "training" counts this model's training step; None: the setting's.
    mode: Literal["inference", "training"] | None = None
    # Pragma ``optimizer=`` / ``precision=`` (memory of a training step, issue 15).
    train: dict[str, str] = field(default_factory=dict)
    pragma_span: Span | None = None  # the whole ``# flopsight: ...`` comment
    # forward's parameter names after ``self`` (pragma shapes are matched to them in order).
    forward_params: list[str] = field(default_factory=list)
    # For the "insert pragma" code action: a shape guessed from the first layer, e.g. [1, 784].
    guessed_input: list[int] | None = None
    # The guess's dtype when not float32 (``"int64"`` for a model starting with nn.Embedding).
    guessed_dtype: str | None = None
    # Base classes as written (``nn.Module``, ``Block``), for display.
    bases: list[str] = field(default_factory=list)


@dataclass
class TopLevelStatement:
    line: int
    end_line: int
    executes: bool
    # Why it does not execute ("expression statement", "loop", "__main__ block", "model instance
    # built by flopsight", ...), or "" when it does.
    reason: str = ""


@dataclass
class SourceAnalysis:
    models: list[ModelSpec] = field(default_factory=list)
    diagnostics: list[SourceDiagnostic] = field(default_factory=list)
    # Set when the text does not parse; models and statements are then empty.
    syntax_error: SourceDiagnostic | None = None
    statements: list[TopLevelStatement] = field(default_factory=list)

    def model(self, name: str) -> ModelSpec | None:
        for m in self.models:
            if m.name == name or m.label == name:
                return m
        return None


class UnresolvedDimension(ValueError):
    """A symbolic dimension has no value in the pragma's ``dims`` nor in ``flopsight.dims``."""

    def __init__(self, dim: str, model: str, span: Span | None) -> None:
        super().__init__(
            f"dimension {dim!r} of {model} has no value: add dims={{{dim!r}: ...}} to the pragma "
            f"or set flopsight.dims"
        )
        self.dim = dim
        self.model = model
        self.span = span
