"""The warm host: one per interpreter; imports torch once, then forks a fresh child per job.

Run as ``python -m flopsight.worker.host [--job module:function] [--no-warm]`` with the folder
that holds the ``flopsight`` package on ``PYTHONPATH``; it needs the standard library and torch
only. The pool talks to it through protocol.py's messages: requests on stdin, answers on the
process's original stdout, which the host keeps for itself (fd 1 then points at stderr, so
nothing the imports print can corrupt the channel, and no job child ever holds it).

Per job the host forks a child (child.py) in a process group of its own, with the address-space
limit, its stdout/stderr captured (head and tail kept) and its report written to a private pipe.
The host kills the child's whole tree on timeout or cancel and after it exits: its group, every
descendant (a subprocess the job left sleeping, a chain of ``setsid()`` forks, a daemon), and,
being a child subreaper, every orphan that came back to it, until none is left. With the
sandbox (``--sandbox auto``, sandbox.py) a job also runs in a PID namespace of its own, where
the kernel kills everything once the job ends; where a cgroup v2 hierarchy is writable each
job also gets a cgroup, emptied with ``cgroup.kill``. The host exits, killing whatever still runs,
when its stdin closes or its parent dies (``PR_SET_PDEATHSIG`` and a pidfd on the parent).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import importlib.util
import json
import os
import selectors
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from flopsight.worker.child import (
    PR_SET_CHILD_SUBREAPER,
    PR_SET_PDEATHSIG,
    JobFunction,
    prctl,
    run_child,
)
from flopsight.worker.protocol import (
    DEFAULT_JOB,
    OUTPUT_HEAD_BYTES,
    OUTPUT_TAIL_BYTES,
    JobOutcome,
    decode,
    encode,
)


@dataclass
class _Child:
    id: int
    pid: int
    result_fd: int
    output_fd: int
    started: float
    deadline: float
    result: bytearray = field(default_factory=bytearray)
    head: bytearray = field(default_factory=bytearray)
    tail: bytearray = field(default_factory=bytearray)
    output_bytes: int = 0
    exit_code: int | None = None
    timed_out: bool = False
    cancelled: bool = False

    def take_output(self, data: bytes) -> None:
        self.output_bytes += len(data)
        room = OUTPUT_HEAD_BYTES - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            del self.tail[:-OUTPUT_TAIL_BYTES]

    def output_text(self) -> str:
        dropped = self.output_bytes - len(self.head) - len(self.tail)
        text = self.head.decode(errors="replace")
        if dropped > 0:
            text += f"\n[... {dropped} bytes of output dropped ...]\n"
        return text + self.tail.decode(errors="replace")


# How long the host waits, idle, before it forks the next job's child ahead of time.
SPARE_AFTER_IDLE_S = 0.1


@dataclass
class _Spare:
    pid: int
    job_w: int
    result_r: int
    output_r: int
    ready_r: int
    ready: bool = False


class Host:
    """The fork-per-job loop (POSIX). One thread; a selector over the control pipe, SIGCHLD and
    every child's two pipes; deadlines enforced between selects."""

    def __init__(
        self,
        job: JobFunction,
        ctl_in: int,
        ctl_out: int,
        warm: Callable[[], None] | None = None,
        spares: bool = True,
        sandbox_mode: str = "off",
        parent_pid: int = 0,
    ) -> None:
        self.job = job
        self.sandbox_mode = sandbox_mode
        self.warm = warm
        self.spares = spares
        self.spare: _Spare | None = None
        self.idle_since = time.monotonic()
        self.ctl_in = ctl_in
        self.ctl_out = ctl_out
        self.pid = os.getpid()
        self.children: dict[int, _Child] = {}  # by job id
        self.by_pid: dict[int, _Child] = {}
        self.selector = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe()
        self.pending = bytearray()
        self.closing = False
        for fd in (self.wake_r, self.wake_w, ctl_in):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, _ignore_signal)
        signal.signal(signal.SIGTERM, _exit_on_signal)
        self.selector.register(ctl_in, selectors.EVENT_READ, "ctl")
        self.selector.register(self.wake_r, selectors.EVENT_READ, "wake")
        self.cgroups = JobCgroups.create()
        self.parent_fd = _watch(parent_pid)
        if self.parent_fd >= 0:  # readable once the server has exited, however it died
            self.selector.register(self.parent_fd, selectors.EVENT_READ, "parent")

    # -- the loop -------------------------------------------------------------------------

    def serve(self) -> None:
        try:
            while not self.closing:
                for key, _ in self.selector.select(self._next_timeout()):
                    if key.data == "ctl":
                        self._read_control()
                    elif key.data == "wake":
                        _drain(self.wake_r)
                    elif key.data == "spare":
                        self._spare_ready()
                    elif key.data == "parent":
                        self.closing = True
                    else:
                        kind, child = key.data
                        self._read_child(kind, child)
                self._reap()
                self._enforce_deadlines()
                for child in [c for c in self.children.values() if c.exit_code is not None]:
                    self._finish(child)
                if self._spare_due() <= 0:
                    self._make_spare()
                if self.cgroups is not None and self.cgroups.pending:
                    self.cgroups.remove()
        finally:
            self.shutdown()

    def _next_timeout(self) -> float | None:
        now = time.monotonic()
        due = [c.deadline - now for c in self.children.values() if c.exit_code is None]
        due.append(self._spare_due())
        if self.cgroups is not None and self.cgroups.pending:
            due.append(0.05)  # a job's cgroup folder to remove once the kernel freed it
        return max(0.0, min(due)) if min(due) < float("inf") else None

    def _spare_due(self) -> float:
        """Seconds until a spare should be forked (inf: not now). Only once the host has been
        idle a moment: the next queued job usually arrives right after a report."""
        if not self.spares or self.spare is not None or self.children or self.closing:
            return float("inf")
        return self.idle_since + SPARE_AFTER_IDLE_S - time.monotonic()

    def _read_control(self) -> None:
        while True:
            try:
                data = os.read(self.ctl_in, 1 << 16)
            except BlockingIOError:
                return
            if not data:  # the server closed our stdin, or died
                self.closing = True
                return
            self.pending += data
            while (end := self.pending.find(b"\n")) >= 0:
                line = bytes(self.pending[:end])
                del self.pending[: end + 1]
                if line.strip():
                    self._handle(decode(line))

    def _handle(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == "run":
            self._start(message)
        elif op == "cancel":
            child = self.children.get(int(message["id"]))
            if child is not None and child.exit_code is None:
                child.cancelled = True
                self._kill_job(child.pid)
        elif op == "exit":
            self.closing = True

    # -- one job ------------------------------------------------------------------------

    def _start(self, message: dict[str, Any]) -> None:
        job_id = int(message["id"])
        now = time.monotonic()
        if self.spare is not None and not self.spare.ready:
            self._spare_ready()  # its "ready" may be waiting in the pipe, not yet seen
        spare, self.spare = self.spare, None
        pid = -1
        if spare is not None and not spare.ready:
            self._discard_spare(spare)  # still warming: a fresh fork is sooner
        elif spare is not None:
            order = encode({"request": message["request"], "memory_mb": message["memory_mb"]})
            try:
                os.set_blocking(spare.job_w, True)
                _write_all(spare.job_w, order)
                os.close(spare.job_w)
                self._close_pipe(spare.ready_r)
                self.send({"op": "spare", "pid": None})
                pid, result_r, output_r = spare.pid, spare.result_r, spare.output_r
            except OSError:  # the spare died: fork as if there were none
                self._discard_spare(spare)
        if pid < 0:
            pid, result_r, output_r, _, _ = self._fork(message)
        os.set_blocking(result_r, False)
        os.set_blocking(output_r, False)
        child = _Child(
            id=job_id,
            pid=pid,
            result_fd=result_r,
            output_fd=output_r,
            started=now,
            deadline=now + float(message["timeout_s"]),
        )
        self.children[job_id] = child
        self.by_pid[pid] = child
        self.selector.register(result_r, selectors.EVENT_READ, ("result", child))
        self.selector.register(output_r, selectors.EVENT_READ, ("output", child))
        self.send({"op": "started", "id": job_id, "pid": pid})

    def _fork(self, message: dict[str, Any] | None) -> tuple[int, int, int, int, int]:
        """Fork a child for ``message``'s job, or a spare (None) that waits for one on its job
        pipe; returns (pid, result and output read ends, job write end, ready read end), the
        last two -1 for a child forked for its job."""
        result_r, result_w = os.pipe()
        output_r, output_w = os.pipe()
        job_r, job_w = os.pipe() if message is None else (-1, -1)
        ready_r, ready_w = os.pipe() if message is None else (-1, -1)
        inherited = [self.ctl_in, self.ctl_out, self.wake_r, self.wake_w, result_r, output_r]
        inherited.append(self.parent_fd)
        inherited += [job_w, ready_r]
        selector_fd = getattr(self.selector, "fileno", None)
        if selector_fd is not None:
            inherited.append(selector_fd())
        for other in self.children.values():
            inherited += [other.result_fd, other.output_fd]
        if self.spare is not None:
            spare = self.spare
            inherited += [spare.job_w, spare.result_r, spare.output_r, spare.ready_r]
        _flush_std()
        pid = os.fork()
        if pid == 0:
            run_child(
                self.job,
                message["request"] if message is not None else None,
                result_fd=result_w,
                output_fd=output_w,
                memory_mb=int(message["memory_mb"]) if message is not None else 0,
                host_pid=self.pid,
                close_fds=[fd for fd in inherited if fd >= 0],
                job_fd=job_r if message is None else None,
                ready_fd=ready_w if message is None else None,
                warm=self.warm,
                sandbox_mode=self.sandbox_mode,
                cgroup_root=self.cgroups.root if self.cgroups is not None else None,
            )
        with contextlib.suppress(OSError):  # the child got there first, or is already gone
            os.setpgid(pid, pid)
        os.close(result_w)
        os.close(output_w)
        for fd in (job_r, ready_w):
            if fd >= 0:
                os.close(fd)
        return pid, result_r, output_r, job_w, ready_r

    def _make_spare(self) -> None:
        """Fork the next job's child ahead of time, while nothing runs: the fork and the page
        copies a job causes in its first milliseconds leave the job's path."""
        pid, result_r, output_r, job_w, ready_r = self._fork(None)
        self.spare = _Spare(pid, job_w, result_r, output_r, ready_r)
        self.send({"op": "spare", "pid": pid})
        os.set_blocking(ready_r, False)
        self.selector.register(ready_r, selectors.EVENT_READ, "spare")

    def _spare_ready(self) -> None:
        spare = self.spare
        if spare is None:
            return
        try:
            spare.ready = os.read(spare.ready_r, 1) == b"r"
        except BlockingIOError:
            return  # still warming
        except OSError:
            spare.ready = False
        self._close_pipe(spare.ready_r)
        spare.ready_r = -1

    def _discard_spare(self, spare: _Spare) -> None:
        self._close_pipe(spare.ready_r)
        for fd in (spare.job_w, spare.result_r, spare.output_r):
            with contextlib.suppress(OSError):
                os.close(fd)
        _kill_group(spare.pid)
        if self.spare is spare:
            self.spare = None
        self.send({"op": "spare", "pid": None})

    def _read_child(self, kind: str, child: _Child, limit: int = 64) -> None:
        fd = child.result_fd if kind == "result" else child.output_fd
        for _ in range(limit):  # bounded: a leftover process may write without end
            try:
                data = os.read(fd, 1 << 16)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._close_pipe(fd)
                if kind == "result":
                    child.result_fd = -1
                else:
                    child.output_fd = -1
                return
            if kind == "result":
                child.result += data
            else:
                child.take_output(data)

    def _kill_job(self, pid: int) -> None:
        if self.cgroups is not None:
            self.cgroups.kill(pid)
        _kill_tree(pid)

    def _close_pipe(self, fd: int) -> None:
        if fd < 0:
            return
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(fd)
        os.close(fd)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self.by_pid.pop(pid, None)
            if child is not None:
                child.exit_code = os.waitstatus_to_exitcode(status)
            elif self.spare is not None and pid == self.spare.pid:
                self._discard_spare(self.spare)  # killed while it waited; the next one is forked

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for child in self.children.values():
            if child.exit_code is None and not child.timed_out and now >= child.deadline:
                child.timed_out = True
                self._kill_job(child.pid)

    def _finish(self, child: _Child) -> None:
        # Whatever the job started dies with it; then take what is left in its pipes.
        self._kill_job(child.pid)
        self._sweep_orphans()
        if child.result_fd >= 0:
            self._read_child("result", child)
        if child.output_fd >= 0:
            self._read_child("output", child)
        self._close_pipe(child.result_fd)
        self._close_pipe(child.output_fd)
        del self.children[child.id]
        self.idle_since = time.monotonic()
        result: dict[str, Any] | None = None
        if child.exit_code == 0 and child.result:
            try:
                parsed = json.loads(child.result)
                result = parsed if isinstance(parsed, dict) else None
            except ValueError:
                result = None
        outcome = JobOutcome(
            id=child.id,
            result=result,
            exit_code=child.exit_code,
            timed_out=child.timed_out,
            cancelled=child.cancelled,
            output=child.output_text(),
            output_bytes=child.output_bytes,
            elapsed_ms=(time.monotonic() - child.started) * 1000.0,
        )
        self.send(outcome.to_json())
        if self.cgroups is not None:
            self.cgroups.remove(child.pid)

    def _sweep_orphans(self, settle_s: float = 2.0) -> None:
        """Kill processes reparented to this host (it is a subreaper) that are not jobs, with
        all they started: what a job started in a session of its own. Each kill may orphan the
        next level, which comes back here too: repeat until no stray is left."""
        deadline = time.monotonic() + settle_s
        while True:
            self._reap()
            jobs = {pid for pid, c in self.by_pid.items() if c.exit_code is None}
            if self.spare is not None:
                jobs.add(self.spare.pid)
            strays = [pid for pid in _child_pids(self.pid) if pid not in jobs]
            if not strays or time.monotonic() > deadline:
                return
            for pid in strays:
                _kill_tree(pid)
            time.sleep(0.001)

    def send(self, message: dict[str, Any]) -> None:
        data = encode(message)
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.ctl_out, view)
            except BlockingIOError:
                time.sleep(0.001)
                continue
            except BrokenPipeError:
                self.closing = True
                return
            view = view[n:]

    def shutdown(self) -> None:
        if self.spare is not None:
            self._discard_spare(self.spare)
        for child in list(self.children.values()):
            self._kill_job(child.pid)
        deadline = time.monotonic() + 2.0
        while self.by_pid and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.005)
        self.by_pid.clear()
        self._sweep_orphans()
        if self.cgroups is not None:
            self.cgroups.close()


class JobCgroups:
    """``<the host's cgroup>/flopsight-host-<pid>/job-<child pid>`` in a writable cgroup v2
    hierarchy: each job child moves itself into its folder first thing (child.py), and
    ``cgroup.kill`` then kills every process of the job at once, wherever it was reparented."""

    PREFIX = "flopsight-host-"

    def __init__(self, root: str) -> None:
        self.root = root
        self.pending: list[str] = []  # job folders still busy: the host retries them

    @classmethod
    def create(cls) -> JobCgroups | None:
        parent = _own_cgroup_folder()
        if parent is None:
            return None
        _remove_stale_hosts(parent, cls.PREFIX)
        root = os.path.join(parent, f"{cls.PREFIX}{os.getpid()}")
        try:
            os.mkdir(root)
        except OSError:
            return None
        if not os.path.exists(os.path.join(root, "cgroup.kill")):  # before Linux 5.14
            _rmdir(root)
            return None
        return cls(root)

    def kill(self, pid: int) -> None:
        _cgroup_kill(os.path.join(self.root, f"job-{pid}"))

    def remove(self, pid: int | None = None) -> None:
        """Remove the job's folder (and those still busy before: the kernel frees a cgroup a
        moment after its last process) without waiting; what stays busy is retried later."""
        if pid is not None:
            self.pending.append(os.path.join(self.root, f"job-{pid}"))
        self.pending = [p for p in self.pending if not _rmdir(p) and os.path.isdir(p)]

    def close(self) -> None:
        _remove_tree(self.root)


def _own_cgroup_folder() -> str | None:
    """This process's folder in a writable cgroup v2 hierarchy; None where there is none."""
    try:
        with open("/proc/self/cgroup") as f:
            own = next(line[3:] for line in f.read().splitlines() if line.startswith("0::"))
        with open("/proc/self/mounts") as f:
            mount = next(p[1] for line in f if len(p := line.split()) > 2 and p[2] == "cgroup2")
    except (OSError, StopIteration):
        return None
    folder = os.path.join(mount, own.lstrip("/"))
    return folder if os.access(folder, os.W_OK) else None


def _remove_stale_hosts(parent: str, prefix: str) -> None:
    """Folders of hosts that died without cleaning up (SIGKILL): empty once their jobs died."""
    with contextlib.suppress(OSError):
        for name in os.listdir(parent):
            pid = name[len(prefix) :]
            if name.startswith(prefix) and pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                _remove_tree(os.path.join(parent, name))


def _remove_tree(folder: str) -> None:
    with contextlib.suppress(OSError):
        for name in os.listdir(folder):
            path = os.path.join(folder, name)
            if name.startswith("job-") and os.path.isdir(path):
                _cgroup_kill(path)
                deadline = time.monotonic() + 0.5
                while not _rmdir(path) and time.monotonic() < deadline:
                    time.sleep(0.005)
    _rmdir(folder)


def _cgroup_kill(folder: str) -> None:
    try:
        with open(os.path.join(folder, "cgroup.kill"), "w") as f:
            f.write("1")
    except OSError:
        pass


def _rmdir(path: str) -> bool:
    try:
        os.rmdir(path)
        return True
    except OSError:
        return False


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(OSError):
        os.killpg(pgid, signal.SIGKILL)


def _kill_tree(pid: int) -> None:
    """SIGKILL ``pid``'s group and every descendant, however it left the group or session
    (a descendant that escapes the walk by being orphaned comes back to the subreaper)."""
    _kill_group(pid)
    for other in [pid, *_descendants(pid)]:
        with contextlib.suppress(OSError):
            os.kill(other, signal.SIGKILL)


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = [pid]
    while todo and len(found) < 100_000:
        children = _child_pids(todo.pop())
        found += children
        todo += children
    return found


def _watch(pid: int) -> int:
    """A pidfd that becomes readable when ``pid`` exits (-1 where the kernel has none)."""
    if pid <= 0 or not hasattr(os, "pidfd_open"):
        return -1
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return -1
    os.set_inheritable(fd, False)
    return fd


def _child_pids(pid: int) -> list[int]:
    pids: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return pids
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                pids += [int(p) for p in f.read().split()]
        except (OSError, ValueError):
            pass
    return pids


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except OSError:
        pass


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()


def _ignore_signal(signum: int, frame: FrameType | None) -> None:
    pass  # SIGCHLD: the wakeup fd already woke the selector


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


# -- start-up ---------------------------------------------------------------------------


def load(job_spec: str, warm: bool) -> tuple[JobFunction, dict[str, Any]]:
    """Import torch (and torchvision, with the import fix), the job function, and warm up."""
    t0 = time.perf_counter()
    import torch

    info: dict[str, Any] = {"torch": str(torch.__version__), "notes": []}
    if warm and importlib.util.find_spec("torchvision") is not None:
        try:
            from flopsight.counting.tvfix import ensure_torchvision_importable

            if ensure_torchvision_importable():
                info["notes"].append("torchvision import fix applied")
            import torchvision
            import torchvision.models

            info["torchvision"] = str(torchvision.__version__)
        except Exception as e:  # a broken torchvision must not stop plain torch models
            info["notes"].append(f"torchvision not importable: {type(e).__name__}: {e}")
    module_name, _, function_name = job_spec.partition(":")
    job: JobFunction = getattr(importlib.import_module(module_name), function_name)
    info["import_ms"] = (time.perf_counter() - t0) * 1000.0
    if warm:
        t1 = time.perf_counter()
        _warm_up()
        info["warm_ms"] = (time.perf_counter() - t1) * 1000.0
    return job, info


def _warm_up(full: bool = True) -> None:
    from flopsight.counting.warm import warm_up

    warm_up(full)


def _spare_warm_up() -> None:
    _warm_up(full=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flopsight.worker.host")
    parser.add_argument("--job", default=DEFAULT_JOB, help="module:function run per job")
    parser.add_argument(
        "--spawn", action="store_true", help="a fresh interpreter per job (the no-fork path)"
    )
    parser.add_argument(
        "--sandbox",
        choices=("auto", "off"),
        default="off",
        help="auto: each job in the strongest sandbox the kernel allows (sandbox.py)",
    )
    parser.add_argument(
        "--no-warm",
        action="store_true",
        help="import only torch: no torchvision, no warm-up analysis (one-shot CLI runs)",
    )
    args = parser.parse_args(argv)

    # Keep the original stdout as the answer channel; anything printed goes to stderr.
    ctl_out = os.dup(1)
    os.dup2(2, 1)
    os.set_inheritable(ctl_out, False)
    parent = int(os.environ.get("FLOPSIGHT_PARENT_PID", "0") or 0)
    # SIGTERM, not SIGKILL: the host must live long enough to kill its jobs' trees.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if parent and os.getppid() != parent:
        return 0  # the server is already gone
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C in the CLI's terminal is the CLI's

    def send(message: dict[str, Any]) -> None:
        try:
            os.write(ctl_out, encode(message))
        except OSError as e:
            if e.errno != errno.EPIPE:
                raise

    spawn = args.spawn or not hasattr(os, "fork")
    try:
        # The spawning host imports what a job needs only to fail early and to time it.
        job, info = load(args.job, warm=not (args.no_warm or spawn))
    except BaseException as e:
        send({"op": "fatal", "message": f"{type(e).__name__}: {e}"})
        return 2
    if spawn:
        from flopsight.worker.spawnhost import SpawnHost

        spawner = SpawnHost(args.job, ctl_out, import_s=info["import_ms"] / 1000.0 + 5.0)
        spawner.send({"op": "ready", "pid": os.getpid(), "python": sys.executable, **info})
        spawner.serve()
        return 0
    prctl(PR_SET_CHILD_SUBREAPER, 1)  # what a job leaves behind comes back here to be killed
    import gc

    gc.collect()
    gc.freeze()  # children then leave the warm objects' pages shared (no refcount-free GC scan)
    warm = None if args.no_warm else _spare_warm_up
    host = Host(
        job,
        ctl_in=0,
        ctl_out=ctl_out,
        warm=warm,
        spares=warm is not None,
        sandbox_mode=args.sandbox,
        parent_pid=parent,
    )
    host.send({"op": "ready", "pid": os.getpid(), "python": sys.executable, **info})
    with contextlib.suppress(SystemExit):
        host.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
