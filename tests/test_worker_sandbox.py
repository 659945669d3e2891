"""Issue 18 #8: the file's code runs in a sandbox where the kernel allows one
(``flopsight.sandbox``: "auto", the default; "off"). Three models try what the issue's tester
did: open a socket to a loopback listener the test runs, write a well-formed
``window/showMessage`` into the language server's stdout through ``/proc/<pid>/fd/1``, and
write a file outside the workspace and the temporary folder. With "auto" each is blocked when
the kernel (probed here independently of flopsight) allows namespaces or Landlock; with "off"
each goes through, which shows the models really try."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import pytest_lsp
from flopsight.cli import main
from flopsight.job import AnalysisRequest
from flopsight.report.model import FileReport
from flopsight.worker import WorkerPool
from lsp_harness import SERVER, inlay_hints, open_text, start
from process_watch import kernel_allows_namespaces, kernel_landlock_abi
from pytest_lsp import LanguageClient

SCHEMA = json.loads(
    (Path(__file__).parents[1] / "server/flopsight/schema/report.schema.json").read_text()
)
NAMESPACES = kernel_allows_namespaces()
LANDLOCK = kernel_landlock_abi()

MODEL = """

class Net(nn.Module):  # flopsight: input=(1, 8)
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(x)
"""

CONNECT = textwrap.dedent(
    """\
    import socket
    from torch import nn


    def connect(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            return "connected"
        except OSError as e:
            return f"refused: {{e}}"


    _ = print("connect:", connect({port}))
    """
)

WRITE = textwrap.dedent(
    """\
    from pathlib import Path
    from torch import nn


    def write(path):
        try:
            Path(path).write_text("written by the model")
            return "written"
        except OSError as e:
            return f"refused: {{e}}"


    _ = print("outside:", write({outside!r}))
    _ = print("inside:", write({inside!r}))
    """
)

# Finds the language server as a same-user process would and writes a framed notification
# into its stdout, which the editor reads.
SHOW_MESSAGE = textwrap.dedent(
    """\
    import json, os
    from torch import nn


    def inject(text):
        body = json.dumps(
            {{"jsonrpc": "2.0", "method": "window/showMessage",
              "params": {{"type": 1, "message": text}}}}
        ).encode()
        frame = b"Content-Length: %d\\r\\n\\r\\n" % len(body) + body
        hits = 0
        for pid in os.listdir("/proc"):
            try:
                cmdline = open(f"/proc/{{pid}}/cmdline", "rb").read()
                if b"flopsight.lsp" in cmdline:
                    with open(f"/proc/{{pid}}/fd/1", "wb") as out:
                        out.write(frame)
                    hits += 1
            except OSError:
                pass
        return hits


    _ = print("injected into", inject({text!r}), "processes")
    """
)


@pytest.fixture(scope="module", params=["auto", "off"])
def pool(request: pytest.FixtureRequest) -> Iterator[WorkerPool]:
    with WorkerPool(max_children=2, sandbox=request.param) as p:
        assert p.wait_ready()
        yield p


def run(pool: WorkerPool, text: str, workspace: Path) -> FileReport:
    report = pool.analyse_blocking(
        AnalysisRequest(text=text + MODEL, path=str(workspace / "m.py"), root=str(workspace))
    )
    net = report.model("Net")
    assert net.status == "ok", net.error
    assert net.total is not None and net.total.macs == 8 * 4  # Linear(8, 4) at (1, 8)
    return report


def test_a_socket_to_a_loopback_listener_is_blocked(pool: WorkerPool, tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(1.0)
    try:
        port = listener.getsockname()[1]
        report = run(pool, CONNECT.format(port=port), tmp_path)
        try:
            listener.accept()[0].close()
            reached = True
        except TimeoutError:
            reached = False
    finally:
        listener.close()
    assert report.sandbox is not None and report.sandbox["mode"] == pool.sandbox
    jsonschema.validate(report.to_json(), SCHEMA)  # the sandbox field is in the schema
    if pool.sandbox == "off":
        assert reached and "connect: connected" in report.output
        assert report.sandbox["network"] == "host"
    elif NAMESPACES or LANDLOCK >= 4:
        assert not reached and "connect: refused" in report.output
        assert report.sandbox["network"] == "none"
    else:
        assert report.sandbox["network"] == "host"  # says what it could not hold


def test_writes_outside_the_workspace_are_blocked(pool: WorkerPool, tmp_path: Path) -> None:
    # Outside both the workspace (tmp_path) and the temporary folder the job may write to.
    base = "/var/tmp" if os.access("/var/tmp", os.W_OK) else str(Path.home())
    assert not os.path.realpath(base).startswith(os.path.realpath(tempfile.gettempdir()))
    folder = Path(tempfile.mkdtemp(prefix="flopsight-outside-", dir=base))
    try:
        outside, inside = folder / "outside.txt", tmp_path / "inside.txt"
        report = run(pool, WRITE.format(outside=str(outside), inside=str(inside)), tmp_path)
        assert inside.read_text() == "written by the model"  # the workspace stays writable
        assert report.sandbox is not None
        if pool.sandbox == "auto" and LANDLOCK > 0:
            assert not outside.exists() and "outside: refused" in report.output
            assert report.sandbox["landlock"] == LANDLOCK
            assert str(tmp_path.resolve()) in report.sandbox["writable"]
        else:
            assert outside.read_text() == "written by the model"
            assert report.sandbox["landlock"] is None
    finally:
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()


@pytest_lsp.fixture(config=SERVER, params=["auto", "off"])
async def client(lsp_client: LanguageClient, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    lsp_client.sandbox = request.param  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


async def test_a_message_written_into_the_servers_stdout_does_not_reach_the_editor(
    client: LanguageClient, tmp_path: Path
) -> None:
    sandbox = client.sandbox  # type: ignore[attr-defined]
    recorder = await start(client, {"sandbox": sandbox})
    text = f"injected by the model {os.getpid()}"
    uri = open_text(client, tmp_path / "inject.py", SHOW_MESSAGE.format(text=text) + MODEL)
    await recorder.analysed(uri)
    await asyncio.sleep(0.5)  # anything written reaches the client by now
    shown = [m.message for m in client.messages if m.message == text]
    if sandbox == "off":
        assert shown == [text]  # without the sandbox the attack works
    elif NAMESPACES:
        assert shown == []
    # The server's stream stayed in step: it still answers, with the model's hint.
    hints = await inlay_hints(client, uri)
    assert any(label.startswith("32 Mac") for label in hints.values())  # Linear(8, 4): 8 * 4


def test_the_cli_report_says_what_the_sandbox_held(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLOPSIGHT_IN_PROCESS", raising=False)  # the real worker
    model = tmp_path / "m.py"
    model.write_text("from torch import nn\n" + MODEL)
    assert main(["report", str(model), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    jsonschema.validate(report, SCHEMA)
    sandbox = report["sandbox"]
    assert sandbox["mode"] == "auto"
    assert sandbox["pid_namespace"] is NAMESPACES and sandbox["user_namespace"] is NAMESPACES
    # "hidden": a kernel that refused a fresh /proc (in a container) got an empty one.
    assert sandbox["proc"] in (("private", "hidden") if NAMESPACES else ("host",))
    assert sandbox["network"] == ("none" if NAMESPACES or LANDLOCK >= 4 else "host")
    assert sandbox["landlock"] == (LANDLOCK or None)
