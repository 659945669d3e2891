"""Cancellation and scheduling: a newer job for the same (document, model) replaces the older
one at once; at most N busy children; queued jobs start newest first (issue 3, Must show)."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

sys.path.insert(0, str(Path(__file__).parent / "data" / "worker"))

from flopsight.job import AnalysisRequest
from flopsight.report.model import FileReport
from flopsight.worker import JobCancelled, WorkerPool
from worker_support import job_children, job_processes, linear_request, request_for

MAX_CHILDREN = 2

# Sleeps in forward, then prints when it started (time.time(): one clock for all processes).
SLOW_TEMPLATE = textwrap.dedent(
    """\
    import time
    from torch import nn


    class Net(nn.Module):  # flopsight: input=(1, 8)
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, {out})

        def forward(self, x):
            print("started at", time.time())
            time.sleep({sleep})
            return self.fc(x)
    """
)


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    with WorkerPool(max_children=MAX_CHILDREN) as p:
        assert p.wait_ready()
        yield p


def slow_request(out: int, sleep: float, tag: str = "") -> AnalysisRequest:
    # `tag` keeps otherwise equal texts apart (no cache hit between tests).
    text = SLOW_TEMPLATE.format(out=out, sleep=sleep) + f"# {tag}\n"
    return request_for("slow.py", text=text)


def busy_request(out: int, seconds: float, tag: str = "") -> AnalysisRequest:
    # Spins instead of sleeping: a sleeping child frees its slot (it costs no CPU).
    text = SLOW_TEMPLATE.format(out=out, sleep=0).replace(
        "time.sleep(0)",
        f"end = time.time() + {seconds}\n        while time.time() < end:\n            pass",
    )
    return request_for("busy.py", text=text + f"# {tag}\n")


async def test_burst_of_200_jobs_delivers_only_the_last(pool: WorkerPool) -> None:
    cancelled_before = pool.stats()["cancelled"]
    tasks = [
        asyncio.create_task(pool.analyse(linear_request(out), document="file:///burst.py"))
        for out in range(1, 201)
    ]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, JobCancelled) for r in results[:-1])
    last = results[-1]
    assert isinstance(last, FileReport)
    net = last.model("Net")
    assert net.total is not None and net.total.macs == 8 * 200  # Linear(8, 200) at (1, 8)
    assert pool.stats()["cancelled"] - cancelled_before == 199
    assert job_processes(pool) == []


async def test_newer_job_kills_the_running_older_child(pool: WorkerPool) -> None:
    # Without the cancel this job would run for 600 s.
    older = asyncio.create_task(
        pool.analyse(slow_request(4, 600, "older"), document="d.py", model="Net", timeout_s=900)
    )
    child = await _first_child(pool)
    newer = await pool.analyse(linear_request(3), document="d.py", model="Net")
    with pytest.raises(JobCancelled):
        await older
    assert newer.model("Net").total.macs == 8 * 3  # type: ignore[union-attr]
    _, alive = psutil.wait_procs([child], timeout=5)
    assert alive == []
    assert job_processes(pool) == []


async def test_other_documents_and_models_are_not_cancelled(pool: WorkerPool) -> None:
    jobs = [
        pool.analyse(slow_request(5, 0.3, "a"), document="a.py", model="Net"),
        pool.analyse(slow_request(6, 0.3, "b"), document="b.py", model="Net"),
        pool.analyse(slow_request(7, 0.3, "c"), document="a.py", model="Other"),
    ]
    reports = await asyncio.gather(*jobs)
    assert [r.model("Net").total.macs for r in reports] == [8 * 5, 8 * 6, 8 * 7]  # type: ignore[union-attr]


async def test_cancel_jobs_kills_the_documents_derived_jobs_and_no_others(
    pool: WorkerPool,
) -> None:
    # The committed version's count (uri@commit) and the scaling counts (uri#scaling) belong to
    # the document: closing it or turning execution off must kill them too.
    derived = [
        asyncio.create_task(
            pool.analyse(slow_request(4, 600, tag), document=key, model="Net", timeout_s=900)
        )
        for tag, key in (("at", "file:///d.py@abc123"), ("scaling", "file:///d.py#scaling"))
    ]
    other = asyncio.create_task(
        pool.analyse(slow_request(6, 0.5, "other"), document="file:///d2.py", model="Net")
    )
    await _first_child(pool)
    pool.cancel_jobs("file:///d.py")
    for task in derived:
        with pytest.raises(JobCancelled):
            await task
    assert (await other).model("Net").total.macs == 8 * 6  # type: ignore[union-attr]


async def test_cancelling_the_caller_kills_the_child(pool: WorkerPool) -> None:
    task = asyncio.create_task(pool.analyse(slow_request(4, 600, "caller"), timeout_s=900))
    child = await _first_child(pool)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    _, alive = psutil.wait_procs([child], timeout=5)
    assert alive == []


async def test_a_caller_cancelled_while_the_host_starts_leaves_it_usable() -> None:
    # The editor cancels the first analysis of a document while the worker is still starting;
    # the next job for the same (document, model) must still get its report.
    with WorkerPool(max_children=1, warm=False) as fresh:
        first = asyncio.create_task(
            fresh.analyse(linear_request(3), document="file:///early.py", model="Net")
        )
        await asyncio.sleep(0)  # the launch has begun
        first.cancel()
        with pytest.raises((asyncio.CancelledError, JobCancelled)):
            await first
        report = await asyncio.wait_for(
            fresh.analyse(linear_request(5), document="file:///early.py", model="Net"), 60
        )
        # Linear(8, 5) at (1, 8): 8 * 5 MACs.
        assert report.model("Net").total.macs == 8 * 5  # type: ignore[union-attr]


async def test_at_most_n_children_and_newest_first(pool: WorkerPool) -> None:
    seen = 0

    async def watch() -> None:
        nonlocal seen
        while True:
            seen = max(seen, len(job_children(pool)))
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    # Two CPU-bound jobs fill both slots; then five more queue for five documents, oldest
    # first. (Jobs that sleep would not hold their slots: test_lsp_concurrent_documents.py.)
    busy = [
        asyncio.create_task(pool.analyse(busy_request(1, 1.0, f"busy{i}"), document=f"busy{i}"))
        for i in range(MAX_CHILDREN)
    ]
    await _children(pool, MAX_CHILDREN)
    queued = []
    for i in range(5):
        queued.append(
            asyncio.create_task(pool.analyse(busy_request(2, 0.2, f"q{i}"), document=f"q{i}"))
        )
        await asyncio.sleep(0.01)
    reports = await asyncio.gather(*busy, *queued)
    watcher.cancel()
    assert all(r.model("Net").status == "ok" for r in reports)
    assert 1 <= seen <= MAX_CHILDREN
    starts = [_started_at(r) for r in reports[MAX_CHILDREN:]]
    # The newest queued job started first, the oldest last.
    assert starts.index(max(starts)) == 0
    assert starts.index(min(starts)) in (3, 4)


def _started_at(report: FileReport) -> float:
    for line in report.output.splitlines():
        if line.startswith("started at"):
            return float(line.split()[-1])
    raise AssertionError(f"no start time in {report.output!r}")


async def _first_child(pool: WorkerPool) -> psutil.Process:
    return (await _children(pool, 1))[0]


async def _children(pool: WorkerPool, n: int, timeout_s: float = 30.0) -> list[psutil.Process]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        children = job_children(pool)
        if len(children) >= n:
            return children
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {n} job children appeared")
