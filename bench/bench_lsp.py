"""Language server latency and footprint, through a real LSP client over stdio.

    .venv/bin/python -m bench.bench_lsp [--runs 30] [--startup-only]

- didSave -> ``workspace/inlayHint/refresh``: the time from the client sending didSave (after an
  edit, so the worker's cache misses and the model really runs) to the server's refresh
  request, for examples/transformer_block.py and bench/files/resnet50.py (torchvision's
  resnet50); p50/p95 over ``--runs`` saves, plus the same with unchanged text (a cache hit).
- Startup: process spawn -> ``initialize`` answered, and -> the first request after it
  answered (pygls imported and serving), p50/p95 over ``--starts``.
- The server's idle RSS without the worker (execution off, so no worker starts), and its own
  RSS (worker excluded) after analysing the files.
Writes bench/results/lsp.json; ``--startup-only`` measures only the startup (no torch, a few
seconds) and writes bench/results/lsp_startup.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psutil
from lsprotocol import types
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parent.parent
FILES = {
    "transformer_block": ROOT / "examples" / "transformer_block.py",
    "resnet50": ROOT / "bench" / "files" / "resnet50.py",
}
RESULTS = ROOT / "bench" / "results" / "lsp.json"
STARTUP_RESULTS = ROOT / "bench" / "results" / "lsp_startup.json"
SERVER = [sys.executable, "-m", "flopsight.lsp"]

CAPABILITIES = types.ClientCapabilities(
    workspace=types.WorkspaceClientCapabilities(
        configuration=False,
        inlay_hint=types.InlayHintWorkspaceClientCapabilities(refresh_support=True),
    ),
    text_document=types.TextDocumentClientCapabilities(
        synchronization=types.TextDocumentSyncClientCapabilities(did_save=True)
    ),
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(times_ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(times_ms), 2),
        "p95_ms": round(percentile(times_ms, 0.95), 2),
        "min_ms": round(min(times_ms), 2),
        "runs": len(times_ms),
    }


class Client(LanguageClient):
    """A plain pygls client that timestamps the server's refresh requests."""

    def __init__(self) -> None:
        super().__init__("flopsight-bench", "1")
        self.refreshes: list[float] = []
        self.finished: list[float] = []

        @self.feature(types.WORKSPACE_INLAY_HINT_REFRESH)
        def refresh(_client: LanguageClient, _params: None) -> None:
            self.refreshes.append(time.perf_counter())

        @self.feature("flopsight/analysisFinished")
        def finished(_client: LanguageClient, _params: Any) -> None:
            self.finished.append(time.perf_counter())

    async def next_refresh(self, after: int, timeout: float = 300.0) -> float:
        deadline = time.perf_counter() + timeout
        while len(self.refreshes) <= after:
            if time.perf_counter() > deadline:
                raise TimeoutError("no workspace/inlayHint/refresh")
            await asyncio.sleep(0.0005)
        return self.refreshes[after]


async def start(settings: dict[str, Any]) -> tuple[Client, float]:
    client = Client()
    t0 = time.perf_counter()
    await client.start_io(*SERVER)
    await client.initialize_async(
        types.InitializeParams(
            capabilities=CAPABILITIES,
            root_uri=ROOT.as_uri(),
            initialization_options={"flopsight": settings},
        )
    )
    elapsed = (time.perf_counter() - t0) * 1000
    client.initialized(types.InitializedParams())
    return client, elapsed


async def stop(client: Client) -> None:
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()


def server_pid(client: Client) -> int:
    server = client._server  # the subprocess pygls started
    assert server is not None
    return int(server.pid)


async def startup(starts: int) -> tuple[list[float], list[float], float]:
    times: list[float] = []
    serving: list[float] = []
    rss = 0.0
    for i in range(starts):
        t0 = time.perf_counter()
        client, elapsed = await start({"execute": False})
        times.append(elapsed)
        # The first request after initialize waits for pygls to be imported and running.
        await client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=(ROOT / "none.py").as_uri()),
                position=types.Position(line=0, character=0),
            )
        )
        serving.append((time.perf_counter() - t0) * 1000)
        if i == starts - 1:
            await asyncio.sleep(1.0)
            rss = psutil.Process(server_pid(client)).memory_info().rss / 2**20
        await stop(client)
    return times, serving, rss


async def save_to_refresh(runs: int) -> tuple[dict[str, Any], float]:
    # A long debounce: only the saves start analyses.
    client, _ = await start({"debounceMs": 600_000})
    out: dict[str, Any] = {}
    try:
        for name, path in FILES.items():
            uri = path.as_uri()
            text = path.read_text()
            seen = len(client.refreshes)
            client.text_document_did_open(
                types.DidOpenTextDocumentParams(
                    text_document=types.TextDocumentItem(
                        uri=uri, language_id="python", version=1, text=text
                    )
                )
            )
            await client.next_refresh(seen)  # the first analysis (the worker warms up)
            changed: list[float] = []
            unchanged: list[float] = []
            for run in range(runs):
                text += f"# run {run}\n"
                client.text_document_did_change(
                    types.DidChangeTextDocumentParams(
                        text_document=types.VersionedTextDocumentIdentifier(
                            uri=uri, version=run + 2
                        ),
                        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
                    )
                )
                for times in (changed, unchanged):
                    seen = len(client.refreshes)
                    t0 = time.perf_counter()
                    client.text_document_did_save(
                        types.DidSaveTextDocumentParams(
                            text_document=types.TextDocumentIdentifier(uri=uri)
                        )
                    )
                    times.append((await client.next_refresh(seen) - t0) * 1000)
                    await asyncio.sleep(0.1)
            out[name] = {
                "save_to_refresh": summary(changed),
                "save_to_refresh_cache_hit": summary(unchanged),
            }
            print(
                f"{name}: didSave -> inlayHint/refresh p50 {out[name]['save_to_refresh']['p50_ms']}"
                f" ms, p95 {out[name]['save_to_refresh']['p95_ms']} ms "
                f"(cache hit p50 {out[name]['save_to_refresh_cache_hit']['p50_ms']} ms)"
            )
        rss = psutil.Process(server_pid(client)).memory_info().rss / 2**20
    finally:
        await stop(client)
    return out, rss


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": psutil.cpu_count(),
        "platform": platform.platform(),
    }


async def startup_only(starts: int) -> dict[str, Any]:
    startup_times, serving_times, idle_rss = await startup(starts)
    return {
        "machine": machine(),
        "startup_to_initialize": summary(startup_times),
        "startup_to_first_request_answered": summary(serving_times),
        "server_idle_rss_mb": round(idle_rss, 1),
        "budgets": {"startup_to_initialize_ms": 1000, "server_idle_rss_mb": 60},
    }


async def main_async(runs: int, starts: int) -> dict[str, Any]:
    startup_times, serving_times, idle_rss = await startup(starts)
    files, busy_rss = await save_to_refresh(runs)
    return {
        "machine": machine(),
        "files": files,
        "startup_to_initialize": summary(startup_times),
        "startup_to_first_request_answered": summary(serving_times),
        "server_idle_rss_mb": round(idle_rss, 1),
        "server_rss_after_analyses_mb": round(busy_rss, 1),
        "budgets": {"startup_to_initialize_ms": 1000, "server_idle_rss_mb": 60},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--starts", type=int, default=10)
    parser.add_argument("--startup-only", action="store_true")
    args = parser.parse_args()
    if args.startup_only:
        results = asyncio.run(startup_only(args.starts))
        out = STARTUP_RESULTS
    else:
        results = asyncio.run(main_async(args.runs, args.starts))
        out = RESULTS
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    s = results["startup_to_initialize"]
    after = results.get("server_rss_after_analyses_mb")
    print(
        f"startup -> initialize p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms; server idle RSS "
        f"{results['server_idle_rss_mb']} MB"
        + (f" ({after} MB after analyses)" if after is not None else "")
        + f"; wrote {out}"
    )


if __name__ == "__main__":
    main()
