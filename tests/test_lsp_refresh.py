"""Freshness: after each analysis the server asks clients that support it to refresh inlay
hints and code lenses, reports progress on analyses longer than 0.5 s, and debounces edits."""

from __future__ import annotations

import asyncio

import pytest_lsp
from lsp_harness import DATA, EXAMPLES, SERVER, inlay_hints, insert, line_of, open_text, start
from lsprotocol import types
from pytest_lsp import LanguageClient

SEED = EXAMPLES / "seed_mlp.py"


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


async def test_refresh_requests_after_each_analysis(client: LanguageClient) -> None:
    recorder = await start(client, {"debounceMs": 300})
    uri = open_text(client, SEED)
    await recorder.analysed(uri)
    assert recorder.count("inlayHintRefresh") == 1
    assert recorder.count("codeLensRefresh") == 1
    # The first analysis starts the worker (seconds): progress was reported, begun and ended.
    kinds = [
        getattr(p, "kind", None) for reports in client.progress_reports.values() for p in reports
    ]
    assert kinds[:1] == ["begin"] and kinds[-1] == "end"

    # Ten quick edits within the debounce time: one more analysis, one more refresh.
    done = recorder.finished(uri)
    for version in range(2, 12):
        insert(client, uri, 0, 0, "#", version)
    await recorder.analysed(uri, done)
    assert recorder.count("flopsight/analysisStarted", uri) == 2
    assert recorder.count("inlayHintRefresh") == 2
    assert recorder.count("codeLensRefresh") == 2


async def test_no_refresh_for_clients_without_support(client: LanguageClient) -> None:
    plain = types.ClientCapabilities(
        workspace=types.WorkspaceClientCapabilities(configuration=True)
    )
    recorder = await start(client, capabilities=plain)
    uri = open_text(client, SEED)
    await recorder.analysed(uri)
    assert recorder.count("inlayHintRefresh") == 0
    assert recorder.count("codeLensRefresh") == 0
    assert client.progress_reports == {}


async def test_edits_cancel_only_what_they_supersede(client: LanguageClient) -> None:
    recorder = await start(client)
    slow = open_text(client, DATA / "slow.py")  # forward sleeps 1.5 s
    seed = open_text(client, SEED)
    for version in range(2, 7):  # each edit supersedes the seed's previous analysis
        insert(client, seed, 0, 0, "#", version)
        await asyncio.sleep(0.05)
    await recorder.analysed(slow)
    await recorder.analysed(seed)
    # The slow file's analysis was never cancelled by the other file's edits.
    finished = recorder.of("flopsight/analysisFinished", slow)
    assert [getattr(p, "cancelled", None) for p in finished] == [False]
    # Linear(8, 8): 8·8 = 64 MACs (macs convention), 8·8 + 8 = 72 params.
    hints = await inlay_hints(client, slow)
    assert hints[line_of((DATA / "slow.py").read_text(), "nn.Linear(8, 8)")] == (
        "64 Mac · 72 params · 100.0%"
    )
