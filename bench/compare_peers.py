"""flopsight against ptflops, fvcore, thop, torch flop_counter and DeepSpeed: time, RSS, totals.

Every (tool, model) pair runs in a fresh child process (``--child``) under an address-space limit,
so its peak RSS is that tool's alone: the child reports ``ru_maxrss`` after its imports (the
baseline) and after counting. Inside the child the model is built and counted ``1 + repeats``
times: the first call is the cold one, the median of the others the warm one. Each peer runs twice
per model: as its documentation shows (real weights on the CPU), and ``--meta``: on the model a
user builds on meta by hand (``with torch.device("meta"): model = ...``, meta inputs; variant
``meta``), which leaves only the counting engine to compare. Children run one at a time. Writes
``bench/results/peers.json``.

    python -m bench.compare_peers                      # everything
    python -m bench.compare_peers --models resnet50 --tools fvcore,thop --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from bench.models import BY_NAME, EXAMPLES, MODELS, ROOT, BenchModel
from bench.tools import BY_KEY, PEERS, TOOLS, Tool, build

RESULTS = ROOT / "bench" / "results"
MARKER = "BENCH_RESULT "
MEMORY_LIMIT_GB = 8
CHILD_TIMEOUT_S = 300
# Models whose attention has a fused fast path (nn.MultiheadAttention in eval under no_grad).
FAST_PATH_MODELS = ("vit_b_16",)


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _error(exc: BaseException) -> dict[str, str]:
    message = str(exc).strip().splitlines()
    out = {"type": type(exc).__name__, "message": (message[0] if message else "")[:300]}
    # Where it was raised, past torch's generic _check helpers: the kernel or tracer at fault.
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "_check" not in f.name]
    if frames:
        out["at"] = f"{Path(frames[-1].filename).name}:{frames[-1].name}"
    return out


def _import_tool(tool: Tool) -> None:
    import torch
    from flopsight.counting.tvfix import ensure_torchvision_importable

    torch.set_num_threads(1)
    ensure_torchvision_importable()
    import torchvision  # noqa: F401  (every peer imports it; so does flopsight's runner)

    if tool.key.startswith("flopsight"):
        import flopsight.counting  # noqa: F401
    elif tool.key.startswith("ptflops"):
        import ptflops  # noqa: F401
    elif tool.key == "fvcore":
        import fvcore.nn  # noqa: F401
    elif tool.key == "thop":
        import thop  # noqa: F401
    elif tool.key == "deepspeed":
        import deepspeed.profiling.flops_profiler  # noqa: F401
    else:
        import torch.utils.flop_counter


def child(tool_key: str, model_name: str, repeats: int, meta: bool) -> dict[str, Any]:
    """Runs inside the fresh process: import, then build + count 1 + repeats times."""
    tool = BY_KEY[tool_key]
    spec = BY_NAME[model_name]
    on_meta = tool.builds_on_meta or meta
    # A peer on meta gets the model a user builds by hand; flopsight builds its own.
    by_hand = meta and not tool.builds_on_meta
    out: dict[str, Any] = {"tool": tool_key, "model": model_name, "on_meta": on_meta}
    out["built_by_hand"] = by_hand
    started = time.perf_counter()
    _import_tool(tool)
    out["import_s"] = time.perf_counter() - started
    out["baseline_rss_mb"] = _maxrss_mb()
    runs: list[dict[str, float]] = []
    result = None
    stage = "build"
    try:
        for _ in range(1 + repeats):
            stage = "build"
            t0 = time.perf_counter()
            model, inputs, device = build(tool, spec, on_meta, by_hand, out)
            t1 = time.perf_counter()
            stage = "count"
            result = tool.count(model, inputs)
            t2 = time.perf_counter()
            runs.append({"build_s": t1 - t0, "count_s": t2 - t1})
            out["device"] = device
    except BaseException as exc:  # MemoryError, allocator RuntimeErrors, tracer errors, ...
        out["error"] = _error(exc) | {"stage": stage}
        out["traceback"] = traceback.format_exc()[-2000:]
        out["failed_after_s"] = time.perf_counter() - started - out["import_s"]
    out["peak_rss_mb"] = _maxrss_mb()
    out["runs"] = runs
    if result is not None and "error" not in out:
        out.update(raw=result.raw, macs=result.macs, params=result.params, **result.extra)
        try:
            out["breakdown"] = result.breakdown()
        except Exception as exc:
            out["breakdown_error"] = _error(exc)
        if model_name in FAST_PATH_MODELS and not by_hand:
            out["no_grad"] = _count_no_grad(tool, spec, on_meta, by_hand)
    return out


def _count_no_grad(tool: Tool, spec: BenchModel, on_meta: bool, by_hand: bool) -> dict[str, Any]:
    """The same count under torch.no_grad(), as many scripts call it."""
    import torch

    try:
        model, inputs, _device = build(tool, spec, on_meta, by_hand)
        with torch.no_grad():
            result = tool.count(model, inputs)
        return {"macs": result.macs, "breakdown": result.breakdown()}
    except Exception as exc:
        return {"error": _error(exc)}


def _summarise(record: dict[str, Any]) -> None:
    runs = record.get("runs") or []
    if runs:
        cold = runs[0]
        warm = runs[1:] or runs
        record["cold_s"] = cold["build_s"] + cold["count_s"]
        record["cold_count_s"] = cold["count_s"]
        record["warm_s"] = statistics.median(r["build_s"] + r["count_s"] for r in warm)
        record["warm_count_s"] = statistics.median(r["count_s"] for r in warm)
        record["warm_build_s"] = statistics.median(r["build_s"] for r in warm)
    if "peak_rss_mb" in record and "baseline_rss_mb" in record:
        record["delta_rss_mb"] = record["peak_rss_mb"] - record["baseline_rss_mb"]


def _limit_memory() -> None:
    limit = MEMORY_LIMIT_GB * 1024**3
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def run_child(tool: str, model: str, repeats: int, meta: bool = False) -> dict[str, Any]:
    """One fresh process for one (tool, model); its result, or why it gave none."""
    cmd = [sys.executable, "-m", "bench.compare_peers", "--child", tool, model]
    cmd += ["--repeats", str(repeats)] + (["--meta"] if meta else [])
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_S,
            preexec_fn=_limit_memory,
        )
    except subprocess.TimeoutExpired:
        return {
            "tool": tool,
            "model": model,
            "error": {"type": "Timeout", "message": f"no result in {CHILD_TIMEOUT_S} s"},
        }
    wall = time.perf_counter() - started
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARKER):
            record: dict[str, Any] = json.loads(line[len(MARKER) :])
            record["process_wall_s"] = wall
            _summarise(record)
            return record
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    message = f"exit {proc.returncode}: " + " | ".join(tail)
    return {"tool": tool, "model": model, "error": {"type": "Crash", "message": message[:400]}}


# -- end to end through the CLI (worker process included) -------------------------------------

_CLI_FILES: dict[str, tuple[str, list[str]]] = {
    "seed_mlp": (str(EXAMPLES / "seed_mlp.py"), []),
    "transformer_block": (str(EXAMPLES / "transformer_block.py"), []),
    "llama_70b": (str(EXAMPLES / "llama.py"), ["--model", "Llama"]),
}
_CLI_TORCHVISION = ("resnet50", "vgg16", "vit_b_16")


_RSS_WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "print('MAXRSS_KB', kb, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def run_cli(model: str, file: str, extra: list[str]) -> dict[str, Any]:
    """``flopsight report FILE --format json``: wall time and the largest process's peak RSS.

    A wrapper process runs the CLI and reads ``ru_maxrss`` of its children: the peak RSS of the
    largest process in the CLI's tree (CLI, worker host, job child) that was waited for.
    """
    cli = Path(sys.executable).with_name("flopsight")
    cmd = [sys.executable, "-c", _RSS_WRAPPER, str(cli), "report", file, "--format", "json"]
    started = time.perf_counter()
    proc = subprocess.run(
        cmd + extra, cwd=ROOT, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S
    )
    wall = time.perf_counter() - started
    record: dict[str, Any] = {"model": model, "wall_s": wall, "returncode": proc.returncode}
    for line in proc.stderr.splitlines():
        if line.startswith("MAXRSS_KB "):
            record["largest_process_rss_mb"] = int(line.split()[1]) / 1024
    try:
        report = json.loads(proc.stdout)
        found = [m for m in report["models"] if m.get("total")]
        record["macs"] = found[0]["total"]["macs"] if found else None
        record["elapsed_ms"] = found[0].get("elapsed_ms") if found else None
    except (json.JSONDecodeError, KeyError, IndexError):
        record["error"] = proc.stderr[-400:]
    return record


def cli_runs(repeats: int) -> list[dict[str, Any]]:
    records = []
    with tempfile.TemporaryDirectory(prefix="flopsight-bench-") as tmp:
        files = dict(_CLI_FILES)
        for name in _CLI_TORCHVISION:
            spec = BY_NAME[name]
            shape = ", ".join(str(d) for d in spec.inputs[0].shape)
            path = Path(tmp) / f"{name}.py"
            path.write_text(
                "import torchvision\n\n"
                f"model = torchvision.models.{name}()  # flopsight: input=({shape})\n"
            )
            files[name] = (str(path), [])
        for model, (file, extra) in files.items():
            runs = [run_cli(model, file, extra) for _ in range(repeats)]
            walls = [r["wall_s"] for r in runs]
            record = runs[-1] | {"runs_wall_s": walls, "median_wall_s": statistics.median(walls)}
            print(f"  cli {model:18s} {record['median_wall_s']:.2f}s", flush=True)
            records.append(record)
    return records


# -- the whole comparison ----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("TOOL", "MODEL"))
    parser.add_argument("--meta", action="store_true", help="peers too get a meta-device model")
    parser.add_argument("--repeats", type=int, default=5, help="warm calls after the cold one")
    parser.add_argument("--models", default=",".join(m.name for m in MODELS))
    parser.add_argument("--tools", default=",".join(t.key for t in TOOLS))
    parser.add_argument("--cli-repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "peers.json")
    args = parser.parse_args(argv)

    if args.child:
        record = child(args.child[0], args.child[1], args.repeats, args.meta)
        print(MARKER + json.dumps(record), flush=True)
        return 0

    started = time.perf_counter()
    records: list[dict[str, Any]] = []
    for name in args.models.split(","):
        spec = BY_NAME[name]
        for key in args.tools.split(","):
            repeats = min(args.repeats, 1) if spec.huge else args.repeats
            record = run_child(key, name, repeats)
            records.append(record)
            _print(record)
            if key in {t.key for t in PEERS}:
                # What a user could do by hand: build on meta and hand that to the peer.
                meta = run_child(key, name, repeats, meta=True)
                meta["variant"] = "meta"
                records.append(meta)
                _print(meta)
    cli = cli_runs(args.cli_repeats) if args.cli_repeats else []
    payload = {
        "generated": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "machine": _machine(),
        "memory_limit_gb": MEMORY_LIMIT_GB,
        "repeats": args.repeats,
        "tools": [
            {"key": t.key, "label": t.label, "unit": t.unit, "builds_on_meta": t.builds_on_meta}
            for t in TOOLS
        ],
        "models": [
            {"name": m.name, "family": m.family, "source": m.source, "huge": m.huge}
            for m in MODELS
            if m.name in args.models.split(",")
        ],
        "results": records,
        "cli": cli,
        "total_wall_s": time.perf_counter() - started,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {args.out} in {payload['total_wall_s']:.0f}s")
    return 0


def _print(r: dict[str, Any]) -> None:
    label = f"{r['model']:18s} {r['tool']:18s}" + (" [meta]" if r.get("variant") else "")
    if "error" in r:
        print(f"  {label} FAILED {r['error']['type']}: {r['error']['message'][:90]}", flush=True)
    else:
        print(
            f"  {label} cold {r.get('cold_s', 0):7.3f}s warm {r.get('warm_s', 0):7.3f}s "
            f"peak {r.get('peak_rss_mb', 0):7.0f} MB  {r.get('macs', 0):.4g} MACs",
            flush=True,
        )


def _machine() -> dict[str, Any]:
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": 1,
        "platform": platform.platform(),
    }


if __name__ == "__main__":
    raise SystemExit(main())
