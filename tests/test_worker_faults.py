"""What user code can do to the worker, one test each; after each the worker still answers and
nothing the job started is left (issue 3, Must show)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

sys.path.insert(0, str(Path(__file__).parent / "data" / "worker"))

from flopsight.worker import WorkerPool
from worker_support import (
    DATA,
    assert_linear_report,
    job_children,
    job_processes,
    line_of,
    processes_with,
    request_for,
)

SERVER = Path(__file__).resolve().parents[1] / "server"


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    with WorkerPool(max_children=2, backoff_s=(0.2, 1.0)) as p:
        assert p.wait_ready()
        yield p


def test_os_exit_is_a_crash(pool: WorkerPool) -> None:
    net = pool.analyse_blocking(request_for("faults/os_exit.py")).model("Net")
    assert net.status == "error"
    assert net.error is not None and net.error.kind == "crash"
    assert "exit status 3" in net.error.message
    assert job_processes(pool) == []
    assert_linear_report(pool)


def test_segfault_is_a_crash(pool: WorkerPool) -> None:
    net = pool.analyse_blocking(request_for("faults/segfault.py")).model("Net")
    assert net.status == "error"
    assert net.error is not None and net.error.kind == "crash"
    assert "SIGSEGV" in net.error.message
    assert job_processes(pool) == []
    assert_linear_report(pool)


def test_sys_exit_is_an_error_of_the_model(pool: WorkerPool) -> None:
    net = pool.analyse_blocking(request_for("faults/sys_exit.py")).model("Net")
    assert net.status == "error"
    assert net.error is not None and "sys.exit" in net.error.message
    assert net.error.line == line_of("faults/sys_exit.py", "sys.exit()")
    assert job_processes(pool) == []
    assert_linear_report(pool)


def test_keyboard_interrupt_in_forward(pool: WorkerPool) -> None:
    net = pool.analyse_blocking(request_for("faults/keyboard_interrupt.py")).model("Net")
    assert net.status == "error"
    assert net.error is not None and "KeyboardInterrupt" in net.error.message
    assert job_processes(pool) == []
    assert_linear_report(pool)


def test_subprocess_that_sleeps_forever_is_killed(pool: WorkerPool) -> None:
    # __init__ starts `python -c "while True: time.sleep(1)" flopsight-test-sleeper`.
    net = pool.analyse_blocking(request_for("faults/sleeper.py")).model("Net")
    assert net.status == "ok", net.error
    assert net.total is not None and net.total.macs == 8 * 4
    assert job_processes(pool) == []
    assert processes_with("flopsight-test-sleeper") == []
    assert_linear_report(pool)


def test_subprocess_in_its_own_session_is_killed(pool: WorkerPool, tmp_path: Path) -> None:
    # setsid leaves the job's process group; the host, a child subreaper, still finds it.
    text = textwrap.dedent(
        """\
        import subprocess, sys
        from torch import nn

        subprocess.Popen([sys.executable, "-c", "import time\\nwhile True: time.sleep(1)",
                          "flopsight-test-escaper"], start_new_session=True)


        class Net(nn.Module):  # flopsight: input=(1, 8)
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 4)

            def forward(self, x):
                return self.fc(x)
        """
    )
    report = pool.analyse_blocking(request_for("escaper.py", text=text))
    assert report.model("Net").status == "ok"
    assert job_processes(pool) == []
    assert processes_with("flopsight-test-escaper") == []


def test_host_killed_while_idle_restarts(pool: WorkerPool) -> None:
    old = pool.host_pid()
    assert old is not None
    restarts = pool.stats()["restarts"]
    os.kill(old, signal.SIGKILL)
    # Meanwhile callers get an answer: "unavailable ... restarting" (or a report, once it is up).
    deadline = time.monotonic() + 60
    saw_unavailable = False
    while time.monotonic() < deadline:
        net = pool.analyse_blocking(request_for("linear.py", dims={"b": 7})).model("Net")
        if net.status == "ok":
            break
        assert net.error is not None and net.error.kind == "unavailable"
        assert "restarting" in net.error.message
        saw_unavailable = True
        time.sleep(0.1)
    assert saw_unavailable
    assert pool.wait_ready()
    assert pool.host_pid() != old
    assert pool.stats()["restarts"] == restarts + 1
    assert_linear_report(pool, out=5)


def test_host_killed_during_a_job_takes_the_job_with_it(pool: WorkerPool) -> None:
    assert pool.wait_ready()
    host = pool.host_pid()
    assert host is not None
    done: list[object] = []
    import threading

    def run() -> None:
        done.append(pool.analyse_blocking(request_for("faults/forward_loop.py"), timeout_s=60))

    thread = threading.Thread(target=run)
    thread.start()
    children = _wait_for_job_children(pool)
    os.kill(host, signal.SIGKILL)
    thread.join(30)
    report = done[0]
    net = report.model("Net")  # type: ignore[attr-defined]
    assert net.status == "error" and net.error.kind == "unavailable"
    _gone, alive = psutil.wait_procs(children, timeout=5)
    assert alive == []
    assert pool.wait_ready()
    assert_linear_report(pool, out=6)


def test_server_killed_takes_host_and_children_along(tmp_path: Path) -> None:
    # A server process with a pool running an endless job is SIGKILLed: no process survives.
    script = tmp_path / "server.py"
    script.write_text(
        textwrap.dedent(
            f"""\
            import sys, threading, time
            from flopsight.job import AnalysisRequest
            from flopsight.worker import WorkerPool

            pool = WorkerPool(warm=False)
            pool.wait_ready()
            text = open({str(DATA / "faults" / "forward_loop.py")!r}).read()
            request = AnalysisRequest(text=text, path="loop.py")
            threading.Thread(
                target=pool.analyse_blocking, args=(request,), kwargs={{"timeout_s": 600}},
                daemon=True,
            ).start()
            print(pool.host_pid(), flush=True)
            time.sleep(600)
            """
        )
    )
    env = dict(os.environ, PYTHONPATH=str(SERVER))
    server = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, env=env)
    try:
        assert server.stdout is not None
        host = psutil.Process(int(server.stdout.readline()))
        children = _wait_for_children(host.pid)
        server.kill()
        server.wait()
        _gone, alive = psutil.wait_procs([host, *children], timeout=10)
        assert alive == []
    finally:
        server.kill()


def _wait_for_job_children(pool: WorkerPool, timeout_s: float = 30.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        children = job_children(pool)
        if children:
            return children
        time.sleep(0.02)
    raise AssertionError("no job child appeared")


def _wait_for_children(pid: int, timeout_s: float = 30.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        children = psutil.Process(pid).children(recursive=True)
        if children:
            return children
        time.sleep(0.02)
    raise AssertionError(f"no job child of {pid} appeared")


def test_interpreter_without_torch_is_unavailable(tmp_path: Path) -> None:
    # This Python with -S (no site-packages): an interpreter that runs but has no torch.
    python = tmp_path / "bare-python"
    python.write_text(f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')
    python.chmod(0o755)
    with WorkerPool(python=str(python), backoff_s=(30.0, 30.0)) as pool:
        assert not pool.wait_ready(timeout=60)
        net = pool.analyse_blocking(request_for("linear.py")).model("Net")
    assert net.status == "error"
    assert net.error is not None and net.error.kind == "unavailable"
    assert "No module named 'torch'" in net.error.message
    assert net.error.setting == "python"


def test_missing_interpreter_is_unavailable(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-python"
    with WorkerPool(python=str(missing), backoff_s=(30.0, 30.0)) as pool:
        assert not pool.wait_ready(timeout=10)
        net = pool.analyse_blocking(request_for("linear.py")).model("Net")
    assert net.error is not None and net.error.kind == "unavailable"
    assert "cannot start it" in net.error.message and str(missing) in net.error.message
