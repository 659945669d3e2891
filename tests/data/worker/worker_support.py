"""Helpers shared by tests/test_worker_*.py (imported with tests/data/worker on sys.path)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import psutil
from flopsight.job import AnalysisRequest
from flopsight.worker import WorkerPool

DATA = Path(__file__).resolve().parent
PROJECT = DATA / "proj"

# A model whose cost is easy to write out by hand: Linear(8, OUT) at input (1, 8) costs
# 8 * OUT MACs and has 8 * OUT + OUT parameters.
LINEAR_TEMPLATE = """\
from torch import nn


class Net(nn.Module):  # flopsight: input=(1, 8)
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, {out})

    def forward(self, x):
        return self.fc(x)
"""


def request_for(
    relative: str, text: str | None = None, root: Path | None = None, **fields: Any
) -> AnalysisRequest:
    path = DATA / relative
    if text is None:
        text = path.read_text()
    return AnalysisRequest(text=text, path=str(path), root=str(root or DATA), **fields)


def line_of(relative: str, needle: str) -> int:
    """The 1-based line of the fixture file that holds ``needle``."""
    lines = (DATA / relative).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def linear_request(out: int) -> AnalysisRequest:
    return request_for("linear.py", text=LINEAR_TEMPLATE.format(out=out))


def job_processes(pool: WorkerPool, settle_s: float = 5.0) -> list[psutil.Process]:
    """The host's descendants (job children and whatever they started) still alive, after
    giving killed ones up to ``settle_s`` to be reaped. The spare (a child forked ahead of
    the next job, waiting for it) is not a job's."""
    host_pid = pool.host_pid()
    assert host_pid is not None and psutil.pid_exists(host_pid)
    host = psutil.Process(host_pid)
    deadline = time.monotonic() + settle_s
    while True:
        spare = pool.spare_pid()
        # The spare and, in the sandbox, its init and job process under it.
        waiting = {spare} | _descendant_pids(spare)
        left = [p for p in host.children(recursive=True) if p.pid not in waiting]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.02)


def _descendant_pids(pid: int | None) -> set[int]:
    if pid is None:
        return set()
    try:
        return {p.pid for p in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def job_children(pool: WorkerPool) -> list[psutil.Process]:
    """The host's children running a job now (not the spare, not zombies)."""
    host_pid = pool.host_pid()
    assert host_pid is not None
    spare = pool.spare_pid()
    alive = []
    for child in psutil.Process(host_pid).children():
        try:
            if child.pid != spare and child.status() != psutil.STATUS_ZOMBIE:
                alive.append(child)
        except psutil.NoSuchProcess:
            pass
    return alive


def processes_with(marker: str, settle_s: float = 5.0) -> list[psutil.Process]:
    """Every process on the machine whose command line holds ``marker`` (the test's own
    process excluded), after giving killed ones up to ``settle_s`` to go."""
    deadline = time.monotonic() + settle_s
    while True:
        found = []
        for p in psutil.process_iter(["pid", "cmdline", "status"]):
            if p.info["pid"] == os.getpid() or p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if any(marker in part for part in p.info["cmdline"] or []):
                found.append(p)
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def assert_linear_report(pool: WorkerPool, out: int = 4) -> None:
    """The next job on the pool works: Linear(8, out) at (1, 8) is 8 * out MACs."""
    report = pool.analyse_blocking(linear_request(out), timeout_s=30)
    net = report.model("Net")
    assert net.status == "ok", net.error
    assert net.total is not None
    assert net.total.macs == 8 * out
    assert net.total.params == 8 * out + out
