"""Code actions: insert a pragma for an unannotated model; fix an unknown pragma key; give the
pragma's input the batch dimension it lacks."""

from __future__ import annotations

from lsprotocol import types

from flopsight.lsp.diagnostics import Lines
from flopsight.lsp.documents import DocumentView
from flopsight.lsp.positions import line_end
from flopsight.source.model import ModelSpec, SourceAnalysis, Span
from flopsight.source.pragma import pragma_comment
from flopsight.source.text import split_lines


def _overlaps(first: int, last: int, rng: types.Range) -> bool:
    """Whether 1-based lines ``first..last`` meet the 0-based LSP range."""
    return first - 1 <= rng.end.line and last - 1 >= rng.start.line


def _has_comment(line: str) -> bool:
    import io
    import tokenize

    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(line + "\n").readline))
    except (tokenize.TokenError, SyntaxError):
        return "#" in line
    return any(t.type == tokenize.COMMENT for t in tokens)


def pragma_edit(spec: ModelSpec, lines: list[str], utf16: bool = True) -> types.TextEdit | None:
    """Appends the pragma to the model's line, or puts it on its own line above when that line
    already has a comment."""
    if spec.guessed_input is None or not 0 < spec.line <= len(lines):
        return None
    comment = pragma_comment(spec.guessed_input, None)
    text = lines[spec.line - 1]
    if not _has_comment(text):
        end = line_end(text, utf16)
        pos = types.Position(line=spec.line - 1, character=end)
        return types.TextEdit(range=types.Range(start=pos, end=pos), new_text=f"  {comment}")
    indent = text[: len(text) - len(text.lstrip())]
    pos = types.Position(line=spec.line - 1, character=0)
    return types.TextEdit(range=types.Range(start=pos, end=pos), new_text=f"{indent}{comment}\n")


def batch_actions(
    uri: str, text: str, source: SourceAnalysis, view: DocumentView, rng: types.Range, utf16: bool
) -> list[types.CodeAction]:
    """For a model whose forward runs once its pragma's shapes get a leading 1: that rewrite."""
    out: list[types.CodeAction] = []
    span_lines = Lines(text, utf16)
    for anchored in view.models:
        error = anchored.report.error
        spec = source.model(anchored.report.name)
        if error is None or error.suggested_input is None or spec is None or not anchored.fresh:
            continue
        if spec.input_source != "pragma" or spec.inputs is None:
            continue
        spans = [i.span for i in spec.inputs]
        if len(spans) != len(error.suggested_input) or any(s is None for s in spans):
            continue
        error_line = error.line if error.line is not None else spec.line
        if not (_overlaps(spec.line, spec.end_line, rng) or _overlaps(error_line, error_line, rng)):
            continue
        edits = [
            types.TextEdit(span_lines.span_range(span), repr(tuple(shape)))
            for span, shape in zip(spans, error.suggested_input, strict=True)
            if span is not None
        ]
        shown = ", ".join(repr(tuple(shape)) for shape in error.suggested_input)
        out.append(
            types.CodeAction(
                title=f"flopsight: add the batch dimension: input={shown}",
                kind=types.CodeActionKind.QuickFix,
                is_preferred=True,
                edit=types.WorkspaceEdit(changes={uri: edits}),
            )
        )
    return out


def code_actions(
    uri: str,
    text: str,
    source: SourceAnalysis | None,
    rng: types.Range,
    utf16: bool = True,
    view: DocumentView | None = None,
) -> list[types.CodeAction]:
    if source is None:
        return []
    lines = split_lines(text)
    out: list[types.CodeAction] = []
    if view is not None:
        out.extend(batch_actions(uri, text, source, view, rng, utf16))
    for spec in source.models:
        if spec.inputs is not None or not _overlaps(spec.line, spec.end_line, rng):
            continue
        edit = pragma_edit(spec, lines, utf16)
        if edit is None:
            continue
        shape = "(" + ", ".join(str(d) for d in spec.guessed_input or []) + ")"
        out.append(
            types.CodeAction(
                title=f"flopsight: annotate {spec.name} with input={shape}",
                kind=types.CodeActionKind.QuickFix,
                diagnostics=None,
                is_preferred=True,
                edit=types.WorkspaceEdit(changes={uri: [edit]}),
            )
        )
    span_lines = Lines(text, utf16)
    for diag in source.diagnostics:
        if diag.code != "FS103":
            continue
        suggestion = diag.data.get("suggestion")
        if not isinstance(suggestion, str) or not suggestion:
            continue
        key = str(diag.data.get("key", ""))
        drange = _key_range(diag.span, key, lines, span_lines)
        if drange.end.line < rng.start.line or drange.start.line > rng.end.line:
            continue
        out.append(
            types.CodeAction(
                title=f"flopsight: change pragma key {key!r} to {suggestion!r}",
                kind=types.CodeActionKind.QuickFix,
                is_preferred=True,
                edit=types.WorkspaceEdit(changes={uri: [types.TextEdit(drange, suggestion)]}),
            )
        )
    return out


def _key_range(span: Span, key: str, lines: list[str], span_lines: Lines) -> types.Range:
    """The key itself inside the diagnostic's span (which may cover ``key=value``)."""
    if span.line == span.end_line and 0 < span.line <= len(lines) and key:
        text = lines[span.line - 1]
        at = text.find(key, span.col, max(span.end_col, span.col + len(key)))
        if at >= 0:
            return span_lines.span_range(Span(span.line, at, span.line, at + len(key)))
    return span_lines.span_range(span)
