"""Turn what the host saw of a job into the FileReport a caller gets (server side, no torch).

A job that ends without a report (time limit, memory limit, crash, the worker restarting)
still answers with a FileReport: every model the job would have counted has status "error"
and ``error.kind`` one of "timeout", "memory", "crash", "unavailable", with a message that
gives the limit's value, or what happened, and ``error.setting`` naming the limit's setting
(each reader names it its way: the editor's setting, the CLI's flag). Models without an
input shape stay "skipped", as the runner reports them.
"""

from __future__ import annotations

import re
import signal
from typing import Literal

from flopsight.job import AnalysisRequest
from flopsight.report.model import ErrorSetting, FileReport, ModelError, ModelReport
from flopsight.source import analyse_source
from flopsight.source.model import ModelSpec
from flopsight.worker.protocol import JobOutcome, truncate_output

FailureKind = Literal["timeout", "memory", "crash", "unavailable"]

# Error types the caller can match on (ModelError.type) besides the kind.
FAILURE_TYPES: dict[FailureKind, str] = {
    "timeout": "TimeLimitExceeded",
    "memory": "MemoryError",
    "crash": "WorkerCrash",
    "unavailable": "WorkerUnavailable",
}

# What an allocation refused under RLIMIT_AS looks like, from Python, torch's allocator or C++.
_MEMORY_TEXT = re.compile(
    r"MemoryError|can't allocate memory|Cannot allocate memory|std::bad_alloc|out of memory",
    re.IGNORECASE,
)


def classify(
    outcome: JobOutcome, request: AnalysisRequest, *, timeout_s: float, memory_mb: int
) -> tuple[FileReport, FailureKind | None]:
    """The caller's report for a finished job, and the failure it met (None: a clean report,
    which may be cached; per-model errors the runner reported are part of a clean report)."""
    answer = outcome.result
    if outcome.timed_out:
        return timeout_report(request, timeout_s, outcome.output), "timeout"
    if answer is not None and answer.get("ok") is True:
        report = FileReport.from_json(answer["report"])
        if outcome.output.strip():
            report.output = (report.output + "\n" + outcome.output).strip("\n")
        report.output = truncate_output(report.output)
        hit_memory = _mark_memory_errors(report, memory_mb)
        return report, "memory" if hit_memory else None
    if answer is not None:
        message = str(answer.get("message", ""))
        if answer.get("memory") or _MEMORY_TEXT.search(message):
            return memory_report(request, memory_mb, message, outcome.output), "memory"
        crashed = failure_report(request, "crash", message, outcome.output, detail=message)
        return crashed, "crash"
    how = describe_exit(outcome.exit_code)
    if _MEMORY_TEXT.search(outcome.output[-4000:]):
        return memory_report(request, memory_mb, how, outcome.output), "memory"
    message = f"the analysis process died ({how}) before it answered; nothing was counted"
    return failure_report(request, "crash", message, outcome.output, detail=how), "crash"


def timeout_report(request: AnalysisRequest, timeout_s: float, output: str = "") -> FileReport:
    message = (
        f"the analysis did not finish within the time limit of {timeout_s:g} s and was stopped"
    )
    return failure_report(request, "timeout", message, output, setting="limits.timeoutSeconds")


def memory_report(
    request: AnalysisRequest, memory_mb: int, detail: str, output: str = ""
) -> FileReport:
    message = memory_message(memory_mb, detail)
    return failure_report(
        request, "memory", message, output, setting="limits.memoryMB", detail=detail or None
    )


def memory_message(memory_mb: int, detail: str) -> str:
    detail = detail.strip().splitlines()[0] if detail.strip() else ""
    return f"the analysis ran out of memory under the limit of {memory_mb} MB" + (
        f" ({detail})" if detail else ""
    )


def failure_report(
    request: AnalysisRequest,
    kind: FailureKind,
    message: str,
    output: str = "",
    *,
    setting: ErrorSetting | None = None,
    detail: str | None = None,
) -> FileReport:
    """A report carrying one failure on every model the request would have counted."""
    report = FileReport(file=request.path, convention=request.convention, output=output)
    error = ModelError(message, FAILURE_TYPES[kind], kind, setting=setting, detail=detail)
    for name, kind_of_model, line, label, counted in _models_of(request):
        report.models.append(
            ModelReport(
                name=name,
                kind=kind_of_model,
                line=line,
                label=label,
                status="error" if counted else "skipped",
                error=error if counted else None,
            )
        )
    return report


def describe_exit(code: int | None) -> str:
    if code is None:
        return "unknown exit status"
    if code >= 0:
        return f"exit status {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    meaning = {"SIGSEGV": " (segmentation fault)", "SIGABRT": " (abort)", "SIGBUS": " (bus error)"}
    return f"killed by {name}{meaning.get(name, '')}"


def _mark_memory_errors(report: FileReport, memory_mb: int) -> bool:
    """Model errors caused by the address-space limit become kind "memory", naming the limit."""
    found = False
    for model in report.models:
        error = model.error
        if error is None or error.kind in ("memory", "timeout"):
            continue
        if error.type == "MemoryError" or _MEMORY_TEXT.search(error.message):
            detail = error.message
            if not detail.startswith(error.type):
                detail = f"{error.type}: {detail}" if detail != error.type else detail
            error.kind, error.setting, error.detail = "memory", "limits.memoryMB", detail
            error.message = memory_message(memory_mb, detail)
            found = True
    return found


def _models_of(
    request: AnalysisRequest,
) -> list[tuple[str, Literal["class", "instance"], int, str | None, bool]]:
    """(name, kind, line, label, counted) for each model the request selects, found by the
    source analysis (no torch); just the requested names when that is unavailable."""
    specs = _source_models(request)
    wanted = set(request.models) if request.models is not None else None
    found: list[tuple[str, Literal["class", "instance"], int, str | None, bool]] = []
    for spec in specs:
        name, label = spec.name, spec.label
        if wanted is not None and name not in wanted and label not in wanted:
            continue
        counted = spec.inputs is not None or (
            request.input_override is not None and wanted is not None
        )
        found.append((name, spec.kind, spec.line, label, counted))
    named = {f[0] for f in found} | {f[3] for f in found if f[3]}
    for name in sorted((wanted or set()) - named):
        found.append((name, "class", 1, None, True))
    return found


# Parsing a larger text here holds the GIL on the pool's thread for seconds (5 MB: 3 s), which
# stalls the language server's event loop; its session puts the models' lines right itself.
SOURCE_MAX_CHARS = 64 * 1024


def _source_models(request: AnalysisRequest) -> list[ModelSpec]:
    if len(request.text) > SOURCE_MAX_CHARS:
        return []
    try:
        return analyse_source(request.text, request.path).models
    except Exception:  # a failure report must not fail
        return []
