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
    # The server's own ids: the editor's commands (flopsight.showReport) never collide with them.
    assert set(caps.execute_command_provider.commands) == {
        "flopsight.server.showReport",
        "flopsight.server.measure",
        "flopsight.server.stats",
    }
    # pygls answers initialize itself: the position encoding is negotiated (UTF-16 by default).
    assert caps.position_encoding in (None, types.PositionEncodingKind.Utf16)


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
