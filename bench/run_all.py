"""Every benchmark in one go, then the docs: what `make bench` runs.

    python -m bench.run_all                 # peers, worker, language server, then render
    python -m bench.run_all --render-only   # re-render docs/ from bench/results/*.json

Steps run one after the other (the machine is shared; the numbers are cleaner that way). A step
whose module does not exist is skipped with a note in docs/benchmarks.md; a step that fails
keeps its previous results file and says so.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from bench import render
from bench.models import ROOT

STEPS: tuple[tuple[str, str, list[str]], ...] = (
    ("bench.compare_peers", "peers.json", []),
    ("bench.bench_worker", "worker.json", []),
    ("bench.bench_lsp", "lsp.json", []),
    ("bench.bench_moe", "moe.json", []),
    ("bench.bench_hang", "hang.json", []),
    ("bench.bench_extra_counts", "extra_counts.json", []),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--render-only", action="store_true")
    parser.add_argument("--skip", default="", help="comma-separated modules to skip")
    args = parser.parse_args(argv)
    skip = {s for s in args.skip.split(",") if s}

    notes: list[str] = []
    started = time.perf_counter()
    if not args.render_only:
        for module, result, extra in STEPS:
            path = ROOT / (module.replace(".", "/") + ".py")
            if module in skip:
                notes.append(
                    f"`{module}` was skipped in this run; `{result}` is from an earlier one."
                )
                continue
            if not path.exists():
                notes.append(f"`{module}` does not exist yet: no `{result}` in this run.")
                print(f"== {module}: missing, skipped", flush=True)
                continue
            print(f"== {module}", flush=True)
            step_started = time.perf_counter()
            code = subprocess.call([sys.executable, "-m", module, *extra], cwd=ROOT)
            took = time.perf_counter() - step_started
            print(f"== {module}: exit {code} in {took:.0f}s", flush=True)
            if code != 0:
                notes.append(f"`{module}` exited with {code} in this run; `{result}` may be stale.")
    print(f"== render (benchmarks ran {time.perf_counter() - started:.0f}s)", flush=True)
    return render.main(notes)


if __name__ == "__main__":
    raise SystemExit(main())
