"""``flopsight report | check | annotate | measure | serve``: the engine on the command line.

This module imports no torch: the file is read and checked here (syntax, --model, --input)
and its models run through ``run_analysis``, in a worker process under the time and memory
limits (or in this process with ``FLOPSIGHT_IN_PROCESS=1``). Errors are one line on stderr,
``flopsight: error: <where>: <what>; <what to do>``, exit status 2; ``--debug`` adds tracebacks.
Exit status 1 is ``check``'s "over budget".
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import logging
import os
import re
import stat
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, NoReturn, TextIO, get_args

from flopsight import __version__
from flopsight.job import AnalysisRequest, MemoryOptions
from flopsight.report.hints import DEFAULT_PARTS
from flopsight.report.model import (
    Convention,
    ErrorSetting,
    FileReport,
    InputSpec,
    ModelError,
    ModelReport,
)
from flopsight.report.table import PHASES, LineNames, NotebookLines
from flopsight.report.units import format_macs, format_params, parse_quantity
from flopsight.settings import HINT_PARTS, Settings, memory_problem, timeout_problem
from flopsight.source.notebook import (
    VirtualModule,
    build_virtual_module,
    is_notebook_path,
    read_ipynb,
)
from flopsight.source.text import split_lines

if TYPE_CHECKING:
    from flopsight.source.model import ModelSpec, SourceAnalysis

EXIT_OK = 0
EXIT_OVER_BUDGET = 1
EXIT_ERROR = 2
PROGRESS_AFTER_S = 1.0
# The largest file `report` & co. read; a Python file or notebook is far smaller.
MAX_FILE_BYTES = 16 * 1024 * 1024


class CliError(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""


# ----------------------------------------------------------------------------- analysis


def run_analysis(
    request: AnalysisRequest, settings: Settings, *, in_process: bool | None = None
) -> FileReport:
    """One analysis of one buffer. The single place that decides where models run: a worker
    process running ``settings.python`` under its limits (the default), or this process
    (``in_process``, or ``FLOPSIGHT_IN_PROCESS=1``: for debugging and fast tests)."""
    if in_process is None:
        in_process = os.environ.get("FLOPSIGHT_IN_PROCESS", "") not in ("", "0")
    if in_process:
        return _analyse_in_process(request)
    from flopsight.worker import WorkerPool

    with WorkerPool(
        python=settings.python, max_children=1, warm=False, sandbox=settings.sandbox
    ) as pool:
        report = pool.analyse_blocking(
            request, timeout_s=settings.timeout_seconds, memory_mb=settings.memory_mb
        )
    _raise_if_unavailable(report, settings.python)
    return report


def _raise_if_unavailable(report: FileReport, python: str) -> None:
    """A worker that cannot start (no torch in the interpreter) is one error, not one per model."""
    errors = [m.error for m in report.models if m.error is not None]
    if not errors or not all(e.kind == "unavailable" for e in errors):
        return
    raise CliError(errors[0].text(flag_of))


# The settings an error can name, as the flags that set them here.
SETTING_FLAGS: dict[ErrorSetting, str] = {
    "limits.timeoutSeconds": "--timeout",
    "limits.memoryMB": "--memory-mb",
    "python": "--python",
    "dims": "--dim NAME=N",
}


def flag_of(setting: ErrorSetting) -> str:
    return SETTING_FLAGS[setting]


def _analyse_in_process(request: AnalysisRequest) -> FileReport:
    try:
        from flopsight.counting.runner import analyse_file
    except ModuleNotFoundError as e:
        if e.name and e.name.split(".")[0] == "torch":
            raise CliError(
                f"torch is not installed in {sys.executable}: install it there "
                "(pip install torch) to count models"
            ) from e
        raise
    if request.measure is not None:
        from flopsight.counting.measure import measure_file as analyse_file
    # The user's code prints through Python's sys.stdout (captured by the runner); this keeps
    # anything written straight to file descriptor 1 (C extensions) off our stdout as well.
    with _stdout_to_stderr():
        return analyse_file(request)


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@contextlib.contextmanager
def progress(message: str, stream: TextIO | None = None) -> Iterator[None]:
    """A one-line note on a terminal's stderr when the work takes more than a second."""
    out = stream or sys.stderr
    if not _is_tty(out):
        yield
        return
    shown = threading.Event()
    done = threading.Event()
    lock = threading.Lock()

    def show() -> None:
        with lock:
            if done.is_set():
                return
            shown.set()
            out.write(f"flopsight: {message}…")
            out.flush()

    timer = threading.Timer(PROGRESS_AFTER_S, show)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        with lock:
            done.set()
        if shown.is_set():
            out.write("\r\033[K")
            out.flush()


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# ----------------------------------------------------------------------------- inputs


def parse_shape(text: str) -> tuple[str | None, list[int]]:
    """``1,3,224,224``, ``(1, 3, 224, 224)``, ``1x3x224x224`` or ``mask=1,77`` → (name, shape)."""
    name = None
    m = re.match(r"^\s*([A-Za-z_]\w*)\s*[=:]\s*(.+)$", text)
    if m:
        name, text = m.group(1), m.group(2)
    body = text.strip()
    if re.fullmatch(r"\d+(\s*x\s*\d+)+", body):
        body = body.replace("x", ",")
    if not body.startswith(("(", "[")):
        body = f"({body},)" if not body.endswith(",") else f"({body})"
    try:
        value = ast.literal_eval(body)
    except (ValueError, SyntaxError):
        value = None
    if (
        isinstance(value, (tuple, list))
        and value
        and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value)
    ):
        return name, [int(d) for d in value]
    raise CliError(
        f"--input {text!r}: not a shape; write the dimensions as integers, e.g. "
        "--input 1,3,224,224 or --input '(1, 3, 224, 224)' (one --input per forward argument)"
    )


def input_specs(texts: Sequence[str], dtype: str | None, spec: ModelSpec | None) -> list[InputSpec]:
    """The ``--input`` shapes as InputSpecs, named (and ordered) by forward's parameters."""
    params = list(spec.forward_params) if spec is not None else []
    parsed = [parse_shape(t) for t in texts]
    named = {n: s for n, s in parsed if n is not None}
    unnamed = [s for n, s in parsed if n is None]
    if named and params:
        unknown = [n for n in named if n not in params]
        if unknown:
            raise CliError(
                f"--input {unknown[0]}=...: {spec.name if spec else 'the model'}.forward has no "
                f"parameter {unknown[0]!r} (it takes {', '.join(params)})"
            )
    out: list[InputSpec] = []
    free = [p for p in params if p not in named]
    for i, shape in enumerate(unnamed):
        out.append(InputSpec(free[i] if i < len(free) else f"input_{i}", shape, dtype or "float32"))
    order = {p: i for i, p in enumerate(params)}
    for n, shape in sorted(named.items(), key=lambda kv: order.get(kv[0], len(order))):
        out.append(InputSpec(n, shape, dtype or "float32", keyword=True))
    out.sort(key=lambda s: order.get(s.name, len(order)))
    return out


def parse_dims(texts: Sequence[str], base: dict[str, int]) -> dict[str, int]:
    dims = dict(base)
    for text in texts:
        m = re.fullmatch(r"\s*([A-Za-z_]\w*)\s*=\s*(\d+)\s*", text)
        if not m:
            raise CliError(f"--dim {text!r}: write NAME=VALUE, e.g. --dim batch=8")
        dims[m.group(1)] = int(m.group(2))
    return dims


# ----------------------------------------------------------------------------- the file


@dataclass
class Problem:
    """One error to report: where (1-based line, 0-based column) and what."""

    line: int | None
    text: str
    col: int | None = None

    def where(self, path: str, names: LineNames) -> str:
        if self.line is not None and self.col is not None:
            return _where(names, path, self.line, self.col)
        return names.at(path, self.line)


@dataclass
class Target:
    """The file a command works on, its source analysis and the request to run."""

    path: str
    text: str
    analysis: SourceAnalysis
    request: AnalysisRequest
    settings: Settings
    # Problems found before anything ran (malformed pragmas).
    source_errors: list[Problem]
    # How lines are named in messages and tables (a notebook's: cell and line).
    names: LineNames


def read_source(path: str) -> tuple[str, LineNames]:
    """The text to analyse and how to name its lines; a notebook's code cells joined."""
    raw = _read_text(path)
    if not is_notebook_path(path):
        return raw, LineNames()
    try:
        module = build_virtual_module(read_ipynb(raw))
    except ValueError as e:
        raise CliError(f"{path}: {e}") from e
    return module.text, NotebookLines(module)


def _read_text(path: str) -> str:
    """The file's text: a regular file only (a FIFO would block, /dev/zero never end), at most
    ``MAX_FILE_BYTES``."""
    if not os.path.exists(path):
        raise CliError(f"{path}: no such file; check the path")
    if os.path.isdir(path):
        raise CliError(f"{path}: is a folder; give the Python file that defines the model")
    try:
        # O_NONBLOCK: opening a FIFO without a writer returns at once instead of waiting.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise CliError(f"{path}: cannot read it ({e.strerror})") from e
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise CliError(
                f"{path}: not a regular file (a {_file_type(mode)}); give the Python file or "
                "notebook that defines the model"
            )
        try:
            data = f.read(MAX_FILE_BYTES + 1)
        except OSError as e:
            raise CliError(f"{path}: cannot read it ({e.strerror})") from e
    if len(data) > MAX_FILE_BYTES:
        raise CliError(
            f"{path}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB, the most flopsight "
            "reads; give the file that defines the model"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CliError(f"{path}: not UTF-8 text ({e.reason}); is it a Python file?") from e


def _file_type(mode: int) -> str:
    kinds = [
        (stat.S_ISFIFO, "named pipe"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISSOCK, "socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "special file")


def _analyse_source(text: str, path: str) -> SourceAnalysis:
    from flopsight.source import analyse_source

    return analyse_source(text, path)


def model_names(analysis: SourceAnalysis) -> str:
    names = [m.name if not m.label else f"{m.name} ({m.label})" for m in analysis.models]
    return ", ".join(names) if names else "none: no nn.Module class or model instance found"


def prepare(args: argparse.Namespace) -> Target:
    """Reads and parses FILE, checks --model/--input/--dtype, builds the request."""
    path: str = args.file
    text, names = read_source(path)
    analysis = _analyse_source(text, path)
    if analysis.syntax_error is not None:
        d = analysis.syntax_error
        message = d.detail or d.message
        where = _where(names, path, d.span.line, d.span.col)
        raise CliError(f"{where}: {d.code} {message}; fix the syntax and run again")
    if not analysis.models:
        raise CliError(
            f"{path}: no nn.Module class or model instance found; flopsight counts the models a "
            "file defines (a class deriving from nn.Module, or `net = ...  # flopsight: input=...`)"
        )
    source_errors = [
        Problem(d.span.line, f"{d.code} {d.message}", d.span.col)
        for d in analysis.diagnostics
        if d.severity == "error"
    ]
    settings = Settings(convention=args.convention)
    settings = replace(settings, dims=parse_dims(getattr(args, "dim", None) or [], settings.dims))
    if args.python:
        settings = replace(settings, python=args.python)
    if args.timeout is not None:
        why = timeout_problem(args.timeout)
        if why is not None:
            raise CliError(f"--timeout {args.timeout:g}: {why}")
        settings = replace(settings, timeout_seconds=args.timeout)
    if args.memory_mb is not None:
        why = memory_problem(args.memory_mb)
        if why is not None:
            raise CliError(f"--memory-mb {args.memory_mb}: {why}")
        settings = replace(settings, memory_mb=args.memory_mb)
    selected: list[str] | None = None
    model_arg: str | None = getattr(args, "model", None)
    spec = None
    if model_arg is not None:
        spec = analysis.model(model_arg)
        if spec is None:
            raise CliError(
                f"{path}: no model named {model_arg!r}; known models: {model_names(analysis)}"
            )
        selected = [spec.name]
    dtype: str | None = getattr(args, "dtype", None)
    if dtype is not None:
        from flopsight.source import normalise_dtype

        if normalise_dtype(dtype) is None:
            raise CliError(
                f"--dtype {dtype!r}: not a torch dtype; use e.g. float32, float16, bfloat16, long"
            )
        dtype = normalise_dtype(dtype)
    override = None
    inputs: list[str] = getattr(args, "input", None) or []
    if inputs:
        if spec is None:
            if len(analysis.models) != 1:
                raise CliError(
                    f"--input: {path} defines {len(analysis.models)} models; say which one "
                    f"with --model NAME (known models: {model_names(analysis)})"
                )
            spec = analysis.models[0]
            selected = [spec.name]
        override = input_specs(inputs, dtype, spec)
    request = AnalysisRequest(
        text=text,
        path=path,
        root=os.getcwd(),
        convention=settings.convention,
        dims=dict(settings.dims),
        models=selected,
        input_override=override,
        dtype_override=dtype,
        mode="training" if getattr(args, "mode", "inference") == "train" else "inference",
        # --compare: every other convention charged in the same pass.
        extra_conventions=[c for c in get_args(Convention) if c != settings.convention]
        if getattr(args, "compare", False)
        else [],
    )
    if request.mode == "training" and args.command == "measure":
        raise CliError("--mode train: measure times the forward only; count the step with report")
    if spec is not None and spec.inputs is None and override is None:
        raise CliError(
            f"{names.at(path, spec.line)}: {spec.name} has no input shape; "
            f"{_pragma_advice(spec, names)} "
            "or pass --input SHAPE"
        )
    if selected is None and analysis.models and all(m.inputs is None for m in analysis.models):
        first = analysis.models[0]
        raise CliError(
            f"{path}: no model has an input shape; {_pragma_advice(first, names)}, "
            "or pass --model NAME --input SHAPE"
        )
    return Target(path, text, analysis, request, settings, source_errors, names)


def _where(names: LineNames, path: str, line: int, col: int) -> str:
    """``file:line:col`` (1-based column), or a notebook's ``file (cell 2, line 3), column 5``."""
    if isinstance(names, NotebookLines):
        return f"{names.at(path, line)}, column {col + 1}"
    return f"{path}:{line}:{col + 1}"


def _pragma_advice(spec: ModelSpec, names: LineNames) -> str:
    shape = str(tuple(spec.guessed_input)) if spec.guessed_input else "(...)"
    where = "the class line" if spec.kind == "class" else "the assignment"
    return f"add `# flopsight: input={shape}` to {where} ({names.line(spec.line)})"


def analyse(target: Target) -> FileReport:
    with progress(f"counting {target.path}"):
        return run_analysis(target.request, target.settings)


def model_errors(report: FileReport, names: LineNames) -> list[Problem]:
    """One per model that raised (or, measured, was not measured): ``FS202 Name: Type: message
    (while ...)`` at its deepest line, settings named as the flags that set them."""
    out = []
    for m in report.models:
        err: ModelError | None = m.error if m.status == "error" else m.measure_error
        if m.status == "error" and err is None:
            out.append(Problem(m.line, f"{m.name} could not be counted"))
            continue
        if err is None:
            continue
        message = " ".join(err.text(flag_of).split())
        phase = PHASES.get(err.kind)
        during = f" (while {phase}; model at {names.line(m.line)})" if phase else ""
        line = err.line if err.line is not None else m.line
        out.append(Problem(line, f"{err.code} {m.name}: {err.type}: {message}{during}"))
    return out


def problems(target: Target, report: FileReport) -> list[Problem]:
    return target.source_errors + model_errors(report, target.names)


def _print_errors(target: Target, errors: Sequence[Problem]) -> None:
    for e in errors:
        print(f"flopsight: error: {e.where(target.path, target.names)}: {e.text}", file=sys.stderr)


# ----------------------------------------------------------------------------- commands


def cmd_report(args: argparse.Namespace) -> int:
    if args.depth is not None and args.depth < 0:
        raise CliError(f"--depth {args.depth}: give 0 (the model only) or more levels")
    target = prepare(args)
    # JSON also says how each model's MACs grow with its symbolic dimensions (``scaling``).
    target.request.scaling = args.format == "json"
    report = analyse(target)
    if args.format == "json":
        print(json.dumps(report.to_json(), indent=2))
    elif args.compare:
        from flopsight.report.compare import render_compare

        sys.stdout.write(render_compare(report, names=target.names))
    elif args.format == "markdown":
        from flopsight.report.markdown import render_markdown

        sys.stdout.write(
            render_markdown(report, depth=args.depth, names=target.names, settings=flag_of)
        )
    else:
        from flopsight.report.table import render_table

        sys.stdout.write(
            render_table(
                report, depth=args.depth, include_errors=False, names=target.names, settings=flag_of
            )
        )
    errors = problems(target, report)
    _print_errors(target, errors)
    return EXIT_ERROR if errors else EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    budgets: dict[str, int] = {}
    for key, flag in (("macs", "--max-macs"), ("params", "--max-params")):
        value = getattr(args, f"max_{key}")
        if value is None:
            continue
        try:
            budgets[key] = parse_quantity(value)
        except ValueError:
            raise CliError(
                f"{flag} {value!r}: not a quantity; write a number with an optional K/M/G/T "
                "suffix, e.g. 10G"
            ) from None
    target = prepare(args)
    report = analyse(target)
    over: list[tuple[ModelReport, str]] = []
    for m in report.models:
        if m.status != "ok" or m.total is None:
            continue
        if "macs" in budgets and m.total.macs > budgets["macs"]:
            limit = format_macs(budgets["macs"])
            over.append((m, f"{format_macs(m.total.macs)} exceeds --max-macs {limit}"))
        if "params" in budgets and m.total.params > budgets["params"]:
            over.append(
                (
                    m,
                    f"{format_params(m.total.params)} params exceeds --max-params "
                    f"{format_params(budgets['params'])}",
                )
            )
    plain_lines = not isinstance(target.names, NotebookLines)
    for m, why in over:
        if args.github:
            print(github_error(target.path, m.line if plain_lines else None, f"{m.name}: {why}"))
        else:
            print(f"{target.names.at(target.path, m.line)}: {m.name}: {why}")
    errors = problems(target, report)
    if args.github:
        for e in errors:
            print(github_error(target.path, e.line if plain_lines else None, e.text))
    _print_errors(target, errors)
    if errors:
        return EXIT_ERROR
    if over:
        return EXIT_OVER_BUDGET
    counted = [m for m in report.models if m.status == "ok"]
    limits = [
        f"max {format_macs(budgets['macs'])}" if "macs" in budgets else "",
        f"max {format_params(budgets['params'])} params" if "params" in budgets else "",
    ]
    within = ", ".join(x for x in limits if x) or "no budget given"
    counted_names = ", ".join(m.name for m in counted) or "no model counted"
    print(f"{target.path}: {counted_names}: within budget ({within})")
    return EXIT_OK


def github_error(path: str, line: int | None, text: str) -> str:
    """A GitHub Actions workflow command that annotates ``path`` (at ``line``) with ``text``."""
    at = f",line={line}" if line is not None else ""
    escaped = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return f"::error file={path}{at},title=flopsight::{escaped}"


def cmd_annotate(args: argparse.Namespace) -> int:
    from flopsight.report.annotate import annotate_text

    parts = [p.strip() for p in args.show.split(",") if p.strip()]
    unknown = [p for p in parts if p not in HINT_PARTS]
    if unknown or not parts:
        raise CliError(
            f"--show {args.show!r}: name parts from {', '.join(HINT_PARTS)}, "
            "e.g. --show macs,params"
        )
    if not 0 <= args.min_share <= 100:
        raise CliError(f"--min-share {args.min_share:g}: give a percentage from 0 to 100")
    target = prepare(args)
    report = analyse(target)
    text = annotate_text(target.text, report, parts, args.min_share)
    if isinstance(target.names, NotebookLines):
        text = _with_cell_markers(text, target.names.module)
    sys.stdout.write(text)
    errors = problems(target, report)
    _print_errors(target, errors)
    return EXIT_ERROR if errors else EXIT_OK


def _with_cell_markers(text: str, module: VirtualModule) -> str:
    """A ``# %% cell N`` line before each code cell of an annotated notebook."""
    starts = {cell.start: cell.index + 1 for cell in module.cells}
    out = []
    for number, line in enumerate(split_lines(text)[:-1], start=1):
        if number in starts:
            out.append(f"# %% cell {starts[number]}")
        out.append(line)
    return "\n".join(out) + "\n"


def cmd_measure(args: argparse.Namespace) -> int:
    """Build the models for real and time them (issue 7): latency and GFLOP/s per layer."""
    from flopsight.job import MeasureOptions

    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", args.device):
        raise CliError(f"--device {args.device!r}: use cpu, cuda, cuda:N or mps")
    if args.warmup < 0:
        raise CliError(f"--warmup {args.warmup}: give 0 or more warm-up runs")
    if args.iters < 1:
        raise CliError(f"--iters {args.iters}: give at least 1 timed run")
    if args.peak is not None and args.peak <= 0:
        raise CliError(f"--peak {args.peak:g}: give the device's peak in GFLOP/s, e.g. 989400")
    # --dtype is what the model computes in (weights and float inputs), not an input override.
    dtype: str | None = args.dtype
    if dtype is not None:
        from flopsight.source import normalise_dtype

        dtype = normalise_dtype(dtype)
        if dtype is None or not (dtype.startswith(("float", "bfloat")) or dtype == "half"):
            raise CliError(
                f"--dtype {args.dtype!r}: measure in a floating dtype, e.g. float32, float16, "
                "bfloat16"
            )
    args.dtype = None
    target = prepare(args)
    target.request.measure = MeasureOptions(
        device=args.device,
        dtype=dtype,
        warmup=args.warmup,
        iters=args.iters,
        peak_gflops_per_s=args.peak,
    )
    with progress(f"measuring {target.path} on {args.device}"):
        report = run_analysis(target.request, target.settings)
    if args.format == "json":
        print(json.dumps(report.to_json(), indent=2))
    else:
        from flopsight.report.measure_table import render_measure_table

        sys.stdout.write(render_measure_table(report, names=target.names, settings=flag_of))
    errors = problems(target, report)
    _print_errors(target, errors)
    return EXIT_ERROR if errors else EXIT_OK


def _memory_options(args: argparse.Namespace, fit_dim: str | None = None) -> MemoryOptions:
    """--mode/--optimizer/--precision/--gpu, checked (an unknown GPU lists the known ones)."""
    from flopsight import gpus

    if args.gpu is not None:
        try:
            gpus.accelerator(args.gpu)
        except gpus.UnknownAccelerator as e:
            raise CliError(f"--gpu: {e}") from None
    return MemoryOptions(
        mode=args.mode or "train",
        optimizer=args.optimizer,
        precision=args.precision,
        gpu=args.gpu,
        fit_dim=fit_dim,
    )


def _exact(n: int) -> str:
    """``15.00 GiB (16,105,985,024 bytes)``: near the capacity one decimal is not enough."""
    return f"{n / 1024**3:.2f} GiB ({n:,} bytes)"


def cmd_fit(args: argparse.Namespace) -> int:
    """The largest value of a dimension (the batch) whose peak memory fits ``--gpu`` (issue 15)."""
    from flopsight import gpus

    # --dim NAME names the dimension to search; --dim NAME=N still sets a symbolic value.
    named = [d for d in (args.dim or []) if "=" not in d]
    if len(named) > 1:
        raise CliError(f"--dim: search one dimension at a time (given {', '.join(named)})")
    fit_dim = named[0].strip() if named else "batch"
    if not fit_dim.isidentifier():
        raise CliError(f"--dim {fit_dim!r}: name a dimension, e.g. --dim batch")
    args.dim = [d for d in (args.dim or []) if "=" in d]
    options = _memory_options(args, fit_dim)
    target = prepare(args)
    target.request.memory = options
    with progress(f"searching the largest {fit_dim} of {target.path} that fits {args.gpu}"):
        report = run_analysis(target.request, target.settings)
    if args.format == "json":
        print(json.dumps(report.to_json(), indent=2))
    accelerator = gpus.accelerator(args.gpu)
    errors = problems(target, report)
    status = EXIT_OK
    for m in report.models:
        memory = m.memory
        if m.status != "ok" or memory is None:
            continue
        where = target.names.at(target.path, m.line)
        if "error" in memory:
            errors.append(Problem(m.line, f"{m.display_name}: {memory['error']}"))
            continue
        fit = memory.get("fit") or {}
        what = gpus.memory_summary({**memory, "gpu": None})
        if fit.get("largest") is None:
            peak = _exact(int(fit.get("peak_at_next") or 0))
            line = (
                f"{m.display_name} ({where}): does not fit {accelerator.name} "
                f"({gpus.format_bytes(accelerator.bytes)}) even at {fit_dim}=1: peak {peak}"
            )
            status = EXIT_OVER_BUDGET
        else:
            largest, nxt = fit["largest"], fit["next"]
            at_next = fit.get("peak_at_next")
            after = (
                f"; at {fit_dim}={nxt}: {_exact(at_next)}"
                if at_next is not None
                else f" (the search stops at {fit_dim}={largest})"
            )
            line = (
                f"{m.display_name} ({where}): largest {fit_dim} that fits {accelerator.name} "
                f"({gpus.format_bytes(accelerator.bytes)}): {largest} · peak "
                f"{_exact(fit['peak_at_largest'])}{after}"
            )
        if args.format != "json":
            print(line)
            print(f"  at the annotated size: {what}")
        elif fit.get("largest") is None:
            print(line, file=sys.stderr)
    _print_errors(target, errors)
    return EXIT_ERROR if errors else status


def cmd_serve(args: argparse.Namespace) -> int:
    if args.tcp is not None and not re.fullmatch(r"[^:\s]*:\d{1,5}", args.tcp):
        raise CliError(f"--tcp {args.tcp!r}: write HOST:PORT, e.g. --tcp 127.0.0.1:2087")
    from flopsight.lsp.server import start

    start(args.tcp)
    return EXIT_OK


# ----------------------------------------------------------------------------- parser


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"flopsight: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from flopsight.gpus import OPTIMIZERS, PRECISIONS

    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks")
    model = _Parser(add_help=False, parents=[common])
    model.add_argument("file", metavar="FILE", help="Python file that defines the model(s)")
    model.add_argument(
        "--convention",
        choices=get_args(Convention),
        default="macs",
        help="macs: matmuls and convolutions (torchvision's column); ptflops, fvcore, "
        "deepspeed: as those tools count",
    )
    model.add_argument(
        "--mode",
        choices=("inference", "train"),
        # None: each command's own default (inference; fit tracks a training step).
        default=None,
        help="train: count a training step (forward + backward, per layer and line)",
    )
    model.add_argument("--model", metavar="NAME", help="count only this class or instance")
    model.add_argument(
        "--input",
        metavar="SHAPE",
        action="append",
        help="input shape, e.g. 1,3,224,224; repeat for several forward arguments",
    )
    model.add_argument("--dtype", metavar="D", help="dtype of every input, e.g. float16, long")
    model.add_argument(
        "--dim", metavar="NAME=N", action="append", help="value of a symbolic dimension"
    )
    model.add_argument(
        "--python", metavar="PATH", help="interpreter that runs the models (default: this one)"
    )
    model.add_argument(
        "--timeout", metavar="S", type=float, help="time limit per file in seconds (default 20)"
    )
    model.add_argument(
        "--memory-mb", metavar="MB", type=int, help="address-space limit (default 8192)"
    )

    parser = _Parser(
        prog="flopsight",
        description="What a PyTorch model costs: MACs, FLOPs and params, per layer and per line.",
    )
    parser.add_argument("--version", action="version", version=f"flopsight {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    report = sub.add_parser("report", parents=[model], help="per-layer table of a file's models")
    report.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    report.add_argument(
        "--compare",
        action="store_true",
        help="every convention side by side (one pass), with the op families that differ",
    )
    report.add_argument("--depth", type=int, metavar="N", help="show the module tree N levels deep")
    report.set_defaults(func=cmd_report)

    check = sub.add_parser("check", parents=[model], help="fail when a model is over budget")
    check.add_argument("--max-macs", metavar="Q", help="budget in MACs, e.g. 10G")
    check.add_argument("--max-params", metavar="Q", help="budget in parameters, e.g. 50M")
    check.add_argument("--github", action="store_true", help="GitHub Actions ::error lines")
    check.set_defaults(func=cmd_check)

    annotate = sub.add_parser("annotate", parents=[model], help="the file with counts per line")
    annotate.add_argument(
        "--show",
        metavar="PARTS",
        default=",".join(DEFAULT_PARTS),
        help=f"parts of each label, in order, from {', '.join(HINT_PARTS)} "
        f"(default {','.join(DEFAULT_PARTS)})",
    )
    annotate.add_argument(
        "--min-share",
        metavar="PERCENT",
        type=float,
        default=0.0,
        help="lines with a smaller share of the model's MACs get no label",
    )
    annotate.set_defaults(func=cmd_annotate)

    measure = sub.add_parser(
        "measure",
        parents=[model],
        help="build the models for real and time them: latency, GFLOP/s per layer",
        description="Build each model on the device with random weights, run it on random "
        "inputs of the annotated shape and time it: median latency, achieved GFLOP/s and "
        "share of time per layer, utilisation of the device's peak. Here --dtype is the "
        "dtype the model computes in (weights and float inputs).",
    )
    measure.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or mps")
    measure.add_argument("--warmup", type=int, default=3, metavar="N", help="untimed runs first")
    measure.add_argument("--iters", type=int, default=20, metavar="N", help="timed runs")
    measure.add_argument(
        "--peak", type=float, metavar="GFLOPS", help="the device's peak GFLOP/s (for utilisation)"
    )
    measure.add_argument("--format", choices=("table", "json"), default="table")
    measure.set_defaults(func=cmd_measure)

    from flopsight.cli_diff import add_parser as add_diff

    add_diff(sub, common)

    training = _Parser(add_help=False)
    training.add_argument("--optimizer", choices=OPTIMIZERS, default="adamw")
    training.add_argument("--precision", choices=PRECISIONS, default="fp32")
    fit = sub.add_parser(
        "fit",
        parents=[model, training],
        help="the largest batch whose peak memory fits a GPU",
        description="Track the peak memory of a training step (or inference) on meta and "
        "search the largest value of a dimension (--dim NAME, default batch) that fits the "
        "GPU: doubling, then bisection.",
    )
    fit.add_argument("--gpu", required=True, help="h100, a100-80, rtx4090, m3-max-48, ...")
    fit.add_argument("--format", choices=("table", "json"), default="table")
    fit.set_defaults(func=cmd_fit)

    serve = sub.add_parser("serve", parents=[common], help="run the language server")
    serve.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio")
    serve.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    # The worker logs its restarts; the CLI says what went wrong itself (--debug shows the log).
    logging.getLogger("flopsight").addHandler(logging.NullHandler())
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version and usage errors
        return e.code if isinstance(e.code, int) else EXIT_ERROR
    func: Callable[[argparse.Namespace], int] = args.func
    if args.debug:
        logging.basicConfig(level=logging.DEBUG, format="flopsight: %(name)s: %(message)s")
    try:
        return func(args)
    except CliError as e:
        if args.debug:
            traceback.print_exc()
        print(f"flopsight: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("flopsight: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if args.debug:
            traceback.print_exc()
        print(
            f"flopsight: error: internal error: {type(e).__name__}: {e} "
            "(run with --debug for the traceback and report it)",
            file=sys.stderr,
        )
        return EXIT_ERROR
