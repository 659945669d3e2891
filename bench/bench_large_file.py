"""A large file against the language server's event loop (issue 18, case 7), through a real client.

    .venv/bin/python -m bench.bench_large_file [--size-mb 4.8] [--edits 5] [--label after]

The file: a small model, then assignments up to ``--size-mb`` (the issue's 4.8 MB of 100k
assignments). Two configurations: the default ``flopsight.maxFileSizeKB`` (the file is skipped,
FS402) and a limit above the file's size (it is analysed, off the event loop). For each:
- while the large file is opened and analysed, and after each edit to it, an inlayHint on a small
  open file (examples/seed_mlp.py) every 50 ms: its latency, p50 and max (the event loop's
  stalls show here);
- open -> the large file's analysis finished (or FS402 published);
- an inlayHint on the large file right after an edit: its latency;
- the server's RSS at its peak (sampled) and 2 s after the large file was closed.
Writes bench/results/large_file.json (``--label`` names the run: before/after a change).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psutil
from lsprotocol import types
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "large_file.json"
SERVER = [sys.executable, "-m", "flopsight.lsp"]
SMALL = ROOT / "examples" / "seed_mlp.py"

MODEL = """import torch
from torch import nn


class Net(nn.Module):  # flopsight: input=(1, 8)
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(x)


"""


def large_text(size_mb: float) -> str:
    line = "value_{:07d} = {:9d} * 2 + 1  # filler\n"
    count = int(size_mb * 1e6) // len(line.format(0, 0))
    return MODEL + "".join(line.format(i, i) for i in range(count))


class Client(LanguageClient):
    def __init__(self) -> None:
        super().__init__("flopsight-bench", "1")
        self.finished: dict[str, int] = {}
        self.published: dict[str, list[str]] = {}
        self.ever: set[tuple[str, str]] = set()  # (uri, code) published at some point

        @self.feature("flopsight/analysisFinished")
        def finished(_client: LanguageClient, params: Any) -> None:
            uri = params["uri"] if isinstance(params, dict) else params.uri
            cancelled = params["cancelled"] if isinstance(params, dict) else params.cancelled
            if not cancelled:
                self.finished[uri] = self.finished.get(uri, 0) + 1

        @self.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def published(_client: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
            self.published[params.uri] = [str(d.code) for d in params.diagnostics]
            self.ever.update((params.uri, str(d.code)) for d in params.diagnostics)


def pct(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "p50_ms": round(statistics.median(values), 1),
        "max_ms": round(max(values), 1),
        "n": len(values),
    }


async def hint_ms(client: Client, uri: str) -> float:
    t0 = time.perf_counter()
    await client.text_document_inlay_hint_async(
        types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(
                start=types.Position(line=0, character=0),
                end=types.Position(line=200_000, character=0),
            ),
        )
    )
    return (time.perf_counter() - t0) * 1000


async def run(size_mb: float, edits: int, limit_kb: int | None) -> dict[str, Any]:
    client = Client()
    await client.start_io(*SERVER)
    settings: dict[str, Any] = {"debounceMs": 50}
    if limit_kb is not None:
        settings["maxFileSizeKB"] = limit_kb
    await client.initialize_async(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            root_uri=ROOT.as_uri(),
            initialization_options={"flopsight": settings},
        )
    )
    client.initialized(types.InitializedParams())
    server = client._server  # the subprocess pygls started
    assert server is not None
    proc = psutil.Process(server.pid)
    peak = [proc.memory_info().rss]

    def open_doc(uri: str, text: str) -> None:
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id="python", version=1, text=text
                )
            )
        )

    small = SMALL.as_uri()
    open_doc(small, SMALL.read_text())
    while client.finished.get(small, 0) < 1:  # the worker is warm
        await asyncio.sleep(0.05)

    big = (ROOT / "bench" / "large_file.py").as_uri()
    text = large_text(size_mb)
    small_ms: list[float] = []

    async def until_done(before: int) -> float:
        t0 = time.perf_counter()
        while client.finished.get(big, 0) <= before and "FS402" not in client.published.get(
            big, []
        ):
            small_ms.append(await hint_ms(client, small))
            peak.append(proc.memory_info().rss)
            await asyncio.sleep(0.05)
        return (time.perf_counter() - t0) * 1000

    open_doc(big, text)
    opened_ms = await until_done(0)
    big_ms: list[float] = []
    edit_ms: list[float] = []
    for k in range(edits):
        before = client.finished.get(big, 0)
        pos = types.Position(line=0, character=0)
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=big, version=k + 2),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(start=pos, end=pos), text=f"# edit {k}\n"
                    )
                ],
            )
        )
        big_ms.append(await hint_ms(client, big))
        if "FS402" in client.published.get(big, []):
            small_ms.append(await hint_ms(client, small))
            continue
        edit_ms.append(await until_done(before))
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=big))
    )
    await asyncio.sleep(2.0)
    after_close = proc.memory_info().rss
    held: Any = None
    try:
        held = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="flopsight.server.stats", arguments=[])
        )
    except Exception:  # a server without the command (measuring the code before the change)
        held = None
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return {
        "max_file_size_kb": limit_kb if limit_kb is not None else "default",
        "file_mb": round(len(text) / 1e6, 2),
        "skipped_fs402": (big, "FS402") in client.ever,
        "open_to_done_ms": round(opened_ms, 1),
        "edit_to_done_ms": pct(edit_ms),
        "small_file_inlay_hint_while_busy": pct(small_ms),
        "large_file_inlay_hint_after_edit": pct(big_ms),
        "server_rss_peak_mb": round(max(peak) / 2**20, 1),
        "server_rss_after_close_mb": round(after_close / 2**20, 1),
        "server_holds_after_close": held,
    }


async def main_async(size_mb: float, edits: int) -> list[dict[str, Any]]:
    out = []
    for limit in (None, int(size_mb * 1024) + 1024):
        result = await run(size_mb, edits, limit)
        print(json.dumps(result))
        out.append(result)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=float, default=4.8)
    parser.add_argument("--edits", type=int, default=5)
    parser.add_argument("--label", default="after")
    args = parser.parse_args()
    runs = asyncio.run(main_async(args.size_mb, args.edits))
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    previous[args.label] = {"runs": runs, "edits": args.edits}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(previous, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
