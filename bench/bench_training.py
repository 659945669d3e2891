"""Training mode's budgets: counting a training step against counting inference, the 70B Llama
in training mode, and the editor's warm refresh in training mode.

    PYTHONPATH=server .venv/bin/python -m bench.bench_training [--runs 10] [--worker-runs 15]

- resnet50 and vit_b_16 at (1, 3, 224, 224) built on meta, counted ``--runs`` times each way
  after one warm-up count: fastest and median ms, and training ÷ inference (budget ≤ 3×).
- examples/llama.py's Llama (70B) in training mode, in a fresh interpreter: the count's time
  (budget ≤ 10 s), the whole run's wall time with imports, and its peak RSS (budget ≤ 1 GB).
- bench/files/resnet50.py through a warm worker in training mode, the cache cleared before each
  job as after an edit: p50/p95 round trip (budget p50 ≤ 400 ms).
Writes bench/results/training.json.
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

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "training.json"

LLAMA = """\
import resource, sys, time
t0 = time.perf_counter()
from flopsight.counting.runner import analyse_file
from flopsight.job import AnalysisRequest
path = sys.argv[1]
request = AnalysisRequest(text=open(path).read(), path=path, models=["Llama"], mode="training")
report = analyse_file(request)
[model] = report.models
assert model.status == "ok" and model.total is not None and model.total.backward_macs, model
print(model.elapsed_ms / 1000, time.perf_counter() - t0,
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, model.total.macs)
"""


def _times(fn: Any, runs: int) -> dict[str, float]:
    fn()  # warm: lazily built meta kernels
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return {"fastest_ms": round(min(times), 1), "median_ms": round(statistics.median(times), 1)}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def convnets(runs: int) -> dict[str, Any]:
    from flopsight.counting.tvfix import ensure_torchvision_importable

    ensure_torchvision_importable()
    import torch
    import torchvision.models as tvm
    from flopsight.counting.build import build_model
    from flopsight.counting.counter import count_model

    out: dict[str, Any] = {}
    for name in ("resnet50", "vit_b_16"):
        model, _ = build_model(getattr(tvm, name))
        x = torch.empty(1, 3, 224, 224, device="meta")
        inference = _times(lambda m=model, x=x: count_model(m, (x,)), runs)
        training = _times(lambda m=model, x=x: count_model(m, (x,), mode="train"), runs)
        out[name] = {
            "inference": inference,
            "training": training,
            "ratio_fastest": round(training["fastest_ms"] / inference["fastest_ms"], 2),
            "ratio_median": round(training["median_ms"] / inference["median_ms"], 2),
        }
        print(name, out[name])
    return out


def llama(runs: int) -> dict[str, Any]:
    path = str(ROOT / "examples" / "llama.py")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "server")}
    rows = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", LLAMA, path], capture_output=True, text=True, env=env, check=True
        )
        count_s, wall_s, rss_mb, macs = done.stdout.split()
        rows.append((float(count_s), float(wall_s), float(rss_mb), int(macs)))
    result = {
        "count_s": round(min(r[0] for r in rows), 2),
        "count_s_runs": [round(r[0], 2) for r in rows],
        "wall_s_with_imports": round(min(r[1] for r in rows), 2),
        "peak_rss_mb": round(max(r[2] for r in rows), 1),
        "train_step_macs": rows[0][3],
    }
    print("llama 70B", result)
    return result


def worker(runs: int, gap_s: float) -> dict[str, Any]:
    from flopsight.job import AnalysisRequest
    from flopsight.worker import WorkerPool

    path = ROOT / "bench" / "files" / "resnet50.py"
    request = AnalysisRequest(
        text=path.read_text(), path=str(path), root=str(ROOT), mode="training"
    )
    times = []
    with WorkerPool(max_children=1) as pool:
        assert pool.wait_ready()
        pool.analyse_blocking(request)  # the host warms up on its first job
        for _ in range(runs):
            pool.clear_cache()
            time.sleep(gap_s)
            t0 = time.perf_counter()
            report = pool.analyse_blocking(request)
            times.append((time.perf_counter() - t0) * 1000.0)
            assert all(m.status == "ok" and m.mode == "training" for m in report.models)
    result = {
        "p50_ms": round(_percentile(times, 0.5), 1),
        "p95_ms": round(_percentile(times, 0.95), 1),
        "runs": runs,
    }
    print("worker resnet50 training", result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--llama-runs", type=int, default=2)
    parser.add_argument("--worker-runs", type=int, default=15)
    parser.add_argument("--gap", type=float, default=0.5)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    results: dict[str, Any] = {
        "count": convnets(args.runs),
        "llama_70b_training": llama(args.llama_runs),
        "worker_resnet50_training": worker(args.worker_runs, args.gap),
        "budgets": {
            "training_over_inference": 3.0,
            "llama_count_s": 10.0,
            "llama_peak_rss_mb": 1024.0,
            "worker_p50_ms": 400.0,
        },
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_at_start": round(load, 2),
        },
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
