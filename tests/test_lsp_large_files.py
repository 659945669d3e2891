"""Large files through the real server: the event loop never parses or re-anchors them itself
(a helper process does), a file over ``flopsight.maxFileSizeKB`` is skipped with one FS402, and
closing a document releases what the server held for it. Timings are in bench/bench_large_file.py.

The model, macs convention, by hand: Linear(8, 4) on (1, 8) is 8·4 = 32 MACs; 8·4 + 4 = 36
params; it is the whole model (100.0 %) and its output is [1, 4].
"""

from __future__ import annotations

from typing import Any

import pytest_lsp
from lsp_harness import EXAMPLES, ROOT, SERVER, inlay_hints, insert, line_of, open_text, start
from lsprotocol import types
from pytest_lsp import LanguageClient

MODEL = """import torch
from torch import nn


class Net(nn.Module):  # flopsight: input=(1, 8)
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(x)


"""
LIMIT_KB = 256


def big_text(size_kb: int) -> str:
    """The model, then assignments up to ``size_kb`` (50 bytes each)."""
    count = size_kb * 1024 // 50
    return MODEL + "".join(
        f"value_{i:07d} = {i:9d} * 2 + 1  # filler {i:07d}\n" for i in range(count)
    )


def expected(text: str) -> dict[int, str]:
    return {
        line_of(text, "self.fc = nn.Linear(8, 4)"): "32 Mac · 36 params · 100.0%",
        line_of(text, "return self.fc(x)"): "32 Mac → [1, 4]",
    }


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


async def stats(client: LanguageClient) -> Any:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="flopsight.server.stats", arguments=[])
    )


def codes(client: LanguageClient, uri: str) -> list[str]:
    return [str(d.code) for d in client.diagnostics.get(uri, [])]


async def test_large_files(client: LanguageClient) -> None:
    recorder = await start(client, {"maxFileSizeKB": LIMIT_KB})
    large = big_text(200)  # under the limit, far above what the event loop parses itself
    assert 150 * 1024 < len(large) < LIMIT_KB * 1024
    large_uri = open_text(client, ROOT / "tests" / "large_model.py", large)
    await recorder.wait_for("flopsight/analysisStarted", large_uri)

    # While the large file is analysed, a small one is answered at once.
    small_uri = open_text(client, EXAMPLES / "seed_mlp.py")
    assert await inlay_hints(client, small_uri) == {}
    assert recorder.finished(large_uri) == 0, "answered only after the large file's analysis"

    await recorder.analysed(large_uri)
    assert await inlay_hints(client, large_uri) == expected(large)
    assert "FS101" not in codes(client, large_uri) and "FS402" not in codes(client, large_uri)

    # An edit above the model: the hints follow it (re-anchored off the loop, then re-analysed).
    done = recorder.finished(large_uri)
    insert(client, large_uri, 0, 0, "# a comment above everything\n", version=2)
    large = "# a comment above everything\n" + large
    await recorder.analysed(large_uri, done)
    await recorder.until(lambda: recorder.count("inlayHintRefresh") > 0)
    assert await inlay_hints(client, large_uri) == expected(large)

    # Over the limit: one info diagnostic, nothing analysed, no hints.
    huge = big_text(LIMIT_KB + 64)
    huge_uri = open_text(client, ROOT / "tests" / "huge_model.py", huge)
    await recorder.analysed(huge_uri)
    await recorder.until(lambda: "FS402" in codes(client, huge_uri))
    [diagnostic] = client.diagnostics[huge_uri]
    assert diagnostic.severity == types.DiagnosticSeverity.Information
    assert "flopsight.maxFileSizeKB" in diagnostic.message
    assert await inlay_hints(client, huge_uri) == {}

    held = await stats(client)
    assert held["documents"] == 3 and held["texts"] == 3
    for uri in (large_uri, small_uri, huge_uri):
        client.text_document_did_close(
            types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
    # Closing releases every text and cached line map of the documents.
    await recorder.until(lambda: not client.diagnostics.get(huge_uri))
    held = await stats(client)
    assert held == {"documents": 0, "texts": 0, "lineMapCacheEntries": 0, "lineMapCacheChars": 0}
