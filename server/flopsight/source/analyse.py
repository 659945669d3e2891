"""``analyse_source``: the models a Python text defines, their input shapes, and what runs.

Pure ``ast`` and string scanning; never imports torch and never raises on any text.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from flopsight.source.annotations import ForwardInputs, forward_inputs
from flopsight.source.execution import (
    INSTANCE_REASON,
    first_line,
    is_main_guard,
    top_level_statements,
)
from flopsight.source.guess import guess_input
from flopsight.source.model import (
    InputAnnotation,
    ModelSpec,
    SourceAnalysis,
    SourceDiagnostic,
    Span,
)
from flopsight.source.pragma import Pragma, is_pragma, parse_pragma, pragma_comment
from flopsight.source.pragma_values import PragmaSettings, apply_dtype, read_pragma_settings
from flopsight.source.text import Comment, SourceLines, comments_containing, is_comment_only

_TORCH_NN = ("torch.nn", "torch.nn.modules")


def analyse_source(text: str, path: str | None = None) -> SourceAnalysis:
    """Finds the models of ``text`` and their input shapes; decides which statements execute."""
    lines = SourceLines(text)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes in the user's strings
            tree = ast.parse(text, filename=path or "<unknown>")
    except SyntaxError as exc:
        return SourceAnalysis(syntax_error=_syntax_error(exc, lines))
    except (ValueError, RecursionError, MemoryError) as exc:
        span = Span(1, 0, 1, len(lines.line(1)))
        return SourceAnalysis(
            syntax_error=SourceDiagnostic(
                span,
                "FS101",
                f"the file does not parse ({exc}): fix it to see its costs",
                detail=f"the file does not parse ({exc})",
            )
        )
    return _Analyser(tree, lines).run()


def _syntax_error(exc: SyntaxError, lines: SourceLines) -> SourceDiagnostic:
    n = max(1, len(lines.lines))
    line = min(max(exc.lineno or 1, 1), n)
    col = max((exc.offset or 1) - 1, 0)
    col = min(col, len(lines.line(line)))
    end_line = exc.end_lineno if exc.end_lineno and exc.end_lineno >= line else line
    end_line = min(end_line, n)
    end_col = (exc.end_offset or 0) - 1
    if end_line == line and end_col <= col:
        end_col = min(col + 1, max(len(lines.line(line)), col + 1))
    end_col = max(end_col, 0)
    message = exc.msg or "invalid syntax"
    return SourceDiagnostic(
        Span(line, col, end_line, end_col),
        "FS101",
        f"syntax error: {message}; fix it to update the costs (the last results stay until then)",
        detail=f"syntax error: {message}",
    )


@dataclass
class _Class:
    node: ast.ClassDef
    pragma: Pragma | None = None
    is_model: bool = False
    forward: ast.FunctionDef | ast.AsyncFunctionDef | None = None
    init: ast.FunctionDef | ast.AsyncFunctionDef | None = None
    base_names: list[str] = field(default_factory=list)


class _Analyser:
    def __init__(self, tree: ast.Module, lines: SourceLines) -> None:
        self.tree = tree
        self.lines = lines
        self.diagnostics: list[SourceDiagnostic] = []
        self.comments = {
            n: c for n, c in comments_containing(lines, tree, "flopsight").items() if is_pragma(c)
        }
        self.claimed: set[int] = set()
        self.pragmas: list[Pragma] = []  # claimed, their diagnostics reported at the end
        self.nn_modules: set[str] = {"nn"}  # names bound to torch.nn
        self.nn_names: set[str] = set()  # names imported from torch.nn
        self.classes: dict[str, _Class] = {}
        self.forward_cache: dict[str, ForwardInputs | None] = {}

    # -- entry ------------------------------------------------------------------------------

    def run(self) -> SourceAnalysis:
        self._read_imports()
        for node in _module_level(self.tree.body):
            if isinstance(node, ast.ClassDef):
                self.classes[node.name] = self._read_class(node)
        self._mark_models()
        models: list[ModelSpec] = []
        for cls in self.classes.values():
            if cls.is_model:
                models.append(self._class_model(cls))
        skip: dict[int, str] = {}
        by_name = {m.name: m for m in models}
        assignments = [n for n in self.tree.body if isinstance(n, ast.Assign | ast.AnnAssign)]
        needed: set[str] = set()  # names the instances' expressions read
        for node in assignments:
            spec = self._instance_model(node, by_name)
            if spec is not None:
                models.append(spec)
                skip[node.lineno] = INSTANCE_REASON
                assert node.value is not None
                needed |= {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}
        for node in assignments:
            if node.lineno in skip or _assigned_names(node) & needed:
                continue
            built = self._builds_model(node, by_name)
            if built is not None:
                skip[node.lineno] = (
                    f"builds {built}, which flopsight builds itself from its annotation"
                )
        for pragma in self.pragmas:
            self.diagnostics += pragma.diagnostics
        for lineno, comment in self.comments.items():
            if lineno not in self.claimed:
                self.diagnostics.append(_stray_pragma(comment))
        models.sort(key=lambda m: m.line)
        self.diagnostics.sort(key=lambda d: (d.span.line, d.span.col))
        return SourceAnalysis(
            models=models,
            diagnostics=self.diagnostics,
            statements=top_level_statements(self.tree, skip),
        )

    # -- imports and bases -----------------------------------------------------------------

    def _read_imports(self) -> None:
        for node in _module_level(self.tree.body):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == "torch.nn" and alias.asname:
                        self.nn_modules.add(alias.asname)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    bound = alias.asname or alias.name
                    if node.module == "torch" and alias.name == "nn":
                        self.nn_modules.add(bound)
                    elif node.module in _TORCH_NN or node.module.startswith("torch.nn.modules."):
                        if alias.name == "*":
                            self.nn_names.add("Module")
                        else:
                            self.nn_names.add(bound)

    def _is_torch_module(self, base: ast.expr) -> bool:
        if isinstance(base, ast.Subscript):
            base = base.value
        if isinstance(base, ast.Name):
            return base.id in self.nn_names or base.id.endswith("LightningModule")
        dotted = _dotted(base)
        if dotted is None:
            return False
        parts = dotted.split(".")
        if parts[-1].endswith("LightningModule"):
            return True
        return len(parts) >= 2 and (parts[-2] == "nn" or ".".join(parts[:-1]) in self.nn_modules)

    def _read_class(self, node: ast.ClassDef) -> _Class:
        cls = _Class(node)
        for stmt in node.body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                if stmt.name == "forward":
                    cls.forward = stmt
                elif stmt.name == "__init__":
                    cls.init = stmt
        cls.base_names = [b.id for b in node.bases if isinstance(b, ast.Name)]
        cls.pragma = self._claim(self._class_pragma_lines(node))
        annotated = cls.forward is not None and any(
            a.annotation is not None for a in _all_args(cls.forward)
        )
        own = any(self._is_torch_module(b) for b in node.bases)
        if own or cls.pragma is not None:
            cls.is_model = True
        elif annotated and cls.forward is not None:
            info = forward_inputs(cls.forward, self.lines, node.name)
            cls.is_model = info.inputs is not None or bool(info.diagnostics)
        return cls

    def _mark_models(self) -> None:
        changed = True
        while changed:
            changed = False
            for cls in self.classes.values():
                if cls.is_model:
                    continue
                if any(
                    b in self.classes and self.classes[b].is_model and b != cls.node.name
                    for b in cls.base_names
                ):
                    cls.is_model = True
                    changed = True

    def _inherited(
        self, cls: _Class, attr: Literal["forward", "init"]
    ) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        """``forward`` / ``__init__`` of the class or of its first same-file base defining it."""
        seen: set[str] = set()
        todo = [cls]
        while todo:
            c = todo.pop(0)
            if c.node.name in seen:
                continue
            seen.add(c.node.name)
            found = c.forward if attr == "forward" else c.init
            if found is not None:
                return found
            todo += [self.classes[b] for b in c.base_names if b in self.classes]
        return None

    # -- pragmas ---------------------------------------------------------------------------

    def _class_pragma_lines(self, node: ast.ClassDef) -> list[int]:
        body_start = first_line(node.body[0]) if node.body else node.lineno
        header_end = body_start
        if body_start > node.lineno:
            # Trailing comments on the header's lines; a comment-only line is in the body.
            header_end = body_start - 1
        trailing = [
            n
            for n in range(node.lineno, header_end + 1)
            if n in self.comments and (n == node.lineno or self.comments[n].trailing)
        ]
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        between = [
            n
            for n in range(first + 1, node.lineno)
            if n in self.comments and not self.comments[n].trailing
        ]
        return trailing + between + self._comment_block_above(first)

    def _comment_block_above(self, line: int) -> list[int]:
        """Pragma lines in the block of comment-only lines directly above ``line``."""
        found: list[int] = []
        n = line - 1
        while n >= 1 and is_comment_only(self.lines.line(n)):
            if n in self.comments:
                found.append(n)
            n -= 1
        return found

    def _claim(self, candidates: list[int]) -> Pragma | None:
        """The first unclaimed pragma among ``candidates``; later ones are duplicates."""
        chosen: Pragma | None = None
        for n in candidates:
            if n in self.claimed or n not in self.comments:
                continue
            self.claimed.add(n)
            comment = self.comments[n]
            if chosen is None:
                chosen = parse_pragma(comment)
                self.pragmas.append(chosen)
            else:
                self.diagnostics.append(
                    SourceDiagnostic(
                        _comment_span(comment),
                        "FS102",
                        f"a second flopsight pragma for the same model (the first is on line "
                        f"{chosen.comment.line}): merge them into one comment",
                        "error",
                    )
                )
        return chosen

    # -- models ----------------------------------------------------------------------------

    def _forward_info(self, cls: _Class) -> ForwardInputs | None:
        name = cls.node.name
        if name not in self.forward_cache:
            forward = self._inherited(cls, "forward")
            self.forward_cache[name] = (
                None if forward is None else forward_inputs(forward, self.lines, name)
            )
        return self.forward_cache[name]

    def _class_model(self, cls: _Class) -> ModelSpec:
        node = cls.node
        spec = ModelSpec(
            name=node.name,
            kind="class",
            line=node.lineno,
            end_line=node.end_lineno or node.lineno,
            name_span=self._class_name_span(node),
            bases=[self.lines.segment(b) for b in node.bases],
        )
        forward = self._forward_info(cls)
        if forward is not None:
            spec.forward_params = list(forward.params)
        settings = self._apply_pragma(spec, cls.pragma, forward, "class")
        if spec.inputs is None and not (settings is not None and settings.input_given):
            own_forward = cls.forward is not None
            if forward is not None and forward.inputs is not None:
                spec.inputs = [_copy_input(i) for i in forward.inputs]
                spec.input_source = forward.source
                if settings is not None and settings.dtype is not None and cls.pragma is not None:
                    apply_dtype(cls.pragma, settings, spec.inputs)
            if forward is not None and own_forward:
                # An inherited forward's annotation problems are reported on the base class.
                self.diagnostics += forward.diagnostics
        if spec.inputs is None:
            guess = guess_input(self._inherited(cls, "init"))
            if guess is not None:
                spec.guessed_input = guess.shape
                spec.guessed_dtype = guess.dtype
            # A broken pragma or annotation already says what is wrong.
            problems = cls.pragma is not None and bool(cls.pragma.diagnostics)
            problems = problems or (forward is not None and bool(forward.diagnostics))
            if not problems:
                self.diagnostics.append(
                    _unannotated(
                        spec, guess.shape if guess else None, guess.dtype if guess else None
                    )
                )
        return spec

    def _apply_pragma(
        self,
        spec: ModelSpec,
        pragma: Pragma | None,
        forward: ForwardInputs | None,
        kind: str,
    ) -> PragmaSettings | None:
        if pragma is None:
            return None
        spec.pragma_span = pragma.span
        settings = read_pragma_settings(pragma, forward, spec.name, kind)
        spec.init = settings.init
        spec.dims = settings.dims
        spec.label = settings.label
        spec.mode = settings.mode
        spec.train = dict(settings.train)
        if settings.inputs is not None:
            spec.inputs = settings.inputs
            spec.input_source = "pragma"
            spec.inputs_by_name = settings.inputs_by_name
        return settings

    def _class_name_span(self, node: ast.ClassDef) -> Span:
        line = self.lines.line(node.lineno)
        col = self.lines.char_col(node.lineno, node.col_offset)
        at = line.find(node.name, col + len("class"))
        if at < 0:
            return Span(node.lineno, col, node.lineno, col + len("class"))
        return Span(node.lineno, at, node.lineno, at + len(node.name))

    def _assignment_pragma_lines(self, node: ast.stmt) -> list[int]:
        end = node.end_lineno or node.lineno
        trailing = [n for n in dict.fromkeys([node.lineno, end]) if n in self.comments]
        trailing = [n for n in trailing if self.comments[n].trailing]
        return trailing + self._comment_block_above(node.lineno)

    def _instance_model(
        self, node: ast.Assign | ast.AnnAssign, classes: dict[str, ModelSpec]
    ) -> ModelSpec | None:
        candidates = self._assignment_pragma_lines(node)
        if not any(n in self.comments and n not in self.claimed for n in candidates):
            return None
        target = node.targets[0] if isinstance(node, ast.Assign) else node.target
        single = isinstance(node, ast.AnnAssign) or len(node.targets) == 1
        if node.value is None or not single or not isinstance(target, ast.Name):
            return None  # the pragma stays unclaimed: FS108 says where it should go
        pragma = self._claim(candidates)
        assert pragma is not None
        spec = ModelSpec(
            name=target.id,
            kind="instance",
            line=node.lineno,
            end_line=node.end_lineno or node.lineno,
            name_span=self.lines.node_span(target),
            expression=self.lines.segment(node.value),
        )
        built = _called_name(node.value)
        cls_spec = classes.get(built) if built else None
        cls = self.classes.get(built) if built else None
        forward = self._forward_info(cls) if cls is not None else None
        if forward is not None:
            spec.forward_params = list(forward.params)
        settings = self._apply_pragma(spec, pragma, forward, "instance")
        if (
            spec.inputs is None
            and settings is not None
            and not settings.input_given
            and cls_spec is not None
            and cls_spec.inputs is not None
        ):
            spec.inputs = [_copy_input(i) for i in cls_spec.inputs]
            spec.input_source = cls_spec.input_source
            spec.inputs_by_name = cls_spec.inputs_by_name
            if settings.dtype is not None:
                apply_dtype(pragma, settings, spec.inputs)
            spec.dims = {**cls_spec.dims, **spec.dims}
        if spec.inputs is None and not pragma.diagnostics:
            self.diagnostics.append(_unannotated(spec, None, None))
        return spec

    def _builds_model(
        self, node: ast.Assign | ast.AnnAssign, models: dict[str, ModelSpec]
    ) -> str | None:
        """The annotated same-file model class an assignment's value calls, if any."""
        if node.value is None:
            return None
        for sub in ast.walk(node.value):
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name):
                spec = models.get(sub.func.id)
                if spec is not None and spec.kind == "class" and spec.inputs is not None:
                    return spec.name
        return None


def _module_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements that run at import: the module body and its ``if``/``try`` blocks."""
    for node in body:
        yield node
        if isinstance(node, ast.If) and not is_main_guard(node):
            yield from _module_level(node.body)
            yield from _module_level(node.orelse)
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            t: ast.Try = node  # type: ignore[assignment]
            yield from _module_level(t.body)
            for h in t.handlers:
                yield from _module_level(h.body)
            yield from _module_level(t.orelse)
            yield from _module_level(t.finalbody)


def _assigned_names(node: ast.Assign | ast.AnnAssign) -> set[str]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _all_args(func: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.arg]:
    a = func.args
    return [*a.posonlyargs, *a.args, *a.kwonlyargs]


def _dotted(node: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _called_name(node: ast.expr) -> str | None:
    """``Net(...)`` / ``Net(...).eval()`` -> ``"Net"``."""
    while isinstance(node, ast.Call):
        if isinstance(node.func, ast.Name):
            return node.func.id
        if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Call):
            node = node.func.value
            continue
        return None
    return None


def _copy_input(i: InputAnnotation) -> InputAnnotation:
    return InputAnnotation(i.name, list(i.shape), i.dtype, i.span)


def _comment_span(comment: Comment) -> Span:
    return Span(comment.line, comment.col, comment.line, comment.col + len(comment.text))


def _stray_pragma(comment: Comment) -> SourceDiagnostic:
    return SourceDiagnostic(
        _comment_span(comment),
        "FS108",
        "this flopsight pragma belongs to no model: put it at the end of a `class` line, on the "
        "line above the class, or on a module-level assignment `name = ...` that builds a model",
        "warning",
    )


def _unannotated(spec: ModelSpec, guess: list[int] | None, dtype: str | None) -> SourceDiagnostic:
    if guess is not None:
        pragma = pragma_comment(guess, dtype)
        fix = f"add `{pragma}` to the `class` line (guessed from its first layer)"
    elif spec.kind == "class":
        pragma = None
        fix = "add `# flopsight: input=(...)` with its input shape to the `class` line"
    else:
        pragma = None
        fix = "add `input=(...)` with its input shape to the pragma"
    if spec.kind == "class":
        fix += ", or annotate forward's parameters"
    return SourceDiagnostic(
        spec.name_span,
        "FS107",
        f"{spec.name} has no input shape, so flopsight does not run it: {fix}",
        "hint",
        {"model": spec.name, "guessed_input": guess, "dtype": dtype, "pragma": pragma},
    )
