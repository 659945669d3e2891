"""The worker's limits: wall clock, address space, captured output (issue 3, Must show)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "data" / "worker"))

from flopsight.worker import WorkerPool
from worker_support import assert_linear_report, job_processes, line_of, request_for

TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    with WorkerPool(max_children=2) as p:
        assert p.wait_ready()
        yield p


@pytest.mark.parametrize("fixture", ["faults/init_loop.py", "faults/forward_loop.py"])
def test_endless_loop_stops_at_the_time_limit(pool: WorkerPool, fixture: str) -> None:
    started = time.monotonic()
    report = pool.analyse_blocking(request_for(fixture), timeout_s=TIMEOUT_S)
    elapsed = time.monotonic() - started
    net = report.model("Net")
    assert net.status == "error"
    assert net.error is not None and net.error.kind == "timeout"
    assert "time limit of 2 s" in net.error.message
    assert net.error.setting == "limits.timeoutSeconds"
    # The bound: the error arrives within the limit plus one second.
    assert elapsed <= TIMEOUT_S + 1.0
    assert job_processes(pool) == []
    assert_linear_report(pool)


def test_allocating_100_gib_hits_the_memory_limit(pool: WorkerPool) -> None:
    report = pool.analyse_blocking(request_for("faults/alloc_100g.py"), memory_mb=3072)
    net = report.model("Net")
    assert net.status == "error"
    assert net.error is not None and net.error.kind == "memory"
    assert "memory under the limit of 3072 MB" in net.error.message
    assert net.error.setting == "limits.memoryMB"
    # The line of the file that allocated: `self.buffer = bytearray(100 * 2**30)`.
    assert net.error.line == line_of("faults/alloc_100g.py", "bytearray(100")
    assert job_processes(pool) == []
    assert_linear_report(pool)


def test_printing_10_mb_is_captured_and_truncated(pool: WorkerPool) -> None:
    # The forward prints 10 MB through print() and 10 MB straight to file descriptor 1.
    report = pool.analyse_blocking(request_for("faults/print_10mb.py"))
    net = report.model("Net")
    assert net.status == "ok", net.error
    assert net.total is not None and net.total.macs == 8 * 4
    assert "x" * 1000 in report.output  # print() output, captured by the runner
    assert "y" * 1000 in report.output  # fd 1, captured by the worker
    assert "dropped" in report.output
    assert len(report.output) < 256 * 1024
    assert job_processes(pool) == []
    assert_linear_report(pool)


def test_output_never_reaches_the_callers_stdout(
    pool: WorkerPool, capfd: pytest.CaptureFixture[str]
) -> None:
    report = pool.analyse_blocking(request_for("faults/print_10mb.py", dims={"batch": 2}))
    assert report.model("Net").status == "ok"
    out, err = capfd.readouterr()
    assert "yyyy" not in out and "xxxx" not in out
    assert "yyyy" not in err and "xxxx" not in err
