"""Counting time per convention set: one pass for one convention against one pass for several.

    PYTHONPATH=server .venv/bin/python -m bench.bench_conventions [--runs 5] [--label after]

resnet50 and vit_b_16 built on meta, counted ``--runs`` times each (after one warm-up count) with
each convention the engine has alone, (where it takes ``conventions=``) ``macs`` and ``ptflops`` in
one pass, and ``compare``: every convention in one pass (``flopsight report --compare``).
Fastest and median ms per case (on a shared machine the fastest run is the steadier figure);
merges its numbers under ``--label`` into bench/results/conventions.json.
"""

from __future__ import annotations

import argparse
import inspect
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "conventions.json"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--label", default="after")
    args = parser.parse_args()

    from flopsight.counting.tvfix import ensure_torchvision_importable

    ensure_torchvision_importable()
    import torch
    import torchvision.models as tvm
    from flopsight.counting.build import build_model
    from flopsight.counting.counter import count_model

    several = "conventions" in inspect.signature(count_model).parameters
    try:
        from flopsight.counting.conventions import CONVENTIONS
    except ImportError:  # before the rule-set redesign
        CONVENTIONS = ("macs", "ptflops")
    cases: list[tuple[str, dict[str, Any]]] = [(c, {"convention": c}) for c in CONVENTIONS]
    if several:
        cases.append(("macs+ptflops", {"conventions": ("macs", "ptflops")}))
        if len(CONVENTIONS) > 2:
            cases.append(("compare", {"conventions": tuple(CONVENTIONS)}))
    numbers: dict[str, dict[str, float]] = {}
    fastest: dict[str, dict[str, float]] = {}
    for name in ("resnet50", "vit_b_16"):
        model, _ = build_model(getattr(tvm, name))
        x = torch.empty(1, 3, 224, 224, device="meta")
        numbers[name] = {}
        fastest[name] = {}
        for case, kwargs in cases:
            count_model(model, (x,), **kwargs)  # warm: lazily built meta kernels
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                count_model(model, (x,), **kwargs)
                times.append((time.perf_counter() - t0) * 1000.0)
            numbers[name][case] = round(statistics.median(times), 1)
            fastest[name][case] = round(min(times), 1)
            print(
                f"{args.label:8s} {name:10s} {case:14s} {fastest[name][case]:8.1f} ms fastest",
                f"{numbers[name][case]:8.1f} ms median of {args.runs}",
            )
    data: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[args.label] = {
        "fastest_ms": fastest,
        "median_ms": numbers,
        "runs": args.runs,
        "python": platform.python_version(),
        "torch": str(torch.__version__),
    }
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    main()
