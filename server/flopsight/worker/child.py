"""One job in a freshly forked child of the host: isolate it, run it, answer on the result pipe.

The child never returns into the host's code: it leaves through ``os._exit``. Its stdout and
stderr (the file descriptors, so C code and subprocesses too) go to the host's capture pipe;
the report goes to a pipe of its own, which the job's code is never handed.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import sys
import tempfile
import traceback

try:
    import resource
except ImportError:  # Windows: no address-space limit
    resource = None  # type: ignore[assignment]
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

from flopsight.job import AnalysisRequest
from flopsight.paths import is_installed
from flopsight.worker import sandbox

JobFunction = Callable[[AnalysisRequest], Any]

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def prctl(option: int, value: int) -> bool:
    """Linux ``prctl(2)`` through libc; False where there is none (macOS) or it fails."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(option, value, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def run_child(
    job: JobFunction,
    request: dict[str, Any] | None,
    *,
    result_fd: int,
    output_fd: int,
    memory_mb: int,
    host_pid: int,
    close_fds: Iterable[int],
    job_fd: int | None = None,
    ready_fd: int | None = None,
    warm: Callable[[], None] | None = None,
    sandbox_mode: str = "off",
    cgroup_root: str | None = None,
) -> NoReturn:
    """Set the child up, run ``job``, write its answer to ``result_fd``, exit. Never returns.

    A spare (``request`` None) is forked before its job exists: it isolates itself, runs
    ``warm`` (so the pages a job touches are already its own), says so on ``ready_fd``, then
    waits for ``{"request": ..., "memory_mb": ...}`` on ``job_fd``; EOF means "not needed".

    ``sandbox_mode`` "auto" puts the child in sandbox.py's namespaces first (before any
    thread exists), and confines its writes once the request says where the workspace is.
    """
    code = 70
    try:
        cgroup = join_cgroup(cgroup_root)
        _isolate(result_fd, output_fd, host_pid, close_fds)
        sandbox.enter(sandbox_mode, cgroup=cgroup)
        if request is None:
            assert job_fd is not None
            if warm is not None:
                with contextlib.suppress(Exception):
                    warm()
            if ready_fd is not None:
                os.write(ready_fd, b"r")
                os.close(ready_fd)
            message = _read_all(job_fd)
            if message:
                order = json.loads(message)
                request, memory_mb = order["request"], int(order["memory_mb"])
        if request is not None:
            measure = request.get("measure") or {}
            # CUDA and MPS reserve address space far beyond what they use: no RLIMIT_AS there.
            if str(measure.get("device", "cpu")).startswith("cpu"):
                limit_memory(memory_mb)
            sandbox.restrict_writes(writable_paths(request))
            answer = run_job(job, request)
            payload = json.dumps(answer, separators=(",", ":")).encode()
            _flush_std()
            _write_all(result_fd, payload)
        code = 0
    except BaseException:  # the child must reach os._exit whatever happened
        try:
            traceback.print_exc()
            _flush_std()
        except BaseException:
            pass
    finally:
        os._exit(code)


def join_cgroup(root: str | None) -> str | None:
    """Move this child into ``<root>/job-<pid>`` (host.py's JobCgroups); None where it cannot."""
    if root is None:
        return None
    folder = os.path.join(root, f"job-{os.getpid()}")
    try:
        os.mkdir(folder)
        with open(os.path.join(folder, "cgroup.procs"), "w") as f:
            f.write("0")
    except OSError:
        return None
    return folder


def _isolate(result_fd: int, output_fd: int, host_pid: int, close_fds: Iterable[int]) -> None:
    # A process group of its own: the host kills the job and every process it started at once.
    with contextlib.suppress(OSError):  # the host may have done it already
        os.setpgid(0, 0)
    # Die with the host (PR_SET_PDEATHSIG); if the host is already gone, go now.
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != host_pid:
        os._exit(71)
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for fd in close_fds:
        if fd not in (result_fd, output_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    if devnull != 0:  # fd 0 (the host's stdin) was closed above: open() may have taken it
        os.dup2(devnull, 0)
        os.close(devnull)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    os.close(output_fd)
    # A segfault must not leave a core file in the user's folder.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def writable_paths(request: dict[str, Any]) -> list[str]:
    """Where a sandboxed job may write: its workspace (or its file's folder), the temporary
    folder, and /dev (null, shm, accelerators)."""
    path = str(request.get("path") or "")
    workspace = request.get("root") or os.path.dirname(os.path.abspath(path))
    return [str(workspace), tempfile.gettempdir(), "/dev"]


def limit_memory(memory_mb: int) -> None:
    """RLIMIT_AS for the rest of this process (where the platform has it)."""
    if resource is None:
        return
    limit = memory_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def run_job(job: JobFunction, request: dict[str, Any]) -> dict[str, Any]:
    """The job's answer: ``{"ok": true, "report": ..., "deps": ...}`` or the exception."""
    try:
        parsed = AnalysisRequest.from_json(request)
        # Relative paths in the file's code mean what they mean when the user runs it from
        # the workspace root (or, without one, from the file's folder).
        with contextlib.suppress(OSError):
            os.chdir(parsed.root or os.path.dirname(os.path.abspath(parsed.path)))
        reads = _LocalReads(parsed)
        sys.addaudithook(reads)  # gone with the child
        if parsed.measure is not None:  # `flopsight measure`: the measuring job instead
            from flopsight.counting.measure import measure_file

            job = measure_file
        report = job(parsed)
        report.sandbox = sandbox.status()
        return {"ok": True, "report": report.to_json(), "deps": reads.stamps()}
    except BaseException as e:  # SystemExit and KeyboardInterrupt from the file's code too
        traceback.print_exc()
        return {
            "ok": False,
            "type": type(e).__name__,
            "message": _describe(e),
            "memory": isinstance(e, MemoryError),
        }


class _LocalReads:
    """The files the job opened (imports included) under the file's folder or the workspace
    root, outside installed packages: a cached report is stale once one of them changes.
    Files the request carries as the editor's buffers (``overlays``) are left out: their text
    came with the request, so the disk's copy does not matter."""

    LIMIT = 256

    def __init__(self, request: AnalysisRequest) -> None:
        folder = os.path.dirname(os.path.abspath(request.path))
        roots = [folder]
        if request.root:
            roots.append(os.path.abspath(request.root))
        self.roots = tuple(r.rstrip(os.sep) + os.sep for r in roots)
        self.own = os.path.abspath(request.path)
        self.files: set[str] = set()
        self.overlaid = {os.path.abspath(p) for p in request.overlays}

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if event != "open" or len(self.files) >= self.LIMIT or not isinstance(args[0], str):
            return
        mode = args[1] if len(args) > 1 and isinstance(args[1], str) else "r"
        if "w" in mode or "a" in mode or "x" in mode:
            return
        path = os.path.abspath(args[0])
        if path.startswith(self.roots) and path != self.own and not is_installed(path):
            self.files.add(path)

    def stamps(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for path in sorted(self.files - self.overlaid):
            if path.endswith(".pyc"):
                continue
            try:
                st = os.stat(path)
            except OSError:
                continue
            out[path] = [st.st_mtime_ns, st.st_size]
        return out


def _describe(e: BaseException) -> str:
    if isinstance(e, SystemExit):
        return f"the file's code called sys.exit({e.code!r})"
    if isinstance(e, KeyboardInterrupt):
        return "the file's code raised KeyboardInterrupt"
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
