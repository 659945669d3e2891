"""The server process: capabilities, no torch in its own process, python -m flopsight.lsp --tcp."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import pytest_lsp
from lsp_harness import EXAMPLES, SERVER, open_text, start
from lsprotocol import types
from pygls.lsp.client import LanguageClient as PlainClient
from pytest_lsp import LanguageClient


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


async def test_capabilities_and_no_torch_in_the_server(client: LanguageClient) -> None:
    recorder = await start(client)
    uri = open_text(client, EXAMPLES / "seed_mlp.py")
    await recorder.analysed(uri)
    server = client._server  # the server's subprocess
    assert server is not None
    maps = Path(f"/proc/{server.pid}/maps").read_text()
    assert "libtorch" not in maps and "torch/_C" not in maps


async def test_initialize_result(client: LanguageClient) -> None:
    result = await client.initialize_session(
        types.InitializeParams(capabilities=types.ClientCapabilities())
    )
    caps = result.capabilities
    assert result.server_info is not None and result.server_info.name == "flopsight"
    assert caps.inlay_hint_provider and caps.hover_provider and caps.code_lens_provider
    assert caps.code_action_provider
    assert caps.execute_command_provider is not None
    assert "flopsight.showReport" in caps.execute_command_provider.commands


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_tcp() -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "flopsight.lsp", "--tcp", f"127.0.0.1:{port}"],
        stderr=subprocess.DEVNULL,
    )
    try:
        client = PlainClient("test", "1")
        for _ in range(200):
            try:
                await client.start_tcp("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.05)
        result = await client.initialize_async(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(),
                initialization_options={"execute": False},
            )
        )
        assert result.capabilities.inlay_hint_provider
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()
    finally:
        proc.kill()
        proc.wait(10)


def test_early_initialize_answer_matches_pygls() -> None:
    """fast_start answers initialize with a constant: it must be what pygls computes."""
    from flopsight.lsp.fast_start import initialize_result
    from flopsight.lsp.handlers import server
    from pygls.capabilities import ServerCapabilitiesBuilder

    fm = server.protocol.fm
    for client_caps, encoding in [
        ({}, "utf-16"),
        ({"general": {"positionEncodings": ["utf-32", "utf-16"]}}, "utf-32"),
        ({"general": {"positionEncodings": ["latin-1", "utf-8"]}}, "utf-8"),
        ({"notebookDocument": {"synchronization": {}}}, "utf-16"),
    ]:
        caps = server.protocol._converter.structure(client_caps, types.ClientCapabilities)
        built = ServerCapabilitiesBuilder(
            caps,
            set({**fm.features, **fm.builtin_features}),
            fm.feature_options,
            list(fm.commands),
            server._text_document_sync_kind,
            server._notebook_document_sync,
            types.PositionEncodingKind(encoding),
        ).build()
        expected = server.protocol._converter.unstructure(built)
        early = initialize_result({"capabilities": client_caps})
        assert early["capabilities"] == expected
        assert ("notebookDocumentSync" in expected) == ("notebookDocument" in client_caps)
        assert early["serverInfo"]["name"] == "flopsight"
