"""Issue 18 #1: turning execution off (or a workspace losing trust, which the VS Code client
sends as ``execute: false``) and closing a document kill what is queued or running for it at
once, through the real server."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest_lsp
from lsp_harness import SERVER, open_text, start
from lsprotocol import types
from process_watch import NAME_PROCESS, processes_named, unique_tag
from pytest_lsp import LanguageClient


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


def hanging_model(name: str, began: Path) -> str:
    """A model whose forward names its process, says it began, then sleeps for ten minutes."""
    return NAME_PROCESS + textwrap.dedent(
        f"""\
        import time
        from pathlib import Path
        from torch import nn


        class Hangs(nn.Module):  # flopsight: input=(1, 8)
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 8)

            def forward(self, x):
                name_process({name!r})
                Path({str(began)!r}).write_text("began")
                time.sleep(600)
                return self.fc(x)
        """
    )


def marker_file(began: Path, marker: Path) -> str:
    """Two models; the file's top-level assignment (run by each model's job) says it began,
    waits 3 s, then writes the marker."""
    return textwrap.dedent(
        f"""\
        import time
        from pathlib import Path
        from torch import nn

        _ = Path({str(began)!r}).write_text("began")
        _ = time.sleep(3)
        _ = Path({str(marker)!r}).write_text("the file's code ran")


        class First(nn.Module):  # flopsight: input=(1, 4)
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)

            def forward(self, x):
                return self.fc(x)


        class Second(nn.Module):  # flopsight: input=(1, 4)
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 2)

            def forward(self, x):
                return self.fc(x)
        """
    )


async def until(condition: object, timeout_s: float = 120.0) -> None:
    assert callable(condition)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_execute_off_kills_running_and_queued_jobs(
    client: LanguageClient, tmp_path: Path
) -> None:
    recorder = await start(client)
    tag = unique_tag()
    hang_began, began, marker = tmp_path / "hang-began", tmp_path / "began", tmp_path / "marker"
    hang_uri = open_text(client, tmp_path / "hang.py", hanging_model(f"fs-off-{tag}", hang_began))
    await until(hang_began.exists)
    marker_uri = open_text(client, tmp_path / "marker.py", marker_file(began, marker))
    await until(began.exists)
    assert len(processes_named(f"fs-off-{tag}")) == 1  # the hang runs (ps before)

    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"flopsight": {"execute": False}})
    )
    await until(lambda: any(d.code == "FS401" for d in client.diagnostics.get(marker_uri, [])))
    # The hang's child is gone at once (ps after), and the marker job's 3 s wait passes
    # without the marker: its running job was killed, its queued one dropped.
    await until(lambda: processes_named(f"fs-off-{tag}") == [], timeout_s=5)
    await asyncio.sleep(5)
    assert not marker.exists()
    assert any(d.code == "FS401" for d in client.diagnostics[hang_uri])
    assert recorder.finished(marker_uri) >= 1


async def test_closing_a_document_kills_its_job(client: LanguageClient, tmp_path: Path) -> None:
    await start(client)
    tag = unique_tag()
    began = tmp_path / "began"
    uri = open_text(client, tmp_path / "hang.py", hanging_model(f"fs-close-{tag}", began))
    await until(began.exists)
    assert len(processes_named(f"fs-close-{tag}")) == 1
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    # Well inside the 60 s limit the tests run under: the close killed it.
    await until(lambda: processes_named(f"fs-close-{tag}") == [], timeout_s=5)
