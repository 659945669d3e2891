"""The report cache: keyed by what executes, the settings, the interpreter and torch's version;
a hit touches no process; failures are not cached (issue 3, Build)."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "data" / "worker"))

from flopsight.worker import WorkerPool
from worker_support import linear_request, request_for


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    with WorkerPool(max_children=2, backoff_s=(5.0, 5.0)) as p:
        assert p.wait_ready()
        yield p


def test_same_request_is_answered_from_the_cache(pool: WorkerPool) -> None:
    before = pool.stats()
    first = pool.analyse_blocking(linear_request(9))
    second = pool.analyse_blocking(linear_request(9))
    after = pool.stats()
    assert first.model("Net").total.macs == 8 * 9  # type: ignore[union-attr]
    assert second.model("Net").total.macs == 8 * 9  # type: ignore[union-attr]
    assert after["cache_hits"] - before["cache_hits"] == 1
    assert after["completed"] - before["completed"] == 1  # one job ran, not two


@pytest.mark.parametrize(
    "change",
    [{"convention": "ptflops"}, {"dims": {"batch": 3}}, {"root": "/elsewhere"}],
    ids=["convention", "dims", "root"],
)
def test_what_decides_the_report_is_in_the_key(pool: WorkerPool, change: dict[str, object]) -> None:
    base = linear_request(10)
    pool.analyse_blocking(base)
    hits = pool.stats()["cache_hits"]
    changed = request_for("linear.py", text=base.text, **change)
    report = pool.analyse_blocking(changed)
    assert report.model("Net").status == "ok"
    assert pool.stats()["cache_hits"] == hits


def test_a_different_text_misses(pool: WorkerPool) -> None:
    pool.analyse_blocking(linear_request(11))
    hits = pool.stats()["cache_hits"]
    report = pool.analyse_blocking(linear_request(12))
    assert report.model("Net").total.macs == 8 * 12  # type: ignore[union-attr]
    assert pool.stats()["cache_hits"] == hits


def test_failures_are_not_cached(pool: WorkerPool) -> None:
    request = request_for("faults/os_exit.py")
    pool.analyse_blocking(request)
    hits = pool.stats()["cache_hits"]
    report = pool.analyse_blocking(request)
    assert report.model("Net").error.kind == "crash"  # type: ignore[union-attr]
    assert pool.stats()["cache_hits"] == hits


def test_least_recently_used_report_is_evicted(pool: WorkerPool) -> None:
    pool.clear_cache()
    pool.cache_size = 2
    try:
        for out in (21, 22):
            pool.analyse_blocking(linear_request(out))
        pool.analyse_blocking(linear_request(21))  # hit: 21 is now the most recent
        pool.analyse_blocking(linear_request(23))  # evicts 22
        hits = pool.stats()["cache_hits"]
        pool.analyse_blocking(linear_request(21))
        assert pool.stats()["cache_hits"] == hits + 1
        pool.analyse_blocking(linear_request(22))
        assert pool.stats()["cache_hits"] == hits + 1
        assert pool.stats()["cached_reports"] == 2
    finally:
        pool.cache_size = 256


def test_a_hit_touches_no_process(pool: WorkerPool) -> None:
    # Run once, then kill the host: the cached report still comes back, while a new request
    # gets the "restarting" answer (the backoff here is 5 s).
    assert pool.wait_ready()
    cached = pool.analyse_blocking(linear_request(31))
    host = pool.host_pid()
    assert host is not None
    os.kill(host, signal.SIGKILL)
    _wait_for_state(pool, "backoff")
    again = pool.analyse_blocking(linear_request(31))
    assert again.model("Net").total.macs == 8 * 31  # type: ignore[union-attr]
    assert again is cached
    fresh = pool.analyse_blocking(linear_request(32))
    error = fresh.model("Net").error
    assert error is not None and error.kind == "unavailable" and "restarting" in error.message
    assert pool.wait_ready()
    assert pool.analyse_blocking(linear_request(32)).model("Net").status == "ok"


def _wait_for_state(pool: WorkerPool, state: str, timeout_s: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        hosts = pool.stats()["hosts"]
        if any(h["state"] == state for h in hosts.values()):
            return
        time.sleep(0.01)
    raise AssertionError(f"the host never reached {state!r}: {pool.stats()['hosts']}")
