"""Faulty models: a hang (with a short time limit) and os._exit each give a diagnostic, and the
server keeps serving the other files."""

from __future__ import annotations

import pytest_lsp
from lsp_harness import DATA, EXAMPLES, SERVER, inlay_hints, line_of, open_text, start
from lsprotocol import types
from pytest_lsp import LanguageClient


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


async def test_hang_and_crash_then_other_files_still_count(client: LanguageClient) -> None:
    recorder = await start(client, {"convention": "ptflops", "limits": {"timeoutSeconds": 2}})
    hang, crash = DATA / "hang.py", DATA / "crash.py"
    hang_uri, crash_uri = open_text(client, hang), open_text(client, crash)
    await recorder.analysed(hang_uri)
    await recorder.analysed(crash_uri)

    [timeout] = [d for d in client.diagnostics[hang_uri] if d.code == "FS301"]
    assert timeout.range.start.line == line_of(hang.read_text(), "class Hangs")
    assert "2 s" in timeout.message and "flopsight.limits.timeoutSeconds" in timeout.message
    assert timeout.severity == types.DiagnosticSeverity.Error
    [died] = [d for d in client.diagnostics[crash_uri] if d.code == "FS303"]
    assert died.range.start.line == line_of(crash.read_text(), "class Crashes")
    assert "exit status 3" in died.message
    assert await inlay_hints(client, hang_uri) == {}

    # The server and its worker still serve: the seed MLP counts (401,920 MACs for its first
    # Linear in the ptflops convention, by hand in test_lsp_inlay_hints.py).
    seed = EXAMPLES / "seed_mlp.py"
    uri = open_text(client, seed)
    await recorder.analysed(uri)
    hints = await inlay_hints(client, uri)
    assert hints[line_of(seed.read_text(), "nn.Linear(28 * 28, 512)")].startswith("401.92 KMac")
