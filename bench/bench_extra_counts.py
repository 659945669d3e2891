"""What the extra counts of issue 17 cost: the scaling counts (each symbolic dimension counted at
four more values) and the committed version's count (the lens's Δ vs HEAD), and whether they
delay the first hints.

    PYTHONPATH=server .venv/bin/python -m bench.bench_extra_counts [--runs 5]

- Engine: the in-process time of one analysis of tests/data/scaling/gpt_block.py's Block (a
  GPT-2 block at T = 1024) plain and with scaling; the time of reading HEAD's text with git.
- Editor, through a real server over stdio: didChange+didSave -> the inlay hint refresh (the
  first hints) for the same block written with a concrete shape (nothing extra runs) and with
  a symbolic T in a git repository whose HEAD differs (scaling and the HEAD count run after);
  then the time until the extra results are in, and an edit made while they run.
- Cross-file (issue 17): the engine's time for examples/gpt/model.py with its lines charged
  across the workspace (root set) and to model.py alone (no root); in the editor, an unsaved
  edit of layers.py -> the refresh that brings model.py's new count and layers.py's hints.
Writes bench/results/extra_counts.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parent.parent
GPT = ROOT / "tests" / "data" / "scaling" / "gpt_block.py"
RESULTS = ROOT / "bench" / "results" / "extra_counts.json"
SERVER = [sys.executable, "-m", "flopsight.lsp"]
CONCRETE = (
    GPT.read_text()
    .replace('# flopsight: dims={"T": 1024}', "# flopsight: input=(1, 1024, 768)")
    .replace('x: Float[Tensor, "batch T 768"]', "x: Tensor")
)


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


def engine(runs: int) -> dict[str, Any]:
    from flopsight.counting.runner import analyse_file
    from flopsight.gitrev import committed
    from flopsight.job import AnalysisRequest

    text = GPT.read_text()
    out: dict[str, Any] = {}
    for scaling in (False, True, False, True):  # warm both once, then time
        samples = []
        for _ in range(runs):
            request = AnalysisRequest(text=text, path=str(GPT), models=["Block"], scaling=scaling)
            t0 = time.perf_counter()
            analyse_file(request)
            samples.append(time.perf_counter() - t0)
        out["with_scaling_ms" if scaling else "plain_ms"] = median_ms(samples)
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        assert committed(str(GPT), "HEAD") is not None
        samples.append(time.perf_counter() - t0)
    out["git_show_head_ms"] = median_ms(samples)
    return out


GPT_SPLIT = ROOT / "examples" / "gpt"


def engine_cross_file(runs: int) -> dict[str, Any]:
    from flopsight.counting.runner import analyse_file
    from flopsight.job import AnalysisRequest

    path = GPT_SPLIT / "model.py"
    text = path.read_text()
    out: dict[str, Any] = {}
    for root in (None, str(ROOT), None, str(ROOT)):  # warm both once, then time
        samples = []
        for _ in range(runs):
            request = AnalysisRequest(text=text, path=str(path), root=root)
            t0 = time.perf_counter()
            analyse_file(request)
            samples.append(time.perf_counter() - t0)
        out["workspace_lines_ms" if root else "own_file_lines_ms"] = median_ms(samples)
    return out


class Client(LanguageClient):
    def __init__(self) -> None:
        super().__init__("flopsight-bench", "1")
        self.events: list[tuple[str, float]] = []
        for method in ("flopsight/scaled", "flopsight/compared"):
            self.feature(method)(self._record(method))
        self.finished: list[tuple[str, float]] = []  # (uri, when) of each round run through

        @self.feature("flopsight/analysisFinished")
        def finished(_client: LanguageClient, params: Any) -> None:
            get = params.get if isinstance(params, dict) else lambda k: getattr(params, k, None)
            if not get("cancelled"):
                self.finished.append((str(get("uri")), time.perf_counter()))

        self.feature(types.WORKSPACE_INLAY_HINT_REFRESH)(self._record("refresh"))

        @self.feature(types.WINDOW_SHOW_MESSAGE)
        def shown(_client: LanguageClient, params: types.ShowMessageParams) -> None:
            print(f"server: {params.message}", file=sys.stderr)

    def _record(self, name: str) -> Any:
        def record(_client: LanguageClient, _params: Any = None) -> None:
            self.events.append((name, time.perf_counter()))

        return record

    def count(self, name: str) -> int:
        return sum(1 for e, _ in self.events if e == name)

    async def wait(self, name: str, more_than: int, timeout: float = 300.0) -> float:
        deadline = time.perf_counter() + timeout
        while self.count(name) <= more_than:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{name}: {[e for e, _ in self.events]}")
            await asyncio.sleep(0.0005)
        return [t for e, t in self.events if e == name][more_than]


async def started(root: Path, settings: dict[str, Any]) -> Client:
    """A real server over stdio, initialized with ``root`` and the flopsight ``settings``."""
    client = Client()
    await client.start_io(*SERVER)
    await client.initialize_async(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(
                workspace=types.WorkspaceClientCapabilities(
                    inlay_hint=types.InlayHintWorkspaceClientCapabilities(refresh_support=True),
                    code_lens=types.CodeLensWorkspaceClientCapabilities(refresh_support=True),
                ),
            ),
            root_uri=root.as_uri(),
            initialization_options={"flopsight": settings},
        )
    )
    client.initialized(types.InitializedParams())
    return client


def _open(client: LanguageClient, path: Path, text: str) -> str:
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=text
            )
        )
    )
    return uri


async def editor(runs: int, path: Path, text: str, extra: bool) -> dict[str, Any]:
    settings = {"debounceMs": 60_000, "compareWith": "HEAD" if extra else "none"}
    client = await started(path.parent, settings)
    uri = _open(client, path, text)
    await client.wait("refresh", 0)
    if extra:  # the first time: the committed version is counted, then cached
        await client.wait("flopsight/compared", 0)
        await client.wait("flopsight/scaled", 0)
    first, after, busy = [], [], []
    version = 1

    async def save_and_wait() -> float:
        nonlocal text, version
        version += 1
        text += f"# edit {version}\n"
        seen = client.count("refresh")
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )
        t0 = time.perf_counter()
        client.text_document_did_save(
            types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
        return await client.wait("refresh", seen) - t0

    for _ in range(runs):
        scaled = client.count("flopsight/scaled")
        t0 = time.perf_counter()
        first.append(await save_and_wait())
        if extra:
            after.append(await client.wait("flopsight/scaled", scaled) - t0)
        # An edit at once after the first hints, while the extra counts of the previous run:
        await save_and_wait()
        busy.append(await save_and_wait())
        await asyncio.sleep(3.0)  # let the last extra counts finish before the next run
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    out = {
        "save_to_first_hints_ms": median_ms(first),
        "edit_while_busy_to_hints_ms": median_ms(busy),
    }
    if extra:
        out["save_to_scaling_in_ms"] = median_ms(after)
    return out


async def editor_cross_file(runs: int) -> dict[str, Any]:
    """An unsaved edit of layers.py -> the end of model.py's round with the buffer (its
    refresh request, which brings layers.py's new hints, goes out just before)."""
    client = await started(GPT_SPLIT, {"debounceMs": 0, "compareWith": "none", "compare": False})
    layers_text = (GPT_SPLIT / "layers.py").read_text()
    layers = _open(client, GPT_SPLIT / "layers.py", layers_text)
    model = _open(client, GPT_SPLIT / "model.py", (GPT_SPLIT / "model.py").read_text())

    async def round_of_model(seen: int) -> float:
        deadline = time.perf_counter() + 300
        while True:
            done = [t for u, t in client.finished if u == model]
            if len(done) > seen:
                return done[seen]
            if time.perf_counter() > deadline:
                raise TimeoutError("model.py was not counted again")
            await asyncio.sleep(0.0005)

    await round_of_model(0)
    await asyncio.sleep(1.0)
    samples = []
    for version in range(2, 2 + runs):
        # A new width each time: never a cached count.
        text = layers_text.replace("hidden = 4 * d", f"hidden = {4 + version} * d")
        seen = sum(1 for u, _ in client.finished if u == model)
        t0 = time.perf_counter()
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=layers, version=version),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )
        # The round ends after its refresh request: layers.py's hints are then the new ones.
        samples.append(await round_of_model(seen) - t0)
        await asyncio.sleep(1.0)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return {"edit_of_layers_py_to_hints_ms": median_ms(samples)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "server"))
    from flopsight.counting.tvfix import ensure_torchvision_importable

    ensure_torchvision_importable()
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "engine": engine(args.runs),
    }
    print("engine:", results["engine"])
    results["engine_cross_file"] = engine_cross_file(args.runs)
    print("engine, cross-file:", results["engine_cross_file"])
    results["editor_cross_file"] = asyncio.run(editor_cross_file(args.runs))
    print("editor, cross-file:", results["editor_cross_file"])
    repo = Path(tempfile.mkdtemp(prefix="flopsight-bench-"))
    try:
        git = ["git", "-c", "user.email=b@example.com", "-c", "user.name=b"]
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
        (repo / "gpt_block.py").write_text(
            GPT.read_text().replace("n_head: int = 12", "n_head: int = 6")
        )
        subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
        subprocess.run([*git, "commit", "-qm", "base"], cwd=repo, check=True)
        (repo / "concrete.py").write_text(CONCRETE)
        results["editor_concrete_shape"] = asyncio.run(
            editor(args.runs, repo / "concrete.py", CONCRETE, extra=False)
        )
        print("concrete:", results["editor_concrete_shape"])
        results["editor_symbolic_T_vs_HEAD"] = asyncio.run(
            editor(args.runs, repo / "gpt_block.py", GPT.read_text(), extra=True)
        )
        print("symbolic + HEAD:", results["editor_symbolic_T_vs_HEAD"])
    finally:
        shutil.rmtree(repo, ignore_errors=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
