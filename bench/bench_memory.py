"""Peak-memory budgets (issue 15).

    .venv/bin/python -m bench.bench_memory [--runs 3]

- overhead: a training step on meta (forward, loss, backward, AdamW step) with flopsight's
  memory tracking against the same step untracked, warm, median of ``--runs``; budget ≤ 1.5×.
  (The forward-only count is timed alongside.)
- agreement: the tests' comparison with torch's MemTracker (FakeTensorMode), as a table.
- ``flopsight fit bench/files/resnet50.py --gpu h100`` in one process, the second call timed
  (warm: torch and torchvision imported); budget ≤ 3 s.
- ``flopsight fit examples/llama.py --gpu h100 --precision bf16-mixed`` (70B) in a fresh
  interpreter: wall time and peak RSS (wait4); budget ≤ 30 s and ≤ 1 GB.

Writes bench/results/memory.json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "memory.json"
BUDGET = {"overhead": 1.5, "fit_resnet50_s": 3.0, "fit_llama70b_s": 30.0, "llama_rss_mb": 1024}


def _median_s(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def overhead(runs: int) -> dict[str, Any]:
    import torch
    import torchvision.models as tvm

    sys.path.insert(0, str(ROOT / "tests"))
    from test_memory_engine import GPT  # the nanoGPT-style model of the tests

    cases: dict[str, tuple[Callable[[], torch.nn.Module], Callable[[], torch.Tensor]]] = {
        "resnet50": (tvm.resnet50, lambda: torch.empty(8, 3, 224, 224, device="meta")),
        "vit_b_16": (tvm.vit_b_16, lambda: torch.empty(8, 3, 224, 224, device="meta")),
        "gpt-small": (
            lambda: GPT(vocab=50304, d=768, layers=12, ctx=1024),
            lambda: torch.zeros(4, 1024, dtype=torch.long, device="meta"),
        ),
    }
    out: dict[str, Any] = {}
    for name, (build, inputs) in cases.items():
        with torch.device("meta"):
            model = build()
        out[name] = _overhead_of(model, inputs(), runs)
        print(name, out[name], flush=True)
    return out


def _overhead_of(model: Any, x: Any, runs: int) -> dict[str, Any]:
    """The same steady-state AdamW step untracked and tracked (one warmed optimizer for both)."""
    from flopsight.counting import count_model
    from flopsight.counting.memory import make_optimizer, pick_loss, track_memory, warm_optimizer

    opt = make_optimizer(model.parameters(), "adamw")
    assert opt is not None
    warm_optimizer(opt)

    def untracked() -> None:
        loss = pick_loss(model(x))
        loss.backward()
        del loss
        opt.step()
        opt.zero_grad(set_to_none=True)

    def tracked() -> None:
        track_memory(model, [x], optimizer=opt)

    def counted() -> None:
        count_model(model, (x,), {})

    step = _median_s(untracked, runs)
    with_tracking = _median_s(tracked, runs)
    return {
        "step_untracked_s": round(step, 3),
        "step_tracked_s": round(with_tracking, 3),
        "overhead": round(with_tracking / step, 2),
        "forward_count_s": round(_median_s(counted, runs), 3),
        "peak_bytes": track_memory(model, [x], optimizer=opt).peak_bytes,
    }


def agreement() -> dict[str, Any]:
    """The tests' MemTracker comparison (tests/test_memory_engine.py), as a table."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_memory_engine import CASES, flopsight_step, memtracker_step

    out: dict[str, Any] = {}
    for name, build, inputs, optimizer in CASES:
        ref = memtracker_step(build, inputs, optimizer)
        ours = flopsight_step(build, inputs, optimizer)
        at = ours.at_peak
        out[name] = {
            "flopsight_peak": ours.peak_bytes,
            "memtracker_peak": ref["Total"],
            "peak_ratio": round(ours.peak_bytes / ref["Total"], 4),
            "params": [at["params"], ref["PARAM"]],
            "grads": [at["grads"], ref["GRAD"]],
            "optimizer_states": [ours.totals["optimizer"], ref["OPT_AFTER"]],
            "transient": [
                at["inputs"] + at["activations"] + at["temporaries"] + at["optimizer"],
                ref["OTH"] + ref["ACT"] + ref["TEMP"] + ref["OPT"],
            ],
            "peak_at": [ours.peak_path, ours.peak_phase],
        }
        print(name, out[name], flush=True)
    return out


def fit_resnet50() -> dict[str, Any]:
    from flopsight.cli import main

    os.environ["FLOPSIGHT_IN_PROCESS"] = "1"
    argv = ["fit", str(ROOT / "bench" / "files" / "resnet50.py"), "--gpu", "h100"]
    argv += ["--format", "json"]
    times = []
    report: dict[str, Any] = {}
    for _ in range(3):
        buffer = io.StringIO()
        started = time.perf_counter()
        with contextlib.redirect_stdout(buffer):
            main(argv)
        times.append(time.perf_counter() - started)
        report = json.loads(buffer.getvalue())
    fit = report["models"][0]["memory"]["fit"]
    result = {"cold_s": round(times[0], 3), "warm_s": round(min(times[1:]), 3), "fit": fit}
    print("resnet50", result, flush=True)
    return result


def fit_llama() -> dict[str, Any]:
    env = {**os.environ, "FLOPSIGHT_IN_PROCESS": "1", "PYTHONPATH": str(ROOT / "server")}
    argv = [sys.executable, "-m", "flopsight", "fit", str(ROOT / "examples" / "llama.py")]
    argv += ["--gpu", "h100", "--precision", "bf16-mixed", "--format", "json"]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    report = json.loads(out)
    memory = next(m["memory"] for m in report["models"] if m.get("memory"))
    result = {
        "seconds": round(wall, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "exit": os.waitstatus_to_exitcode(status),
        "peak_bytes": memory["peak_bytes"],
        "peak_at": memory["peak_at"],
        "fit": memory["fit"],
    }
    print("llama70b", result, flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from flopsight.counting.tvfix import ensure_torchvision_importable

    ensure_torchvision_importable()
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "budget": BUDGET,
        "overhead": overhead(args.runs),
        "memtracker_agreement": agreement(),
        "fit_resnet50": fit_resnet50(),
        "fit_llama70b": fit_llama(),
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
