"""The no-fork path (Windows; ``WorkerPool(spawn=True)`` anywhere): a fresh interpreter per
job, the same answers, limits and clean-up as the forking host."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "data" / "worker"))

from flopsight.worker import JobCancelled, WorkerPool
from worker_support import job_processes, linear_request, processes_with, request_for


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    with WorkerPool(max_children=1, spawn=True) as p:
        assert p.wait_ready()
        yield p


def test_a_job_counts_in_a_spawned_interpreter(pool: WorkerPool) -> None:
    net = pool.analyse_blocking(linear_request(7), timeout_s=60).model("Net")
    assert net.status == "ok", net.error
    assert net.total is not None and net.total.macs == 8 * 7  # Linear(8, 7) at (1, 8)
    assert net.total.params == 8 * 7 + 7


def test_endless_forward_hits_the_time_limit(pool: WorkerPool) -> None:
    net = pool.analyse_blocking(request_for("faults/forward_loop.py"), timeout_s=2).model("Net")
    assert net.error is not None and net.error.kind == "timeout"
    assert "time limit of 2 s" in net.error.message
    assert job_processes(pool) == []


def test_os_exit_and_the_sleeping_subprocess(pool: WorkerPool) -> None:
    net = pool.analyse_blocking(request_for("faults/os_exit.py"), timeout_s=60).model("Net")
    assert net.error is not None and net.error.kind == "crash"
    assert "exit status 3" in net.error.message
    net = pool.analyse_blocking(request_for("faults/sleeper.py"), timeout_s=60).model("Net")
    assert net.status == "ok", net.error
    assert job_processes(pool) == []
    assert processes_with("flopsight-test-sleeper") == []


def test_allocating_100_gib_hits_the_memory_limit(pool: WorkerPool) -> None:
    report = pool.analyse_blocking(request_for("faults/alloc_100g.py"), memory_mb=3072)
    error = report.model("Net").error
    assert error is not None and error.kind == "memory" and "3072 MB" in error.message


async def test_a_newer_job_replaces_the_older(pool: WorkerPool) -> None:
    import asyncio

    older = asyncio.create_task(
        pool.analyse(request_for("faults/forward_loop.py"), document="s.py", timeout_s=600)
    )
    await asyncio.sleep(0.5)
    newer = await pool.analyse(linear_request(3), document="s.py", timeout_s=60)
    with pytest.raises(JobCancelled):
        await older
    assert newer.model("Net").total.macs == 8 * 3  # type: ignore[union-attr]
    assert job_processes(pool) == []
