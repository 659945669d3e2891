"""Settings: workspace/configuration, didChangeConfiguration (a change re-analyses the open
documents) and initializationOptions for clients without configuration support.

Linear(784, 512) of the seed MLP: 784·512 = 401,408 MACs in the macs convention (401.41 KMac),
784·512 + 512 = 401,920 in ptflops (bias added: 401.92 KMac).
"""

from __future__ import annotations

import sys

import pytest_lsp
from lsp_harness import EXAMPLES, SERVER, inlay_hints, line_of, open_text, start
from lsprotocol import types
from pytest_lsp import LanguageClient

SEED = EXAMPLES / "seed_mlp.py"
FIRST = line_of(SEED.read_text(), "nn.Linear(28 * 28, 512)")


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


async def test_change_of_convention_reanalyses(client: LanguageClient) -> None:
    recorder = await start(client, {"convention": "macs"})
    uri = open_text(client, SEED)
    await recorder.analysed(uri)
    assert (await inlay_hints(client, uri))[FIRST].startswith("401.41 KMac")

    done = recorder.finished(uri)
    client.set_configuration({"debounceMs": 20, "convention": "ptflops"}, section="flopsight")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await recorder.analysed(uri, done)
    assert (await inlay_hints(client, uri))[FIRST].startswith("401.92 KMac")


async def test_settings_pushed_in_the_notification(client: LanguageClient) -> None:
    recorder = await start(client, {"convention": "macs"})
    uri = open_text(client, SEED)
    await recorder.analysed(uri)
    done = recorder.finished(uri)
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"flopsight": {"convention": "ptflops"}})
    )
    await recorder.analysed(uri, done)
    assert (await inlay_hints(client, uri))[FIRST].startswith("401.92 KMac")


async def test_initialization_options(client: LanguageClient) -> None:
    no_configuration = types.ClientCapabilities(
        workspace=types.WorkspaceClientCapabilities(configuration=False)
    )
    recorder = await start(
        client, {"convention": "ptflops"}, init_options=True, capabilities=no_configuration
    )
    uri = open_text(client, SEED)
    await recorder.analysed(uri)
    assert (await inlay_hints(client, uri))[FIRST].startswith("401.92 KMac")


async def test_models_interpreter_setting(client: LanguageClient) -> None:
    # An interpreter that does not exist: the worker is unavailable (FS304), the server serves on.
    recorder = await start(client, {"python": "/nonexistent/bin/python3"})
    uri = open_text(client, SEED)
    await recorder.analysed(uri)
    [diag] = [d for d in client.diagnostics[uri] if d.code == "FS304"]
    assert diag.range.start.line == line_of(SEED.read_text(), "class NeuralNetwork")
    assert "/nonexistent/bin/python3" in diag.message
    # Back to a real one: the model counts.
    done = recorder.finished(uri)
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"flopsight": {"python": sys.executable}})
    )
    await recorder.analysed(uri, done)
    assert (await inlay_hints(client, uri))[FIRST].startswith("401.41 KMac")
