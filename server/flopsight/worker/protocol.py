"""The messages between the pool (server side) and a host process: one JSON object per line.

pool -> host (the host's stdin)::

    {"op": "run", "id": 7, "request": {...AnalysisRequest...}, "timeout_s": 20.0, "memory_mb": 8192}
    {"op": "cancel", "id": 7}

host -> pool (a dedicated descriptor: the host's original stdout, which no job can write to)::

    {"op": "ready", "pid": 123, "python": "...", "torch": "2.13.0", "notes": [...], ...}
    {"op": "fatal", "message": "No module named 'torch'"}           then the host exits
    {"op": "started", "id": 7, "pid": 456}                           the job's child (and pgid)
    {"op": "spare", "pid": 457}      a child forked ahead of the next job (pid null: none now)
    {"op": "done", "id": 7, ...JobOutcome...}

A request carrying ``"measure": {...}`` (``flopsight measure``) runs
``flopsight.counting.measure:measure_file`` in the child instead of the host's job function.

Standard library only: the host imports this in the models' interpreter.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

# What the host keeps of a job's stdout+stderr (the file descriptors, C code and subprocesses
# included): the head and the tail, with a marker saying how much was dropped between them.
OUTPUT_HEAD_BYTES = 48 * 1024
OUTPUT_TAIL_BYTES = 16 * 1024

DEFAULT_JOB = "flopsight.counting.runner:analyse_file"


@dataclass
class JobOutcome:
    """What became of one job's child, as the host saw it (the pool classifies it)."""

    id: int
    # The child's own answer: {"ok": true, "report": {...}} or
    # {"ok": false, "type": "SystemExit", "message": "...", "memory": false}; None when the child
    # died before it wrote one (killed, crashed, os._exit).
    result: dict[str, Any] | None
    # Exit status as os.waitstatus_to_exitcode gives it: >= 0 an exit code, < 0 minus a signal.
    exit_code: int | None
    timed_out: bool = False
    cancelled: bool = False
    output: str = ""
    output_bytes: int = 0
    elapsed_ms: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"op": "done", **asdict(self)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> JobOutcome:
        return cls(
            id=int(d["id"]),
            result=d.get("result"),
            exit_code=d.get("exit_code"),
            timed_out=bool(d.get("timed_out", False)),
            cancelled=bool(d.get("cancelled", False)),
            output=str(d.get("output", "")),
            output_bytes=int(d.get("output_bytes", 0)),
            elapsed_ms=float(d.get("elapsed_ms", 0.0)),
        )


def truncate_output(text: str) -> str:
    """Head and tail of a long output, with a marker saying how much was dropped between them."""
    if len(text) <= OUTPUT_HEAD_BYTES + OUTPUT_TAIL_BYTES:
        return text
    dropped = len(text) - OUTPUT_HEAD_BYTES - OUTPUT_TAIL_BYTES
    return (
        text[:OUTPUT_HEAD_BYTES]
        + f"\n[... {dropped} characters of output dropped ...]\n"
        + text[-OUTPUT_TAIL_BYTES:]
    )


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError(f"worker message is not an object: {line[:80]!r}")
    return message
