"""Settings: workspace/configuration, didChangeConfiguration (a change re-analyses the open
documents) and initializationOptions for clients without configuration support.

Linear(784, 512) of the seed MLP: 784·512 = 401,408 MACs in the macs convention (401.41 KMac),
784·512 + 512 = 401,920 in ptflops (bias added: 401.92 KMac).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
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


# ----------------------------------------------------------------------------- checked values
# (issue 18, cases 2 and 5; each failed before: the file's code ran with execute "false", and a
# huge limit crashed the worker host on every job.)


def _warnings(client: LanguageClient) -> list[str]:
    return [m.message for m in client.messages if m.type == types.MessageType.Warning]


def _marker_file(tmp_path: Path) -> tuple[Path, str]:
    marker = tmp_path / "ran.txt"
    text = (
        "from torch import nn\n"
        f"_ = open({str(marker)!r}, 'w').write('ran')  # an assignment: it runs\n"
        "net = nn.Linear(4, 2)  # flopsight: input=(1, 4)\n"
    )
    return marker, text


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("false", "'false' (a string)"),
        (0, "0 (a number)"),
        (None, "null"),
        ("true", "'true' (a string)"),
    ],
)
async def test_execute_is_on_only_when_true(
    client: LanguageClient, tmp_path: Path, value: object, shown: str
) -> None:
    recorder = await start(client, {"execute": value})
    marker, text = _marker_file(tmp_path)
    uri = open_text(client, tmp_path / "writes.py", text)
    await recorder.analysed(uri)
    assert not marker.exists()
    assert [d.code for d in client.diagnostics[uri]] == ["FS401"]
    assert _warnings(client) == [
        f"flopsight.execute: expected true or false, got {shown}; execution is off until it is true"
    ]


async def test_execute_pushed_as_zero_turns_execution_off(
    client: LanguageClient, tmp_path: Path
) -> None:
    recorder = await start(client)
    marker, text = _marker_file(tmp_path)
    uri = open_text(client, tmp_path / "writes.py", text)
    await recorder.analysed(uri)
    assert marker.read_text() == "ran"  # execution on: the assignment ran
    marker.unlink()
    done = recorder.finished(uri)
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"flopsight": {"execute": 0}})
    )
    await recorder.analysed(uri, done)
    assert [d.code for d in client.diagnostics[uri]] == ["FS401"]
    assert not marker.exists()
    assert _warnings(client) == [
        "flopsight.execute: expected true or false, got 0 (a number); execution is off until it "
        "is true"
    ]


@pytest.mark.parametrize(
    ("limits", "warning"),
    [
        # Before: overflowed the host's wait on every job (FS304 for ever).
        (
            {"timeoutSeconds": 2.2e6},
            "flopsight.limits.timeoutSeconds: 2200000.0 (a number) is out of range: give a number "
            "of seconds above 0 and at most 86400 (a day); the previous value stays",
        ),
        # Before: 2**45 MB is 2**65 bytes, past RLIMIT_AS's 64 bits (FS303, exit status 70).
        (
            {"memoryMB": 2**45},
            f"flopsight.limits.memoryMB: {2**45} (a number) is out of range: give a number of "
            "megabytes above 0 and at most 16777216 (16 TiB); the previous value stays",
        ),
    ],
    ids=["timeoutSeconds", "memoryMB"],
)
async def test_out_of_range_limits_are_warnings_and_models_still_count(
    client: LanguageClient, limits: dict[str, object], warning: str
) -> None:
    recorder = await start(client, {"limits": limits})
    uri = open_text(client, SEED)
    await recorder.analysed(uri)
    assert (await inlay_hints(client, uri))[FIRST].startswith("401.41 KMac")
    assert not [d for d in client.diagnostics[uri] if d.code in ("FS303", "FS304")]
    assert _warnings(client) == [warning]


async def test_wrong_types_name_their_setting(client: LanguageClient) -> None:
    recorder = await start(
        client,
        {
            "convention": "gflops",
            "debounceMs": "fast",
            "inlayHints": {"enabled": "yes", "show": ["macs", "gflops"]},
            "sandbox": "on",
        },
    )
    uri = open_text(client, SEED)
    await recorder.analysed(uri)
    # The wrong values are not used: the defaults count the model as before.
    assert (await inlay_hints(client, uri))[FIRST].startswith("401.41 KMac")
    named = [w.split(":", 1)[0] for w in _warnings(client)]
    assert named == [
        "flopsight.convention",
        "flopsight.debounceMs",
        "flopsight.inlayHints.enabled",
        "flopsight.inlayHints.show",
        "flopsight.sandbox",
    ]
