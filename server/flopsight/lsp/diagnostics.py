"""Diagnostics (source ``flopsight``, codes from ``flopsight.codes``) for one document.

From the source analysis of the current text: syntax errors, pragma errors at their span,
unresolved symbolic dimensions, models without an input shape. From the (re-anchored)
reports: a model's error at the line of the file where it happened, limits hit, ops not
counted, top-level statements that failed. With execution off: one info diagnostic.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from lsprotocol import types

from flopsight.codes import Code
from flopsight.lsp.documents import DocumentView
from flopsight.lsp.positions import column, first_non_blank, line_end
from flopsight.report.model import ModelReport
from flopsight.source.model import SourceAnalysis, SourceDiagnostic, Span
from flopsight.source.text import split_lines

SOURCE = "flopsight"

_SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "info": types.DiagnosticSeverity.Information,
    "hint": types.DiagnosticSeverity.Hint,
}


class Lines:
    """The current text's lines, for turning 1-based lines and Python columns into LSP ranges."""

    def __init__(self, text: str, utf16: bool = True) -> None:
        self.lines = split_lines(text)
        self.utf16 = utf16

    def _text(self, line: int) -> str:
        return self.lines[line - 1] if 0 < line <= len(self.lines) else ""

    def clamp(self, line: int) -> int:
        return min(max(line, 1), len(self.lines))

    def line_range(self, line: int) -> types.Range:
        """The statement's text on a 1-based line, indentation left out."""
        line = self.clamp(line)
        text = self._text(line)
        start = column(text, first_non_blank(text), self.utf16)
        end = line_end(text, self.utf16)
        return types.Range(
            start=types.Position(line=line - 1, character=start),
            end=types.Position(line=line - 1, character=max(end, start)),
        )

    def span_range(self, span: Span) -> types.Range:
        start_line, end_line = self.clamp(span.line), self.clamp(span.end_line)
        start_text, end_text = self._text(start_line), self._text(end_line)
        start = column(start_text, min(span.col, len(start_text)), self.utf16)
        end = column(end_text, min(span.end_col, len(end_text)), self.utf16)
        if (end_line, end) < (start_line, start):
            end_line, end = start_line, start
        return types.Range(
            start=types.Position(line=start_line - 1, character=start),
            end=types.Position(line=end_line - 1, character=end),
        )


def make(
    rng: types.Range,
    code: str,
    message: str,
    severity: types.DiagnosticSeverity,
    data: object = None,
) -> types.Diagnostic:
    return types.Diagnostic(
        range=rng, message=message, severity=severity, code=code, source=SOURCE, data=data
    )


def from_source(diag: SourceDiagnostic, lines: Lines) -> types.Diagnostic:
    return make(
        lines.span_range(diag.span),
        diag.code,
        diag.message,
        _SEVERITY.get(diag.severity, types.DiagnosticSeverity.Error),
        dict(diag.data) if diag.data else None,
    )


def model_diagnostics(
    model: ModelReport, lines: Lines, source: SourceAnalysis | None = None
) -> list[types.Diagnostic]:
    out: list[types.Diagnostic] = []
    if model.status == "error" and model.error is not None:
        error = model.error
        code = error.code
        line = error.line if error.line is not None else model.line
        pragma = _pragma_span(source, model) if code is Code.FS104 else None
        message = f"{model.display_name}: {error.type}: {error.text()}".rstrip()
        if code is Code.FS202 and error.line is not None and error.line != model.line:
            message += f" (in forward of {model.display_name})"
        severity = types.DiagnosticSeverity.Error
        if code is Code.FS304:
            severity = types.DiagnosticSeverity.Warning
        rng = lines.span_range(pragma) if pragma is not None else lines.line_range(line)
        data = None
        if error.suggested_input is not None:  # for the quick fix that rewrites the pragma
            data = {"model": model.name, "suggested_input": error.suggested_input}
        out.append(make(rng, code.value, message, severity, data))
    if model.no_backward:
        out.append(
            make(
                lines.line_range(model.line),
                Code.FS206.value,
                f"{model.display_name}: {model.no_backward} (the forward is counted)",
                types.DiagnosticSeverity.Warning,
            )
        )
    if model.uncounted_ops:
        ops = ", ".join(f"{u.op} ×{u.count}" for u in model.uncounted_ops)
        out.append(
            make(
                lines.line_range(model.line),
                "FS204",
                f"{model.display_name}: ops without a formula in this convention were not "
                f"counted: {ops}",
                types.DiagnosticSeverity.Information,
            )
        )
    return out


def _pragma_span(source: SourceAnalysis | None, model: ModelReport) -> Span | None:
    """The current text's pragma of the model (the report's line may be an older text's)."""
    spec = source.model(model.name) if source is not None else None
    return spec.pragma_span if spec is not None else None


def execution_off(lines: Lines, line: int = 1) -> types.Diagnostic:
    return make(
        lines.line_range(line),
        "FS401",
        "flopsight: execution is turned off (flopsight.execute is false, or the workspace is "
        "untrusted); no model of this file runs. Set flopsight.execute to true to see costs.",
        types.DiagnosticSeverity.Information,
    )


def too_large(limit_kb: int) -> types.Diagnostic:
    start = types.Position(line=0, character=0)
    return make(
        types.Range(start=start, end=start),
        "FS402",
        f"flopsight: this file is larger than flopsight.maxFileSizeKB ({limit_kb} KB) and is not "
        "analysed. Raise the setting to count its models.",
        types.DiagnosticSeverity.Information,
    )


def worker_failure(lines: Lines, line: int, model: str, message: str) -> types.Diagnostic:
    return make(
        lines.line_range(line),
        "FS304",
        f"{model}: the flopsight worker is unavailable: {message}",
        types.DiagnosticSeverity.Warning,
    )


def document_diagnostics(
    text: str,
    source: SourceAnalysis | None,
    view: DocumentView | None,
    *,
    execute: bool,
    extra: Iterable[types.Diagnostic] = (),
    utf16: bool = True,
    counted_elsewhere: Iterable[str] = (),
) -> list[types.Diagnostic]:
    lines = Lines(text, utf16)
    out: list[types.Diagnostic] = []
    # Classes already counted as layers of an analysed model (of this document, or of another
    # that runs this file: ``counted_elsewhere``) are building blocks, not models that lack an
    # input shape: no FS107 for them.
    counted = {layer.type for m in (view.models if view else []) for layer in m.report.layers}
    counted.update(counted_elsewhere)
    if source is not None:
        if source.syntax_error is not None:
            out.append(from_source(source.syntax_error, lines))
        out.extend(
            from_source(d, lines)
            for d in source.diagnostics
            if not (d.code == "FS107" and d.data.get("model") in counted)
        )
        if not execute and any(m.inputs is not None for m in source.models):
            first = min(m.line for m in source.models)
            out.append(execution_off(lines, first))
    if execute and view is not None:
        for anchored in view.models:
            out.extend(model_diagnostics(anchored.report, lines, source))
        for warning in view.warnings:
            out.append(
                make(
                    lines.line_range(warning.line or 1),
                    "FS203",
                    f"this statement failed while flopsight ran the file's definitions "
                    f"(counting went on): {warning.message}",
                    types.DiagnosticSeverity.Warning,
                )
            )
    out.extend(extra)
    return _unique(out)


def _unique(diags: Sequence[types.Diagnostic]) -> list[types.Diagnostic]:
    seen: set[tuple[int, int, str, str]] = set()
    out = []
    for d in diags:
        key = (d.range.start.line, d.range.start.character, str(d.code), d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out
