"""Issue 18 #6: one document's hanging model does not hold up another document, through the
real server: a good file gets its hints while the other job still hangs (sleeping, or spinning
on a core), and editing a document kills its older job. The time budget is measured in
bench/bench_hang.py, not asserted here."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest
import pytest_lsp
from lsp_harness import EXAMPLES, SERVER, inlay_hints, line_of, open_text, replace_all, start
from process_watch import NAME_PROCESS, processes_named, unique_tag
from pytest_lsp import LanguageClient


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


HANGS = {
    "sleeps": "time.sleep(600)",
    "spins": "while True:\n                    pass",
}


def hanging_model(cls: str, name: str, began: Path, how: str) -> str:
    return NAME_PROCESS + textwrap.dedent(
        f"""\
        import time
        from pathlib import Path
        from torch import nn


        class {cls}(nn.Module):  # flopsight: input=(1, 8)
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 8)

            def forward(self, x):
                name_process({name!r})
                Path({str(began)!r}).write_text("began")
                {HANGS[how]}
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


@pytest.mark.parametrize("how", sorted(HANGS))
async def test_a_good_file_counts_while_another_documents_job_hangs(
    client: LanguageClient, tmp_path: Path, how: str
) -> None:
    recorder = await start(client, {"convention": "ptflops"})
    name, began = f"fs-cd{unique_tag()}", tmp_path / "began"
    hang_uri = open_text(client, tmp_path / "hang.py", hanging_model("Hangs", name, began, how))
    await until(began.exists)

    seed = EXAMPLES / "seed_mlp.py"
    uri = open_text(client, seed)
    await recorder.analysed(uri)
    # The good file finished while the hang still runs (its 60 s limit is far off).
    assert recorder.finished(hang_uri) == 0
    assert len(processes_named(name)) == 1
    hints = await inlay_hints(client, uri)
    # ptflops convention: Linear(784, 512) = 784 * 512 MACs + 512 for the bias = 401,920.
    assert hints[line_of(seed.read_text(), "nn.Linear(28 * 28, 512)")].startswith("401.92 KMac")


async def test_editing_a_document_kills_its_older_job(
    client: LanguageClient, tmp_path: Path
) -> None:
    await start(client)
    old, new = f"fs-ed{unique_tag()}", f"fs-ed{unique_tag()}"
    began, began_again = tmp_path / "began", tmp_path / "began-again"
    path = tmp_path / "hang.py"
    uri = open_text(client, path, hanging_model("Hangs", old, began, "sleeps"))
    await until(began.exists)
    assert len(processes_named(old)) == 1
    # The edit renames the model: the older job (a model the text no longer has) is killed.
    replace_all(client, uri, hanging_model("Renamed", new, began_again, "sleeps"), version=2)
    await until(lambda: processes_named(old) == [], timeout_s=5)
    await until(began_again.exists)
    assert len(processes_named(new)) == 1
