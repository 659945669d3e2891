"""One analysis of one buffer, inside the worker: run the file's definitions, then build and
count each selected model (design: What runs).

The text runs as an imported module (``__name__`` is not ``"__main__"``, ``__file__`` is the
request's path, the file's folder and the workspace root on ``sys.path``), one top-level
statement at a time with its own line numbers; a statement that fails becomes a warning and
the rest goes on. What the code prints is captured into ``FileReport.output``.
"""

from __future__ import annotations
import __future__

import ast
import importlib.metadata
import io
import os
import platform
import re
import sys
import time
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from flopsight.codes import ErrorKind
from flopsight.counting import tvfix
from flopsight.counting.build import build_model, make_inputs, needs_real_tensors
from flopsight.counting.calls import PragmaValueError, call_arguments, evaluate_init, name_inputs
from flopsight.counting.construction import record_construction
from flopsight.counting.counter import count_model
from flopsight.counting.overlays import buffer_imports, imported_sources
from flopsight.counting.shape_errors import batch_hint, cpu_wording, with_batch
from flopsight.counting.spellings import source_spellings
from flopsight.job import AnalysisRequest
from flopsight.paths import is_installed
from flopsight.report.model import FileReport, InputSpec, ModelError, ModelReport, SourceWarning
from flopsight.source import (
    ModelSpec,
    SourceAnalysis,
    UnresolvedDimension,
    analyse_source,
    executable_nodes,
    normalise_dtype,
    resolve_inputs,
)

OUTPUT_LIMIT = 64 * 1024
TORCHVISION_NOTE = (
    "torchvision's compiled ops are unavailable here (built for another torch); flopsight "
    "defined their schemas so `import torchvision` works: model definitions don't need them"
)


class SourceSyntaxError(Exception):
    """The text does not parse; nothing ran."""

    def __init__(self, path: str, line: int, col: int, message: str) -> None:
        super().__init__(f"{path}:{line}:{col}: {message}")
        self.path = path
        self.line = line
        self.col = col  # 1-based, as the CLI prints it
        self.message = message


class NotAModuleError(TypeError):
    """The annotated name is bound to something that is not an ``nn.Module`` (FS205)."""


class ModelNotFoundError(NameError):
    """After the file ran, no model by the annotated name exists (FS205)."""


class CapturedOutput(io.TextIOBase):
    """A text stream keeping the first ``limit`` characters written to it."""

    def __init__(self, limit: int = OUTPUT_LIMIT) -> None:
        super().__init__()
        self.limit = limit
        self._parts: list[str] = []
        self._size = 0
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        room = self.limit - self._size
        if room > 0:
            kept = s[:room]
            self._parts.append(kept)
            self._size += len(kept)
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def isatty(self) -> bool:
        return False

    def text(self) -> str:
        text = "".join(self._parts)
        if self.dropped:
            text += f"\n… ({self.dropped} more characters not kept)"
        return text


@contextmanager
def captured(stream: CapturedOutput) -> Iterator[None]:
    """``sys.stdout`` and ``sys.stderr`` go to ``stream`` while the file's code runs."""
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = stream
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


# ----------------------------------------------------------------------------- the module


def package_of(path: str) -> tuple[list[str], str]:
    """The packages holding the file (folders with ``__init__.py``, outermost first) and the
    folder that holds the outermost one; ``([], folder)`` for a file outside any package."""
    folder = os.path.dirname(os.path.abspath(path))
    parts: list[str] = []
    while os.path.isfile(os.path.join(folder, "__init__.py")):
        name = os.path.basename(folder)
        if not name.isidentifier():
            break
        parts.insert(0, name)
        folder = os.path.dirname(folder)
    return parts, folder


def module_name(path: str) -> str:
    """The name the file runs under: as an import would name it (``pkg.models.net`` inside a
    package, so relative imports work), unless that name is already taken by another module."""
    stem = os.path.splitext(os.path.basename(path))[0]
    safe = re.sub(r"\W", "_", stem) or "module"
    if safe[0].isdigit():
        safe = f"_{safe}"
    packages, _ = package_of(path)
    if packages and safe == stem:
        return ".".join([*packages, stem])
    taken = sys.modules.get(safe)
    if safe != stem or (taken is not None and not getattr(taken, "__flopsight__", False)):
        return f"flopsight_user_{safe}"
    return safe


@contextmanager
def file_module(request: AnalysisRequest) -> Iterator[types.ModuleType]:
    """A fresh module for the text, registered in ``sys.modules``; the folders on ``sys.path``.

    Inside a package the module carries its dotted name and ``__package__``, and the folder
    above the outermost package goes on ``sys.path`` too, so ``from .layers import Block``
    works. Afterwards ``sys.path`` is restored, and the module and the local modules it
    imported leave ``sys.modules`` (another file with a sibling of the same name must not get
    this one's).
    """
    name = module_name(request.path)
    module = types.ModuleType(name)
    module.__file__ = request.path
    module.__dict__["__flopsight__"] = True
    packages, package_root = package_of(request.path)
    if packages and name.startswith(".".join(packages) + "."):
        module.__package__ = name.rpartition(".")[0]
    folder = os.path.dirname(os.path.abspath(request.path))
    local = package_root if packages else folder
    paths = [folder] + ([package_root] if packages else [])
    paths += [os.path.abspath(request.root)] if request.root else []
    saved_path = list(sys.path)
    before = set(sys.modules)
    for p in reversed(paths):
        if p not in sys.path:
            sys.path.insert(0, p)
    # The package's own __init__ may import this file: it then gets the one on disk.
    registered = name not in sys.modules
    if registered:
        sys.modules[name] = module
    try:
        yield module
    finally:
        sys.path[:] = saved_path
        if sys.modules.get(name) is module:
            del sys.modules[name]
        for key in set(sys.modules) - before:
            file = getattr(sys.modules.get(key), "__file__", None)
            if isinstance(file, str) and _is_sibling(file, local):
                sys.modules.pop(key, None)


def _is_sibling(file: str, folder: str) -> bool:
    file = os.path.abspath(file)
    if is_installed(file):
        return False
    return file.startswith(folder + os.sep)


def _future_flags(node: ast.stmt) -> int:
    flags = 0
    if isinstance(node, ast.ImportFrom) and node.module == "__future__":
        for alias in node.names:
            feature = getattr(__future__, alias.name, None)
            flags |= getattr(feature, "compiler_flag", 0)
    return flags


def _first_line(node: ast.stmt) -> int:
    decorators: list[ast.expr] = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)])


def run_definitions(
    tree: ast.Module, analysis: SourceAnalysis, namespace: dict[str, Any], path: str
) -> tuple[list[SourceWarning], int]:
    """Executes the statements that run, each compiled alone; returns warnings and future flags."""
    warnings: list[SourceWarning] = []
    flags = 0
    built_by_flopsight = {m.name for m in analysis.models if m.kind == "instance"}
    for node in executable_nodes(tree, analysis.statements):
        flags |= _future_flags(node)
        try:
            code = compile(ast.Module([node], []), path, "exec", flags=flags, dont_inherit=True)
            exec(code, namespace)
        except (Exception, SystemExit, KeyboardInterrupt) as e:
            message = describe(e)
            if isinstance(e, NameError) and e.name in built_by_flopsight:
                message += f" ({e.name} is a model flopsight builds itself, on the meta device)"
            warnings.append(SourceWarning(message, _first_line(node)))
    return warnings, flags


def describe(e: BaseException) -> str:
    """``NameError: name 'net' is not defined``; sys.exit and Ctrl-C said as such."""
    if isinstance(e, SystemExit):
        return f"SystemExit: the code called sys.exit({e.code!r})"
    if isinstance(e, KeyboardInterrupt):
        return "KeyboardInterrupt: the code raised KeyboardInterrupt"
    text = str(e).strip()
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


# ----------------------------------------------------------------------------- the models


def select_models(
    analysis: SourceAnalysis, request: AnalysisRequest
) -> list[tuple[ModelSpec | None, str, bool]]:
    """(spec, requested name, whether ``input_override`` applies) for each model to report."""
    if request.models is None:
        return [(m, m.name, False) for m in analysis.models]
    out: list[tuple[ModelSpec | None, str, bool]] = []
    for name in request.models:
        out.append((analysis.model(name), name, request.input_override is not None))
    return out


def _override_inputs(
    override: Sequence[InputSpec], spec: ModelSpec, dtype: str | None
) -> list[InputSpec]:
    out = []
    for i, given in enumerate(override):
        name = given.name or (
            spec.forward_params[i] if i < len(spec.forward_params) else f"input_{i}"
        )
        out.append(InputSpec(name, list(given.shape), dtype or given.dtype, given.keyword))
    return out


def _pragma_error(report: ModelReport, spec: ModelSpec, e: Exception) -> ModelReport:
    """A pragma value the built model refutes (FS104), reported on the pragma's line."""
    report.status = "error"
    line = spec.pragma_span.line if spec.pragma_span is not None else spec.line
    report.error = ModelError(str(e), type(e).__name__, "pragma", line)
    return report


def _error_line(e: BaseException, files: frozenset[str]) -> int | None:
    """The deepest frame of the traceback that lies in the analysed file."""
    line = None
    tb = e.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in files:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def model_error(e: BaseException, phase: ErrorKind, files: frozenset[str]) -> ModelError:
    """What ``e``, raised while the model was in ``phase``, says; the name's own failures
    (not a module, not found) are their own kinds whatever the phase."""
    kind: ErrorKind = phase
    if isinstance(e, NotAModuleError):
        kind = "not_module"
    elif isinstance(e, ModelNotFoundError):
        kind = "not_found"
    if isinstance(e, SystemExit):
        message = f"the model's code called sys.exit({e.code!r})"
    else:
        message = tvfix.explain_missing_op(e) or str(e).strip() or type(e).__name__
    return ModelError(message, type(e).__name__, kind, _error_line(e, files))


def _error(
    report: ModelReport, e: BaseException, phase: ErrorKind, files: frozenset[str]
) -> ModelReport:
    report.status = "error"
    report.error = model_error(e, phase, files)
    return report


def _factory(
    spec: ModelSpec, namespace: dict[str, Any], tree: ast.Module, path: str, flags: int
) -> Callable[[], nn.Module]:
    """What builds the model: ``cls(**init)`` for a class, its own expression for an instance."""
    if spec.kind == "class":
        cls = namespace.get(spec.name)
        if not isinstance(cls, type):
            raise ModelNotFoundError(
                f"class {spec.name} was not defined: its statement failed (see the warnings)"
            )
        if not issubclass(cls, nn.Module):
            raise NotAModuleError(f"{spec.name} is not an nn.Module subclass")
        init = evaluate_init(spec, namespace, path, flags)
        return lambda: cls(**init)
    value = _assigned_value(tree, spec)
    code = compile(ast.Expression(value), path, "eval", flags=flags, dont_inherit=True)

    def build() -> nn.Module:
        model = eval(code, namespace)
        if not isinstance(model, nn.Module):
            raise NotAModuleError(f"{spec.name} is a {type(model).__name__}, not an nn.Module")
        return model

    return build


def _assigned_value(tree: ast.Module, spec: ModelSpec) -> ast.expr:
    for node in tree.body:
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        if value is not None and node.lineno == spec.line:
            return value
    if spec.expression:
        expr = ast.parse(spec.expression, mode="eval").body
        ast.increment_lineno(expr, spec.line - 1)
        return expr
    raise ModelNotFoundError(
        f"the assignment that builds {spec.name} (line {spec.line}) was not found"
    )


def analyse_model(
    spec: ModelSpec,
    request: AnalysisRequest,
    namespace: dict[str, Any],
    tree: ast.Module,
    flags: int,
    override: bool,
) -> ModelReport:
    report = ModelReport(name=spec.name, kind=spec.kind, line=spec.line, label=spec.label)
    files = source_spellings(request.path)
    if override and request.input_override is not None:
        dtype = normalise_dtype(request.dtype_override) if request.dtype_override else None
        inputs = _override_inputs(request.input_override, spec, dtype)
    elif spec.inputs is None:
        report.status = "skipped"
        return report
    else:
        try:
            inputs = resolve_inputs(spec, request.dims, request.dtype_override)
        except UnresolvedDimension as e:
            report.status = "error"
            line = e.span.line if e.span is not None else spec.line
            report.error = ModelError(
                f"dimension {e.dim!r} of {e.model} has no value",
                type(e).__name__,
                "dims",
                line,
                setting="dims",
                detail=str(e),
            )
            return report
        except ValueError as e:
            report.status = "error"
            report.error = ModelError(str(e), type(e).__name__, "inputs", spec.line)
            return report
    report.inputs = inputs
    start = "meta"
    nms_calls = tvfix.nms_calls
    while True:
        try:
            factory = _factory(spec, namespace, tree, request.path, flags)
        except PragmaValueError as e:
            return _pragma_error(report, spec, e)
        except (Exception, SystemExit) as e:
            return _error(report, e, "build", files)
        try:
            with record_construction(request.path, request.root) as constructed_at:
                model, device = build_model(factory, start=start)
        except (Exception, SystemExit) as e:
            return _error(report, e, "build", files)
        inputs = report.inputs = name_inputs(model, inputs)
        try:
            tensors = make_inputs(inputs, device)
            args, kwargs = call_arguments(model, tensors, inputs, spec.label or spec.name)
        except PragmaValueError as e:
            return _pragma_error(report, spec, e)
        try:
            counted = count_model(
                model,
                args,
                kwargs,
                convention=request.convention,
                conventions=request.extra_conventions,
                source_file=request.path,
                root=request.root,
                constructed_at=constructed_at,
                name=spec.name,
                kind=spec.kind,
                line=spec.line,
                inputs=inputs,
                device=device,
                mode=spec.mode or request.mode,
            )
        except (Exception, SystemExit) as e:
            # forward read data (``.item()``, ``.tolist()``): meta has none, real tensors do.
            if device != "cpu" and isinstance(e, Exception) and needs_real_tensors(e):
                start = "cpu"
                continue
            _error(report, e, "forward", files)
            if isinstance(e, Exception):
                _explain_shape_error(report, e, device, inputs, factory)
            return report
        break
    if device == "cpu" and start == "cpu":
        counted.notes.append(
            "forward reads tensor values (.item(), .tolist(), data-dependent shapes), so the "
            "model was built and run on the CPU with random weights"
        )
    if tvfix.nms_calls != nms_calls:
        counted.notes.append(tvfix.NMS_NOTE)
    counted.label = spec.label
    if request.scaling and not override:
        from flopsight.counting.scaling import model_scaling

        once = replace(request, scaling=False)
        counted.scaling = model_scaling(
            spec,
            counted,
            request.dims,
            lambda at: analyse_model(at, once, namespace, tree, flags, False),
        )
    return counted


def _explain_shape_error(
    report: ModelReport,
    e: Exception,
    device: str,
    inputs: list[InputSpec],
    factory: Callable[[], nn.Module],
) -> None:
    """On meta, the CPU's wording of the error; and when the same input with a leading batch
    dimension of 1 runs, a hint saying so (``error.suggested_input`` holds the shapes)."""
    assert report.error is not None
    if device != "cpu":
        wording = cpu_wording(e)
        if wording is not None:
            report.error.message = wording
    shapes = [list(i.shape) for i in inputs]
    if not shapes or not _forward_runs(factory, inputs, with_batch(shapes)):
        return
    report.error.message += f"; {batch_hint(shapes)}"
    report.error.suggested_input = with_batch(shapes)


def _forward_runs(
    factory: Callable[[], nn.Module],
    inputs: list[InputSpec],
    shapes: list[list[int]],
) -> bool:
    """Whether the model, built afresh on meta, runs forward on inputs of these shapes."""
    try:
        model, device = build_model(factory)
        specs = [InputSpec(i.name, s, i.dtype) for i, s in zip(inputs, shapes, strict=True)]
        tensors = make_inputs(specs, device)
        with torch.no_grad():
            model(*tensors)
    except (Exception, SystemExit):
        return False
    return True


def _uses_torchvision(text: str, had_torchvision: bool) -> bool:
    """Whether this file's run needed torchvision (so the import fix concerns it)."""
    if not had_torchvision:
        return "torchvision" in sys.modules
    return re.search(r"^\s*(from|import)\s+torchvision\b", text, re.MULTILINE) is not None


def environment() -> dict[str, str]:
    env = {"python": platform.python_version(), "torch": str(torch.__version__)}
    with suppress(importlib.metadata.PackageNotFoundError):
        env["torchvision"] = importlib.metadata.version("torchvision")
    return env


# Builds and counts (or measures) one selected model: (spec, namespace, tree, flags, override).
ModelJob = Callable[[ModelSpec, dict[str, Any], ast.Module, int, bool], ModelReport]


def run_file(request: AnalysisRequest, model_job: ModelJob) -> FileReport:
    """Run the request's text, then ``model_job`` for each selected model.

    Raises ``SourceSyntaxError`` when the text does not parse. Every other failure is in the
    report: a statement that failed is a warning; a model that raised has status "error".
    """
    analysis = analyse_source(request.text, request.path)
    if analysis.syntax_error is not None:
        d = analysis.syntax_error
        raise SourceSyntaxError(request.path, d.span.line, d.span.col + 1, d.message)
    tree = ast.parse(request.text, filename=request.path)
    report = FileReport(file=request.path, convention=request.convention, mode=request.mode)
    report.environment = environment()
    output = CapturedOutput()
    had_torchvision = "torchvision" in sys.modules  # a warm worker imports it up front
    modules_before = set(sys.modules)
    with captured(output), file_module(request) as module, buffer_imports(request.overlays):
        tvfix.ensure_torchvision_importable()
        namespace = module.__dict__
        report.warnings, flags = run_definitions(tree, analysis, namespace, request.path)
        tvfix.provide_nms()
        for spec, name, override in select_models(analysis, request):
            if spec is None:
                known = ", ".join(m.name for m in analysis.models) or "none"
                report.models.append(
                    ModelReport(
                        name=name,
                        kind="class",
                        line=1,
                        status="error",
                        error=ModelError(
                            f"no model named {name!r} in {request.path} (known: {known})",
                            "LookupError",
                            "not_found",
                        ),
                    )
                )
                continue
            started = time.perf_counter()
            model_report = model_job(spec, namespace, tree, flags, override)
            # The one owner of elapsed_ms: the worker's time on this model, whatever the job.
            model_report.elapsed_ms = 1000 * (time.perf_counter() - started)
            report.models.append(model_report)
        if tvfix.fix_applied() and _uses_torchvision(request.text, had_torchvision):
            report.notes.append(TORCHVISION_NOTE)
        report.sources = imported_sources(modules_before, request)
    report.output = output.text()
    return report


def analyse_file(request: AnalysisRequest) -> FileReport:
    """Run the request's text and count its selected models (see ``run_file``)."""
    if request.memory is not None:  # peak memory too (issue 15), whichever process runs it
        from flopsight.counting.memory_job import memory_file

        return memory_file(request)

    def count_one(
        spec: ModelSpec, namespace: dict[str, Any], tree: ast.Module, flags: int, override: bool
    ) -> ModelReport:
        return analyse_model(spec, request, namespace, tree, flags, override)

    return run_file(request, count_one)
