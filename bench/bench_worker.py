"""Worker latency: job submitted -> report received, warm, against a cold interpreter.

    .venv/bin/python -m bench.bench_worker [--runs 30]

For examples/transformer_block.py and bench/files/resnet50.py (torchvision's resnet50):
p50/p95 of the warm path over ``--runs`` jobs (the cache cleared before each; spaced by
``--gap`` as the editor's debounce spaces them, and back to back), the same
analysis in this process once warm (the counting alone: the rest of the warm latency is the
worker's fork and messaging), the cold path (a fresh interpreter importing torch and
counting) and its ratio to the warm p50; cache-hit latency; the warm host's idle RSS.
Writes bench/results/worker.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
from flopsight.job import AnalysisRequest
from flopsight.worker import WorkerPool

ROOT = Path(__file__).resolve().parent.parent
FILES = {
    "transformer_block": ROOT / "examples" / "transformer_block.py",
    "resnet50": ROOT / "bench" / "files" / "resnet50.py",
}
RESULTS = ROOT / "bench" / "results" / "worker.json"

COLD = """\
import sys, time
t0 = time.perf_counter()
from flopsight.counting.runner import analyse_file
from flopsight.job import AnalysisRequest
path = sys.argv[1]
report = analyse_file(AnalysisRequest(text=open(path).read(), path=path, root=sys.argv[2]))
assert all(m.status == "ok" for m in report.models), report.models
print(time.perf_counter() - t0)
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def request_for(path: Path) -> AnalysisRequest:
    return AnalysisRequest(text=path.read_text(), path=str(path), root=str(ROOT))


def warm_latency(
    pool: WorkerPool, request: AnalysisRequest, runs: int, gap_s: float
) -> tuple[list[float], list[float]]:
    """Worker round trips (cache cleared before each), each followed by the same analysis in
    this process (already warm for this file: the counting alone), so both see the same load
    on a shared machine."""
    from flopsight.counting.runner import analyse_file

    analyse_file(request)
    worker, local = [], []
    for _ in range(runs):
        pool.clear_cache()
        time.sleep(gap_s)
        t0 = time.perf_counter()
        report = pool.analyse_blocking(request)
        worker.append((time.perf_counter() - t0) * 1000)
        assert all(m.status == "ok" for m in report.models), report.models
        t0 = time.perf_counter()
        analyse_file(request)
        local.append((time.perf_counter() - t0) * 1000)
    return worker, local


def cold_latency(path: Path, runs: int) -> list[float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "server"))
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", COLD, str(path), str(ROOT)],
            check=True,
            env=env,
            text=True,
            capture_output=True,
        )
        times.append((time.perf_counter() - t0) * 1000)
    return times


def summary(times: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(percentile(times, 0.95), 2),
        "min_ms": round(min(times), 2),
        "runs": len(times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument(
        "--gap",
        type=float,
        default=0.5,
        help="seconds between warm jobs, as the editor's debounce spaces them (a spare child "
        "is then ready); back-to-back jobs are measured too",
    )
    args = parser.parse_args()

    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "files": {},
    }
    with WorkerPool(max_children=1) as pool:
        t0 = time.perf_counter()
        assert pool.wait_ready()
        results["host_start_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        host_pid = pool.host_pid()
        assert host_pid is not None
        time.sleep(1.0)
        host = psutil.Process(host_pid)
        mem = host.memory_full_info()
        results["host_idle_rss_mb"] = round(mem.rss / 2**20, 1)
        results["host_idle_uss_mb"] = round(mem.uss / 2**20, 1)
        spare = pool.spare_pid()
        if spare is not None:
            # The child forked ahead of the next job: its own pages beyond the host's.
            results["spare_idle_uss_mb"] = round(
                psutil.Process(spare).memory_full_info().uss / 2**20, 1
            )
        results["host_info"] = {
            k: v for k, v in pool.stats()["hosts"][pool.python].items() if k != "running"
        }
        for name, path in FILES.items():
            request = request_for(path)
            pool.analyse_blocking(request)  # first job after start: not measured
            warm, counting = warm_latency(pool, request, args.runs, args.gap)
            back_to_back, _ = warm_latency(pool, request, args.runs, 0.0)
            hits = []
            for _ in range(1000):
                t1 = time.perf_counter()
                pool.analyse_blocking(request)
                hits.append((time.perf_counter() - t1) * 1e6)
            macs = sum(m.total.macs for m in pool.analyse_blocking(request).models if m.total)
            cold = cold_latency(path, args.cold_runs)
            entry = {
                "macs": macs,
                "warm": summary(warm),
                "warm_back_to_back": summary(back_to_back),
                "counting_in_process": summary(counting),
                # Per pair (same moment, same load): the fork, messages and JSON.
                "worker_overhead_p50_ms": round(
                    statistics.median(w - c for w, c in zip(warm, counting, strict=True)), 2
                ),
                "cold": summary(cold),
                "cold_over_warm_p50": round(statistics.median(cold) / statistics.median(warm), 1),
                "cache_hit_p50_us": round(statistics.median(hits), 1),
                "cache_hit_p95_us": round(percentile(hits, 0.95), 1),
            }
            results["files"][name] = entry
            print(name, json.dumps(entry), flush=True)
        results["stats"] = {k: v for k, v in pool.stats().items() if k != "hosts"}
    results["load_average"] = os.getloadavg()
    results["budget"] = {
        "resnet50_warm_p50_ms": 150,
        "met": results["files"]["resnet50"]["warm"]["p50_ms"] <= 150,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"host idle RSS {results['host_idle_rss_mb']} MB; wrote {RESULTS}")


if __name__ == "__main__":
    main()
