"""Cost changes against git: the code lens adds "Δ … vs HEAD" (flopsight.compareWith), and
``flopsight diff [REV] [FILES…]`` prints a markdown table per model and exits 1 past
``--max-increase``. In a temporary git repository; every Δ below is worked out by hand from the
Linear layers' sizes (Linear(i, o): i·o MACs, i·o + o params)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
import pytest_lsp
from flopsight.cli import main
from lsp_harness import SERVER, line_of, open_text, replace_all, start
from lsprotocol import types
from pytest_lsp import LanguageClient

COMMITTED = """from torch import nn


class Net(nn.Module):  # flopsight: input=(1, 64)
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(64, 128)
        self.b = nn.Linear(128, 10)

    def forward(self, x):
        return self.b(self.a(x))
"""
# One more Linear(128, 128) in the middle.
EDITED = COMMITTED.replace(
    "        self.b = nn.Linear(128, 10)\n",
    "        self.m = nn.Linear(128, 128)\n        self.b = nn.Linear(128, 10)\n",
).replace("return self.b(self.a(x))", "return self.b(self.m(self.a(x)))")

# Committed: 64·128 + 128·10 = 8,192 + 1,280 = 9,472 MACs; params 8,320 + 1,290 = 9,610.
# Edited: + 128·128 = 16,384 MACs → 25,856; params + 16,512 → 26,122.
# Δ MACs +16,384 = +16.38 KMac, 16,384 / 9,472 = +173.0 %; Δ params +16,512 = +16.51 k.
DELTA = "Δ +16.38 KMac (+173.0 %) · +16.51 k params vs HEAD"
EDITED_TITLE = "25.86 KMac · 51.71 KFLOPs · 26.12 k params · (1, 64)"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / "net.py").write_text(COMMITTED)
    git(root, "add", "net.py")
    git(root, "commit", "-qm", "the first Net")
    return root


# ----------------------------------------------------------------------------- the CLI


@pytest.fixture(autouse=True)
def in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOPSIGHT_IN_PROCESS", "1")


def test_diff_table_and_max_increase(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    (repo / "net.py").write_text(EDITED)
    assert main(["diff", "--max-increase", "5%"]) == 1
    out, err = capsys.readouterr()
    assert "### Net · `net.py` vs HEAD" in out
    assert "| MACs | 9.47 KMac | 25.86 KMac | +16.38 KMac | +173.0 % |" in out
    # 16,512 / 9,610 = +171.8 %
    assert "| params | 9.61 k | 26.12 k | +16.51 k | +171.8 % |" in out
    assert "net.py: Net: MACs grew +173.0 %, past --max-increase 5 %" in err

    # Within a generous limit: the table, exit 0; explicit REV and FILE give the same.
    assert main(["diff", "HEAD", "net.py", "--max-increase", "200%"]) == 0
    assert "| MACs | 9.47 KMac | 25.86 KMac | +16.38 KMac | +173.0 % |" in capsys.readouterr().out


def test_diff_against_an_older_revision_and_nothing_changed(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    (repo / "net.py").write_text(EDITED)
    git(repo, "commit", "-qam", "a middle layer")
    assert main(["diff"]) == 0
    assert "no model's cost differs from HEAD" in capsys.readouterr().out
    # Smaller now than in HEAD: the old version is HEAD~1's.
    (repo / "net.py").write_text(COMMITTED)
    assert main(["diff", "HEAD~1", "--max-increase", "0%"]) == 0
    assert "no model's cost differs from HEAD~1" in capsys.readouterr().out
    assert main(["diff", "HEAD"]) == 0
    assert "| MACs | 25.86 KMac | 9.47 KMac | -16.38 KMac | -63.4 % |" in capsys.readouterr().out


def test_diff_of_a_new_file(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not in HEAD: before is empty, the whole cost is the change."""
    monkeypatch.chdir(repo)
    (repo / "new.py").write_text(COMMITTED)
    assert main(["diff", "--max-increase", "5%"]) == 0  # nothing to grow from
    out = capsys.readouterr().out
    assert "### Net · `new.py` vs HEAD" in out
    assert "| MACs | — | 9.47 KMac | +9.47 KMac | — |" in out
    assert "net.py" not in out  # unchanged since HEAD


def test_diff_errors(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    assert main(["diff", "no-such-rev"]) == 2
    assert "no-such-rev: no such revision" in capsys.readouterr().err
    assert main(["diff", "--max-increase", "lots"]) == 2
    assert "--max-increase 'lots': not a percentage" in capsys.readouterr().err
    outside = tmp_path / "outside"
    outside.mkdir()
    monkeypatch.chdir(outside)
    assert main(["diff"]) == 2
    assert "not in a git repository" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the editor


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


async def lens_titles(client: LanguageClient, uri: str) -> list[str]:
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    return [lens.command.title for lens in lenses or [] if lens.command is not None]


async def compared(recorder: object, uri: str, after: int) -> None:
    await recorder.wait_for("flopsight/compared", uri, after)  # type: ignore[attr-defined]


async def test_lens_delta_against_head(client: LanguageClient, repo: Path) -> None:
    recorder = await start(client, {"compareWith": "HEAD"})
    path = repo / "net.py"
    uri = open_text(client, path)
    await compared(recorder, uri, 0)
    # The buffer is HEAD's text: no Δ.
    [title] = await lens_titles(client, uri)
    assert title == "9.47 KMac · 18.94 KFLOPs · 9.61 k params · (1, 64)"

    replace_all(client, uri, EDITED, 2)
    await compared(recorder, uri, 1)
    [lens] = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    ) or [None]
    assert lens is not None and lens.command is not None
    assert lens.command.title == f"{EDITED_TITLE} · {DELTA}"
    assert lens.range.start.line == line_of(EDITED, "class Net")
    assert recorder.count("codeLensRefresh") >= 2

    # Back to the committed text: the Δ goes.
    replace_all(client, uri, COMMITTED, 3)
    await compared(recorder, uri, 2)
    assert await lens_titles(client, uri) == ["9.47 KMac · 18.94 KFLOPs · 9.61 k params · (1, 64)"]


async def test_compare_with_a_revision_none_and_outside_a_repo(
    client: LanguageClient, repo: Path, tmp_path: Path
) -> None:
    path = repo / "net.py"
    path.write_text(EDITED)
    git(repo, "commit", "-qam", "a middle layer")
    recorder = await start(client, {"compareWith": "HEAD~1"})
    uri = open_text(client, path)
    await compared(recorder, uri, 0)
    assert await lens_titles(client, uri) == [
        f"{EDITED_TITLE} · {DELTA.replace('vs HEAD', 'vs HEAD~1')}"
    ]

    outside = tmp_path / "outside.py"
    outside.write_text(EDITED)
    other = open_text(client, outside)
    await compared(recorder, other, 0)
    assert await lens_titles(client, other) == [EDITED_TITLE]

    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"flopsight": {"compareWith": "none"}})
    )
    client.set_configuration({"debounceMs": 20, "compareWith": "none"}, section="flopsight")
    await recorder.until(lambda: recorder.count("flopsight/compared", uri) > 1)
    await asyncio.sleep(0)
    assert await lens_titles(client, uri) == [EDITED_TITLE]


# A model whose body lives in another file: an edit of that file alone is the model's change,
# counted against the committed versions of both files (same Δ as above: one more
# Linear(128, 128) in the body).
LAYERS = """from torch import nn


class Body(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(64, 128)

    def forward(self, x):
        return self.a(x)
"""
LAYERS_EDITED = LAYERS.replace(
    "self.a = nn.Linear(64, 128)",
    "self.a = nn.Sequential(nn.Linear(64, 128), nn.Linear(128, 128))",
)
SPLIT = """from layers import Body
from torch import nn


class Net(nn.Module):  # flopsight: input=(1, 64)
    def __init__(self):
        super().__init__()
        self.body = Body()
        self.b = nn.Linear(128, 10)

    def forward(self, x):
        return self.b(self.body(x))
"""


@pytest.fixture
def split_repo(tmp_path: Path) -> Path:
    root = tmp_path / "split"
    root.mkdir()
    git(root, "init", "-q")
    (root / "layers.py").write_text(LAYERS)
    (root / "net.py").write_text(SPLIT)
    git(root, "add", "layers.py", "net.py")
    git(root, "commit", "-qm", "a Net over two files")
    return root


def test_diff_of_an_edit_in_an_imported_file(
    split_repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only layers.py changed: net.py's Net runs it, so Net is in the table, its old cost
    counted with the committed layers.py."""
    monkeypatch.chdir(split_repo)
    (split_repo / "layers.py").write_text(LAYERS_EDITED)
    assert main(["diff", "--max-increase", "5%"]) == 1
    out, err = capsys.readouterr()
    assert "### Net · `net.py` vs HEAD" in out
    assert "| MACs | 9.47 KMac | 25.86 KMac | +16.38 KMac | +173.0 % |" in out
    assert "net.py: Net: MACs grew +173.0 %, past --max-increase 5 %" in err
    # Back as committed: no change anywhere.
    (split_repo / "layers.py").write_text(LAYERS)
    assert main(["diff"]) == 0
    assert "no model's cost differs from HEAD" in capsys.readouterr().out


async def test_lens_delta_of_an_edit_in_an_imported_file(
    client: LanguageClient, split_repo: Path
) -> None:
    root = split_repo
    recorder = await start(client, {"compareWith": "HEAD", "compare": False}, root=root)
    layers = open_text(client, root / "layers.py")
    net = open_text(client, root / "net.py")
    await compared(recorder, net, 0)
    assert await lens_titles(client, net) == ["9.47 KMac · 18.94 KFLOPs · 9.61 k params · (1, 64)"]

    # Only layers.py changes, in the buffer: net.py is counted again, and so is its Δ.
    replace_all(client, layers, LAYERS_EDITED, 2)
    titles: list[str] = []
    for _ in range(1200):  # up to 2 minutes: the round, then the committed count
        titles = await lens_titles(client, net)
        if titles and DELTA in titles[0]:
            break
        await asyncio.sleep(0.1)
    assert titles == [f"{EDITED_TITLE} · {DELTA}"]
    assert (root / "layers.py").read_text() == LAYERS  # never saved
