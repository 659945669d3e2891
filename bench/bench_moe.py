"""Mixture-of-Experts budget: DeepSeek-V3 (671 B) at 4096 tokens counted from its file.

    .venv/bin/python -m bench.bench_moe [--runs 3]

Runs ``flopsight report FILE --format json`` in a fresh interpreter per run (counting in that
process, so its peak RSS is the whole cost: torch, transformers, the model on meta), as a user
runs the CLI. Budget (issue 12): ≤ 10 s and ≤ 1 GB peak RSS for DeepSeek-V3. Mixtral-8x7B and
Qwen3-30B-A3B at 4096 tokens are measured alongside. Writes bench/results/moe.json.
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
FILES = {
    "deepseek_v3": ROOT / "bench" / "files" / "deepseek_v3.py",
    "moe_published": ROOT / "bench" / "files" / "moe_published.py",
}
RESULTS = ROOT / "bench" / "results" / "moe.json"
BUDGET = {"seconds": 10.0, "peak_rss_mb": 1024.0}


def run_once(path: Path) -> dict[str, Any]:
    """One CLI run: wall time, the process's peak RSS (wait4), the report."""
    env = {**os.environ, "FLOPSIGHT_IN_PROCESS": "1", "PYTHONPATH": str(ROOT / "server")}
    argv = [sys.executable, "-m", "flopsight", "report", str(path), "--format", "json"]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"flopsight report {path} failed (status {status})")
    report = json.loads(out)
    kib = usage.ru_maxrss  # Linux: KiB
    return {"seconds": wall, "peak_rss_mb": kib / 1024, "report": report}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "budget": {"model": "deepseek_v3", "tokens": 4096, **BUDGET},
        "files": {},
    }
    for name, path in FILES.items():
        runs = [run_once(path) for _ in range(args.runs)]
        models = {}
        for m in runs[-1]["report"]["models"]:
            t = m["total"] or {}
            models[m["name"]] = {
                "status": m["status"],
                "device": m["device"],
                "macs": t.get("macs"),
                "params": t.get("params"),
                "active_params": t.get("active_params"),
                "count_ms": m["elapsed_ms"],
            }
        results["files"][name] = {
            "file": str(path.relative_to(ROOT)),
            "seconds_median": statistics.median(r["seconds"] for r in runs),
            "seconds": [round(r["seconds"], 3) for r in runs],
            "peak_rss_mb_max": max(r["peak_rss_mb"] for r in runs),
            "models": models,
        }
        print(name, json.dumps(results["files"][name], indent=1))
    deepseek = results["files"]["deepseek_v3"]
    results["within_budget"] = (
        deepseek["seconds_median"] <= BUDGET["seconds"]
        and deepseek["peak_rss_mb_max"] <= BUDGET["peak_rss_mb"]
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}; within budget: {results['within_budget']}")


if __name__ == "__main__":
    main()
