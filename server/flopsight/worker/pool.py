"""WorkerPool: the server's (and the CLI's) only way to run user code.

    pool = WorkerPool(python=sys.executable, max_children=None)    # cores - 1, at least 1
    pool.start()            # optional: warm the host now (server start), not at the first job
    report = await pool.analyse(request, document=uri, model="Net", timeout_s=20, memory_mb=8192)
    report = pool.analyse_blocking(request, timeout_s=20, memory_mb=8192)      # the CLI
    pool.stats()            # {"jobs", "cache_hits", "cache_misses", "completed", "cancelled",
                            #  "timeouts", "memory", "crashes", "unavailable", "restarts",
                            #  "peak_children", "cached_reports", "hosts": {python: {...}}}
    pool.wait_ready(); pool.host_pid(); pool.spare_pid(); pool.clear_cache()
    pool.cancel_jobs(document=uri)  # execute turned off, the document closed: kill them now
    await pool.aclose()     # or pool.close(), or `with WorkerPool() as pool:`

Both ``analyse`` calls also take ``python=`` (an interpreter other than the pool's; a host
nobody uses any more is stopped when another interpreter's starts).

One warm host process per interpreter (host.py) forks a child per job; once idle it forks
the next job's child ahead of time (a "spare"). The pool runs on a private thread with its
own event loop, so the asyncio API works from any loop and the blocking API from plain code;
a cache hit is answered on the caller's thread and touches no process.

- A newer job for the same (document, model) cancels the older one at once: a queued one is
  dropped, a running one's child killed; its caller gets ``JobCancelled``. Cancelling the
  awaiting task kills the child too.
- At most ``max_children`` busy children run at once. A child that has used almost no CPU
  for a moment (it sleeps, waits, hangs on a lock) stops counting, so a hanging model does not
  hold up other documents; ``max_idle_children`` more may wait like that. Queued jobs start by
  ``priority`` (the server gives the document the user touched last the highest), then newest
  first; the highest-priority document's first job starts even when every busy slot is taken.
- ``cancel_jobs`` drops a document's queued jobs and kills its running ones at once (every
  document's with ``document=None``), except those of the models in ``keep_models``.
- ``sandbox="auto"`` runs each job in the strongest sandbox the kernel allows
  (sandbox.py); the report's ``sandbox`` says what it held. ``"off"``: none.
- Limit breaches, crashes, and a worker that is restarting come back as a FileReport whose
  models have status "error" and ``error.kind`` "timeout", "memory", "crash" or "unavailable"
  (outcome.py); only clean reports are cached, and a cached report is dropped once a local
  file the job read (a sibling module, say) changes on disk.
- A host that dies is restarted with exponential backoff; meanwhile callers get cached reports
  or an "unavailable ... restarting" report. The host dies with the server (stdin EOF and
  PR_SET_PDEATHSIG) and its children die with it.

Reports handed out are shared with the cache: treat them as read-only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import logging
import os
import signal
import sys
import threading
from collections import OrderedDict, deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from flopsight.job import AnalysisRequest
from flopsight.report.model import FileReport
from flopsight.worker.outcome import FailureKind, classify, failure_report, timeout_report
from flopsight.worker.protocol import DEFAULT_JOB, JobOutcome, decode, encode

log = logging.getLogger("flopsight.worker")

T = TypeVar("T")
DocumentKey = tuple[str, str | None]
HostState = Literal["starting", "ready", "backoff", "closed"]

# The folder holding the flopsight package: the host runs from it in any interpreter.
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
# A running job counts as idle (not against max_children) once it has run IDLE_AFTER_S, used
# under IDLE_CPU_SHARE of a core since the last sample and none of its processes is runnable
# (a spinning job on a crowded machine gets little CPU but stays runnable); samples every
# IDLE_SAMPLE_S while jobs wait.
IDLE_AFTER_S = 0.25
IDLE_CPU_SHARE = 0.2
IDLE_SAMPLE_S = 0.1
# A wedged host (not a slow job: the host enforces the limit itself) is killed this long after
# the job's own limit.
BACKSTOP_GRACE_S = 10.0
START_TIMEOUT_S = 180.0


class JobCancelled(Exception):
    """The job was replaced by a newer one for the same (document, model), or the pool closed."""


def default_max_children() -> int:
    return max(1, (os.cpu_count() or 2) - 1)


@dataclass
class _Job:
    id: int
    request: AnalysisRequest
    document: DocumentKey | None
    python: str
    timeout_s: float
    memory_mb: int
    cache_key: str | None
    future: asyncio.Future[FileReport]
    priority: float = 0.0
    state: Literal["queued", "running", "done"] = "queued"
    child_pid: int | None = None
    backstop: asyncio.TimerHandle | None = None
    started_at: float = 0.0
    # (monotonic time, CPU seconds of the child's process tree) at the last sample.
    cpu_sample: tuple[float, float] | None = None
    idle: bool = False


@dataclass
class _Host:
    python: str
    state: HostState = "starting"
    proc: asyncio.subprocess.Process | None = None
    pid: int | None = None
    spare_pid: int | None = None
    torch: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    running: dict[int, _Job] = field(default_factory=dict)
    failures: int = 0
    fatal: str | None = None
    stderr_tail: deque[str] = field(default_factory=lambda: deque(maxlen=40))
    restart: asyncio.TimerHandle | None = None
    start_timer: asyncio.TimerHandle | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class WorkerPool:
    def __init__(
        self,
        python: str = sys.executable,
        max_children: int | None = None,
        *,
        cache_size: int = 256,
        job: str = DEFAULT_JOB,
        warm: bool = True,
        extra_paths: tuple[str, ...] = (),
        backoff_s: tuple[float, float] = (0.5, 30.0),
        spawn: bool = False,
        sandbox: str = "auto",
        max_idle_children: int = 8,
    ) -> None:
        """``job`` is the "module:function" each child runs (tests inject their own);
        ``extra_paths`` go on the host's PYTHONPATH after flopsight's own folder; ``spawn``
        runs each job in a fresh interpreter (what happens anyway where there is no fork);
        ``sandbox`` "auto" or "off" (sandbox.py)."""
        self.python = python
        self.max_children = max_children or default_max_children()
        self.cache_size = cache_size
        self.job = job
        self.warm = warm
        self.extra_paths = extra_paths
        self.backoff_s = backoff_s
        self.spawn = spawn
        self.sandbox = sandbox
        self.max_idle_children = max_idle_children
        self._idle_timer: asyncio.TimerHandle | None = None
        # cache key -> (report, the local files it imported with their (mtime_ns, size))
        self._cache: OrderedDict[str, tuple[FileReport, dict[str, list[int]]]] = OrderedDict()
        self._lock = threading.Lock()
        self._torch: dict[str, str] = {}  # interpreter -> torch version (for the cache key)
        self._stats: dict[str, int] = dict.fromkeys(
            (
                "jobs",
                "cache_hits",
                "cache_misses",
                "completed",
                "cancelled",
                "timeouts",
                "memory",
                "crashes",
                "unavailable",
                "restarts",
                "peak_children",
            ),
            0,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        # Owned by the pool's loop thread:
        self._hosts: dict[str, _Host] = {}
        self._queue: list[_Job] = []
        self._latest: dict[DocumentKey, _Job] = {}
        self._ids = itertools.count(1)

    # -- public API -------------------------------------------------------------------------

    def start(self, python: str | None = None) -> None:
        """Start the host for ``python`` now (at server start), so the first job finds it warm."""
        self._submit(self._start_host(python or self.python))

    async def analyse(
        self,
        request: AnalysisRequest,
        *,
        document: str | None = None,
        model: str | None = None,
        timeout_s: float = 20.0,
        memory_mb: int = 8192,
        python: str | None = None,
        priority: float = 0.0,
    ) -> FileReport:
        """The report for ``request``; raises JobCancelled when a newer job for the same
        (document, model) replaced this one. ``document`` None: never replaced."""
        python = python or self.python
        key = (document, model) if document is not None else None
        hit = self._cached(request, python, key)
        if hit is not None:
            return hit
        work = self._submit(self._run(request, key, python, timeout_s, memory_mb, priority))
        return await asyncio.wrap_future(work)

    def analyse_blocking(
        self,
        request: AnalysisRequest,
        *,
        timeout_s: float = 20.0,
        memory_mb: int = 8192,
        python: str | None = None,
        document: str | None = None,
        model: str | None = None,
    ) -> FileReport:
        """``analyse`` for plain code (the CLI): blocks until the report is there."""
        if self._thread is not None and threading.current_thread() is self._thread:
            raise RuntimeError("analyse_blocking called from the worker pool's own thread")
        python = python or self.python
        key = (document, model) if document is not None else None
        hit = self._cached(request, python, key)
        if hit is not None:
            return hit
        return self._submit(self._run(request, key, python, timeout_s, memory_mb)).result()

    def stats(self) -> dict[str, Any]:
        """Counters for the log and the benchmarks, plus each host's pid and state."""
        with self._lock:
            out: dict[str, Any] = dict(self._stats)
            out["cached_reports"] = len(self._cache)
        out["hosts"] = {
            python: {
                "pid": h.pid,
                "state": h.state,
                "torch": h.torch,
                "running": len(h.running),
                "spare_pid": h.spare_pid,
            }
            for python, h in list(self._hosts.items())
        }
        return out

    def host_pid(self, python: str | None = None) -> int | None:
        host = self._hosts.get(python or self.python)
        return host.pid if host is not None else None

    def spare_pid(self, python: str | None = None) -> int | None:
        """The child forked ahead of the next job, waiting (None: none now)."""
        host = self._hosts.get(python or self.python)
        return host.spare_pid if host is not None else None

    def wait_ready(self, python: str | None = None, timeout: float = START_TIMEOUT_S) -> bool:
        """Block until the host for ``python`` is warm, through restarts (benchmarks, tests);
        False when it cannot start or ``timeout`` passed."""
        return self._submit(self._wait_ready(python or self.python, timeout)).result()

    def cancel_jobs(self, document: str | None = None, keep_models: tuple[str, ...] = ()) -> None:
        """Drop the queued jobs of ``document`` (every document's: None) and kill its running
        children, now; their callers get JobCancelled. Jobs of ``keep_models`` stay."""
        if self._loop is not None and not self._closed:
            self._loop.call_soon_threadsafe(self._cancel_jobs, document, keep_models)

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def close(self) -> None:
        """Cancel every job, stop every host and its children, stop the pool's thread."""
        if self._closed:
            return
        self._closed = True
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=15)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the caller's side ------------------------------------------------------------------

    def _cached(
        self, request: AnalysisRequest, python: str, key: DocumentKey | None
    ) -> FileReport | None:
        with self._lock:
            self._stats["jobs"] += 1
            torch_version = self._torch.get(python)
            # Measurements are timings of this moment: never answered from the cache.
            if torch_version is None or request.measure is not None:
                self._stats["cache_misses"] += 1
                return None
            cache_key = request.cache_key(python, torch_version)
            entry = self._cache.get(cache_key)
            if entry is not None and not _unchanged(entry[1]):
                del self._cache[cache_key]  # a module it imported changed on disk
                entry = None
            if entry is None:
                self._stats["cache_misses"] += 1
                return None
            report = entry[0]
            self._cache.move_to_end(cache_key)
            self._stats["cache_hits"] += 1
        if key is not None and self._loop is not None:
            # The hit still replaces an older job for the same document and model.
            self._loop.call_soon_threadsafe(self._supersede, key, None)
        return report

    def _submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        if self._closed:
            coro.close()
            raise JobCancelled("the worker pool is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._ensure_loop())

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                started = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(started.set)
                    loop.run_forever()
                    loop.close()

                thread = threading.Thread(target=run, name="flopsight-worker-pool", daemon=True)
                thread.start()
                started.wait()
                self._loop, self._thread = loop, thread
            return self._loop

    # -- the pool's loop: jobs ----------------------------------------------------------------

    async def _run(
        self,
        request: AnalysisRequest,
        key: DocumentKey | None,
        python: str,
        timeout_s: float,
        memory_mb: int,
        priority: float = 0.0,
    ) -> FileReport:
        loop = asyncio.get_running_loop()
        with self._lock:
            torch_version = self._torch.get(python)
        job = _Job(
            id=next(self._ids),
            request=request,
            document=key,
            python=python,
            timeout_s=timeout_s,
            memory_mb=memory_mb,
            cache_key=request.cache_key(python, torch_version) if torch_version else None,
            future=loop.create_future(),
            priority=priority,
        )
        if key is not None:
            self._supersede(key, job)
        try:
            host = await self._start_host(python)
            if host.state == "backoff":
                self._resolve(job, self._unavailable(host, request), "unavailable")
            else:
                self._queue.append(job)
                self._pump()
            return await asyncio.shield(job.future)
        except asyncio.CancelledError:
            self._cancel(job)  # the caller went away: kill the child too
            raise
        finally:
            if key is not None and self._latest.get(key) is job:
                del self._latest[key]

    def _supersede(self, key: DocumentKey, newer: _Job | None) -> None:
        older = self._latest.pop(key, None)
        if older is not None and older is not newer:
            self._cancel(older)
        if newer is not None:
            self._latest[key] = newer

    def _cancel_jobs(self, document: str | None, keep_models: tuple[str, ...]) -> None:
        running = [j for h in self._hosts.values() for j in h.running.values()]
        for job in [*self._queue, *running]:
            if job.document is None and document is not None:
                continue
            if job.document is not None and job.document[1] in keep_models:
                continue
            if document is None or (job.document is not None and _of(job.document[0], document)):
                self._cancel(job)

    def _cancel(self, job: _Job) -> None:
        if job.state == "queued":
            if job in self._queue:
                self._queue.remove(job)
            job.state = "done"
        elif job.state == "running":
            host = self._hosts.get(job.python)
            if host is not None and job.id in host.running:
                self._write(host, {"op": "cancel", "id": job.id})
        if not job.future.done():
            job.future.set_exception(JobCancelled(f"job {job.id} replaced by a newer job"))
            job.future.exception()  # retrieved: no "never retrieved" warning if nobody awaits
            with self._lock:
                self._stats["cancelled"] += 1

    def _pump(self) -> None:
        """Start queued jobs, by priority then newest first, while a busy slot is free (idle
        children do not hold one), or for the most urgent document's first job."""
        while self._queue:
            ready = [j for j in self._queue if self._hosts[j.python].state == "ready"]
            if not ready:
                return
            active = [j for h in self._hosts.values() for j in h.running.values()]
            job = max(ready, key=lambda j: (j.priority, j.id))
            if not self._may_start(job, active):
                self._watch_idle()
                return
            running = len(active)
            self._queue.remove(job)
            host = self._hosts[job.python]
            job.state = "running"
            job.started_at = asyncio.get_running_loop().time()
            host.running[job.id] = job
            with self._lock:
                self._stats["peak_children"] = max(self._stats["peak_children"], running + 1)
                if job.cache_key is None and host.torch is not None:
                    job.cache_key = job.request.cache_key(job.python, host.torch)
            message = {
                "op": "run",
                "id": job.id,
                "request": job.request.to_json(),
                "timeout_s": job.timeout_s,
                "memory_mb": job.memory_mb,
            }
            self._write(host, message)
            loop = asyncio.get_running_loop()
            job.backstop = loop.call_later(
                job.timeout_s + BACKSTOP_GRACE_S, self._backstop, host, job
            )

    def _may_start(self, job: _Job, active: list[_Job]) -> bool:
        if len(active) >= self.max_children + self.max_idle_children:
            return False
        if sum(1 for j in active if not j.idle) < self.max_children:
            return True
        # The document the user is on waits for no other document's job.
        document = job.document[0] if job.document is not None else None
        return (
            job.priority > 0
            and document is not None
            and all(job.priority >= j.priority for j in active)
            and all(j.document is None or j.document[0] != document for j in active)
        )

    def _watch_idle(self) -> None:
        """While jobs wait, sample the running children's CPU use: one that sleeps or hangs
        frees its busy slot."""
        if self._idle_timer is not None or not self._queue:
            return
        loop = asyncio.get_running_loop()
        self._idle_timer = loop.call_later(IDLE_SAMPLE_S, self._sample_idle)

    def _sample_idle(self) -> None:
        self._idle_timer = None
        now = asyncio.get_running_loop().time()
        for host in self._hosts.values():
            for job in host.running.values():
                if job.child_pid is None:
                    continue
                cpu, runnable = _tree_cpu(job.child_pid)
                if job.cpu_sample is not None and now - job.started_at >= IDLE_AFTER_S:
                    then, before = job.cpu_sample
                    share = (cpu - before) / max(now - then, 1e-3)
                    job.idle = share < IDLE_CPU_SHARE and not runnable
                job.cpu_sample = (now, cpu)
        self._pump()
        self._watch_idle()

    def _on_done(self, host: _Host, outcome: JobOutcome) -> None:
        job = host.running.pop(outcome.id, None)
        if job is None:
            return
        if job.backstop is not None:
            job.backstop.cancel()
        job.state = "done"
        if not job.future.done() and not outcome.cancelled:
            report, failure = classify(
                outcome, job.request, timeout_s=job.timeout_s, memory_mb=job.memory_mb
            )
            self._count(failure)
            if failure is None and job.cache_key is not None and job.request.measure is None:
                deps = (outcome.result or {}).get("deps") or {}
                with self._lock:
                    self._cache[job.cache_key] = (report, deps)
                    self._cache.move_to_end(job.cache_key)
                    while len(self._cache) > self.cache_size:
                        self._cache.popitem(last=False)
            if outcome.exit_code == 0:
                host.failures = 0
            job.future.set_result(report)
        self._pump()

    def _resolve(self, job: _Job, report: FileReport, failure: FailureKind) -> None:
        job.state = "done"
        if job.backstop is not None:
            job.backstop.cancel()
        if not job.future.done():
            self._count(failure)
            job.future.set_result(report)

    def _count(self, failure: FailureKind | None) -> None:
        stat = {"timeout": "timeouts", "memory": "memory", "crash": "crashes"}
        with self._lock:
            self._stats["completed"] += 1
            if failure is not None:
                self._stats[stat.get(failure, failure)] += 1

    def _backstop(self, host: _Host, job: _Job) -> None:
        # The host did not answer long after the job's limit: it is wedged. Restart it.
        log.warning("flopsight worker %s did not stop job %d: restarting it", host.python, job.id)
        self._resolve(job, timeout_report(job.request, job.timeout_s), "timeout")
        host.running.pop(job.id, None)
        if host.proc is not None and host.proc.returncode is None:
            host.proc.kill()

    def _unavailable(self, host: _Host, request: AnalysisRequest) -> FileReport:
        if host.fatal:
            message = f"the worker cannot run models with {host.python}: {host.fatal}"
            return failure_report(
                request, "unavailable", message, setting="python", detail=host.fatal
            )
        message = f"the worker for {host.python} stopped and is restarting; try again shortly"
        return failure_report(request, "unavailable", message)

    # -- the pool's loop: hosts ---------------------------------------------------------------

    async def _start_host(self, python: str) -> _Host:
        host = self._hosts.get(python)
        if host is None:
            self._retire_idle_hosts(keep=python)
            host = _Host(python=python)
            self._hosts[python] = host
            # The launch goes on when the caller that began it is cancelled: later jobs use
            # this host, and one left half-started would never become ready.
            await asyncio.shield(asyncio.ensure_future(self._launch(host)))
        return host

    def _retire_idle_hosts(self, keep: str) -> None:
        # flopsight.python changed: a host nobody uses any more is stopped.
        for python, host in list(self._hosts.items()):
            busy = host.running or any(j.python == python for j in self._queue)
            if python != keep and not busy:
                del self._hosts[python]
                self._stop_host(host)

    async def _launch(self, host: _Host) -> None:
        host.state = "starting"
        host.fatal = None
        env = dict(os.environ)
        paths = [PACKAGE_ROOT, *self.extra_paths]
        if env.get("PYTHONPATH"):
            paths.append(env["PYTHONPATH"])
        env["PYTHONPATH"] = os.pathsep.join(paths)
        env["FLOPSIGHT_PARENT_PID"] = str(os.getpid())
        args = ["-m", "flopsight.worker.host", "--job", self.job, "--sandbox", self.sandbox]
        if not self.warm:
            args.append("--no-warm")
        if self.spawn:
            args.append("--spawn")
        try:
            proc = await asyncio.create_subprocess_exec(
                host.python,
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                limit=1 << 28,
            )
        except OSError as e:
            host.fatal = f"cannot start it ({type(e).__name__}: {e})"
            self._host_gone(host, None)
            return
        host.proc = proc
        host.pid = proc.pid
        host.spare_pid = None
        loop = asyncio.get_running_loop()
        host.start_timer = loop.call_later(START_TIMEOUT_S, self._start_timeout, host, proc)
        host.tasks = {
            loop.create_task(self._read_messages(host, proc)),
            loop.create_task(self._read_stderr(host, proc)),
        }

    def _start_timeout(self, host: _Host, proc: asyncio.subprocess.Process) -> None:
        if host.proc is proc and host.state == "starting" and proc.returncode is None:
            host.fatal = f"it did not start within {START_TIMEOUT_S:g} s"
            proc.kill()

    async def _read_messages(self, host: _Host, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while True:
            try:
                line = await proc.stdout.readline()
            except (ValueError, asyncio.LimitOverrunError) as e:
                log.error("flopsight worker: unreadable message: %s", e)
                proc.kill()
                break
            if not line:
                break
            try:
                message = decode(line)
            except ValueError as e:
                log.error("flopsight worker: bad message %r: %s", line[:200], e)
                continue
            self._on_message(host, message)
        await proc.wait()
        if host.proc is proc:
            self._host_gone(host, proc.returncode)

    async def _read_stderr(self, host: _Host, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        async for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            if line:
                host.stderr_tail.append(line)
                log.debug("worker %s: %s", proc.pid, line)

    def _on_message(self, host: _Host, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == "done":
            self._on_done(host, JobOutcome.from_json(message))
        elif op == "started":
            job = host.running.get(int(message["id"]))
            if job is not None:
                job.child_pid = int(message["pid"])
        elif op == "ready":
            if host.start_timer is not None:
                host.start_timer.cancel()
            host.state = "ready"
            host.torch = str(message.get("torch"))
            host.info = message
            with self._lock:
                self._torch[host.python] = host.torch
            for job in self._queue:
                if job.python == host.python and job.cache_key is None:
                    job.cache_key = job.request.cache_key(job.python, host.torch)
            log.info(
                "flopsight worker ready: %s (pid %s, torch %s)", host.python, host.pid, host.torch
            )
            self._pump()
        elif op == "spare":
            host.spare_pid = message.get("pid")
        elif op == "fatal":
            host.fatal = str(message.get("message"))

    def _host_gone(self, host: _Host, returncode: int | None) -> None:
        """The host exited: answer its jobs, then restart it after a backoff."""
        if host.start_timer is not None:
            host.start_timer.cancel()
        was = host.state
        host.proc = None
        if was == "closed" or self._hosts.get(host.python) is not host:
            return
        host.state = "backoff"
        if was == "starting" and not host.fatal:
            # It never said it was ready: the interpreter cannot be a worker (`/bin/false`).
            said = f"; it said: {host.stderr_tail[-1]}" if host.stderr_tail else ""
            host.fatal = f"it exited with status {returncode} before it was ready{said}"
        reason = host.fatal or f"exit status {returncode}"
        log.warning("flopsight worker for %s stopped (%s)", host.python, reason)
        for job in list(host.running.values()):
            if job.child_pid is not None:
                _kill_group(job.child_pid)  # the host is gone; its job's group must not outlive it
            self._resolve(job, self._unavailable(host, job.request), "unavailable")
        host.running.clear()
        for job in [j for j in self._queue if j.python == host.python]:
            self._queue.remove(job)
            self._resolve(job, self._unavailable(host, job.request), "unavailable")
        low, high = self.backoff_s
        delay = min(high, low * (2**host.failures))
        host.failures += 1
        loop = asyncio.get_running_loop()
        host.restart = loop.call_later(delay, self._restart, host)
        self._pump()

    def _restart(self, host: _Host) -> None:
        if host.state != "backoff" or self._hosts.get(host.python) is not host:
            return
        with self._lock:
            self._stats["restarts"] += 1
        asyncio.get_running_loop().create_task(self._launch(host))

    async def _wait_ready(self, python: str, timeout: float) -> bool:
        """Until the host is ready, through restarts; False once it failed to start."""
        host = await self._start_host(python)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while host.state != "ready" and loop.time() < deadline:
            if host.state in ("backoff", "closed") and host.fatal:
                return False
            await asyncio.sleep(0.02)
        return host.state == "ready"

    def _write(self, host: _Host, message: dict[str, Any]) -> None:
        proc = host.proc
        if proc is None or proc.stdin is None or proc.stdin.is_closing():
            return
        proc.stdin.write(encode(message))

    def _stop_host(self, host: _Host) -> None:
        host.state = "closed"
        if host.restart is not None:
            host.restart.cancel()
        if host.start_timer is not None:
            host.start_timer.cancel()
        proc = host.proc
        for job in host.running.values():
            if job.child_pid is not None:
                _kill_group(job.child_pid)
        if proc is not None and proc.returncode is None and proc.stdin is not None:
            proc.stdin.close()  # the host kills its children and exits on EOF

    async def _shutdown(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        running = [j for h in self._hosts.values() for j in h.running.values()]
        for job in [*self._queue, *running]:
            self._cancel(job)
        self._queue.clear()
        procs = []
        for host in self._hosts.values():
            if host.proc is not None:
                procs.append(host.proc)
            self._stop_host(host)
            host.running.clear()
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), timeout=5)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
        self._hosts.clear()


def _unchanged(deps: dict[str, list[int]]) -> bool:
    for path, (mtime_ns, size) in deps.items():
        try:
            st = os.stat(path)
        except OSError:
            return False
        if st.st_mtime_ns != mtime_ns or st.st_size != size:
            return False
    return True


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _tree_cpu(pid: int) -> tuple[float, bool]:
    """User + system CPU seconds of ``pid`` and its descendants, and whether one of them is
    runnable or in uninterruptible sleep now (Linux /proc; 0 and False elsewhere)."""
    total, todo, seen, runnable = 0.0, [pid], 0, False
    while todo and seen < 256:
        current = todo.pop()
        seen += 1
        try:
            with open(f"/proc/{current}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
            runnable = runnable or fields[0] in ("R", "D")
            for tid in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{tid}/children") as f:
                    todo += [int(p) for p in f.read().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total, runnable


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        os.killpg(pgid, signal.SIGKILL)


def _of(key: str, document: str) -> bool:
    """Whether a job key is the document's: its own, or one derived from it (the committed
    version's count, ``uri@commit``; the scaling counts, ``uri#scaling``)."""
    return key == document or key.startswith((document + "@", document + "#"))
