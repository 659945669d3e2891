"""Issue 18 #3: no process a job started outlives it, or the server, however it hid: (a) a chain
of forks that each call ``os.setsid()``, (b) ``sleep 600`` started by a job when the server is
SIGKILLed, (c) a job that daemonises. Each with the sandbox (a PID namespace where the kernel
allows it) and without it (the host, a child subreaper, walks and kills the whole tree, and
dies with the server after killing it). ``ps`` (psutil, by the names the model gave its
processes) before, during and after."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from flopsight.job import AnalysisRequest
from flopsight.worker import WorkerPool
from process_watch import (
    NAME_PROCESS,
    processes_named,
    processes_with_argv,
    unique_tag,
    wait_until,
)

SERVER = Path(__file__).resolve().parents[1] / "server"

MODEL = """
from torch import nn


class Net(nn.Module):  # flopsight: input=(1, 8)
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(x)
"""

# Each level of the chain leaves its parent's session, names itself, says it is up and forks
# the next; the job returns once all four are up.
CHAIN = NAME_PROCESS + textwrap.dedent(
    """\
    import os, time
    from pathlib import Path


    def chain(folder, prefix, depth):
        if os.fork() > 0:
            while len(list(Path(folder).glob("level-*"))) < depth:
                time.sleep(0.01)
            return "up"
        for level in range(1, depth + 1):
            os.setsid()
            name_process(f"{{prefix}}{{level}}")
            Path(folder, f"level-{{level}}").write_text(str(os.getpid()))
            if level == depth or os.fork() > 0:
                time.sleep(600)
                os._exit(0)


    _ = chain({folder!r}, {prefix!r}, 4)
    """
)

# The classic double fork: the daemon is orphaned at once, in a session of its own.
DAEMON = NAME_PROCESS + textwrap.dedent(
    """\
    import os, time
    from pathlib import Path


    def daemonise(folder, name):
        if os.fork() == 0:
            os.setsid()
            if os.fork() > 0:
                os._exit(0)
            name_process(name)
            Path(folder, "daemon").write_text(str(os.getpid()))
            time.sleep(600)
            os._exit(0)
        while not Path(folder, "daemon").exists():
            time.sleep(0.01)
        return "daemonised"


    _ = daemonise({folder!r}, {name!r})
    """
)

# The model's job keeps running (its forward sleeps) after starting `sleep` and a daemon.
SLEEPER = DAEMON + textwrap.dedent(
    """\
    import subprocess
    from torch import nn

    _ = subprocess.Popen({argv!r})


    class Net(nn.Module):  # flopsight: input=(1, 8)
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 4)

        def forward(self, x):
            time.sleep(600)
            return self.fc(x)
    """
)


@pytest.fixture(scope="module", params=["auto", "off"])
def pool(request: pytest.FixtureRequest) -> Iterator[WorkerPool]:
    with WorkerPool(max_children=2, sandbox=request.param) as p:
        assert p.wait_ready()
        yield p


def run(pool: WorkerPool, text: str, folder: Path) -> None:
    report = pool.analyse_blocking(
        AnalysisRequest(text=text + MODEL, path=str(folder / "m.py"), root=str(folder))
    )
    net = report.model("Net")
    assert net.status == "ok", net.error
    assert net.total is not None and net.total.macs == 8 * 4  # Linear(8, 4) at (1, 8)
    assert report.warnings == []


def test_a_chain_of_setsid_forks_dies_with_its_job(pool: WorkerPool, tmp_path: Path) -> None:
    prefix = f"fs-ch{unique_tag()}-"
    assert processes_named(prefix) == []  # ps before
    run(pool, CHAIN.format(folder=str(tmp_path), prefix=prefix), tmp_path)
    # All four levels were up when the job ended (each wrote its file)...
    assert sorted(p.name for p in tmp_path.glob("level-*")) == [f"level-{i}" for i in (1, 2, 3, 4)]
    # ...and none is left (ps after): not one level per clean-up, all of them at once.
    assert wait_until(lambda: processes_named(prefix) == [], timeout_s=2)


def test_a_daemon_dies_with_its_job(pool: WorkerPool, tmp_path: Path) -> None:
    name = f"fs-dm{unique_tag()}"
    assert processes_named(name) == []
    run(pool, DAEMON.format(folder=str(tmp_path), name=name), tmp_path)
    assert (tmp_path / "daemon").exists()
    # Right after this job, not after the next one.
    assert wait_until(lambda: processes_named(name) == [], timeout_s=2)


@pytest.mark.parametrize("sandbox", ["auto", "off"])
def test_server_sigkilled_takes_sleep_and_daemon_along(sandbox: str, tmp_path: Path) -> None:
    tag = unique_tag()
    daemon = f"fs-dk{tag}"
    # `sleep 600 0.<tag>` sleeps 600 s like `sleep 600`, with an argv no other test has.
    argv = ["sleep", "600", f"0.{int(tag, 16)}"]
    text = SLEEPER.format(folder=str(tmp_path), name=daemon, argv=argv)
    (tmp_path / "m.py").write_text(text)
    server = LspProcess(tmp_path, {"sandbox": sandbox, "limits": {"timeoutSeconds": 600}})
    try:
        assert processes_named(daemon) == [] and processes_with_argv(argv) == []  # ps before
        server.open(tmp_path / "m.py", text)
        assert wait_until(lambda: len(processes_with_argv(argv)) == 1, timeout_s=120)
        assert wait_until(lambda: len(processes_named(daemon)) == 1, timeout_s=10)
        hosts = server.hosts()
        assert hosts, "the server started no worker host"
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
        # ps after: the host, the job's sleep and the daemon are all gone.
        assert wait_until(lambda: processes_with_argv(argv) == [], timeout_s=10)
        assert wait_until(lambda: processes_named(daemon) == [], timeout_s=10)
        _, alive = psutil.wait_procs(hosts, timeout=10)
        assert alive == []
    finally:
        server.close()
        for proc in processes_with_argv(argv) + processes_named(daemon):
            proc.kill()


def cgroup_v2_writable() -> bool:
    """Whether this process's cgroup v2 folder takes a sub-folder (probed by hand here)."""
    try:
        own = next(
            line[3:]
            for line in Path("/proc/self/cgroup").read_text().splitlines()
            if line.startswith("0::")
        )
        mount = next(
            f[1]
            for line in Path("/proc/self/mounts").read_text().splitlines()
            if len(f := line.split()) > 2 and f[2] == "cgroup2"
        )
        probe = Path(mount, own.lstrip("/"), f"flopsight-test-probe-{os.getpid()}")
        probe.mkdir()
        probe.rmdir()
        return True
    except (OSError, StopIteration):
        return False


@pytest.mark.parametrize("sandbox", ["auto", "off"])
def test_host_sigkilled_takes_the_daemon_along(sandbox: str, tmp_path: Path) -> None:
    # The host itself dies (SIGKILL: it cleans nothing up). With the sandbox the job's PID
    # namespace dies with it; without, the job's cgroup is killed by the host started next.
    if sandbox == "off" and not cgroup_v2_writable():
        pytest.skip(
            "no writable cgroup v2 here: a daemon outlives a SIGKILLed host without the sandbox"
        )
    name = f"fs-hk{unique_tag()}"
    argv = ["sleep", "600", f"0.{int(name[5:], 16)}"]
    text = SLEEPER.format(folder=str(tmp_path), name=name, argv=argv)
    with WorkerPool(max_children=1, sandbox=sandbox, backoff_s=(0.1, 0.1)) as pool:
        assert pool.wait_ready()
        host = pool.host_pid()
        assert host is not None
        done: list[object] = []
        request = AnalysisRequest(text=text, path=str(tmp_path / "m.py"), root=str(tmp_path))
        worker = threading.Thread(
            target=lambda: done.append(pool.analyse_blocking(request, timeout_s=600))
        )
        worker.start()
        try:
            assert wait_until(lambda: len(processes_named(name)) == 1, timeout_s=60)  # ps before
            os.kill(host, signal.SIGKILL)
            worker.join(30)
            assert pool.wait_ready() and pool.host_pid() != host
            assert wait_until(lambda: processes_named(name) == [], timeout_s=10)  # ps after
            assert wait_until(lambda: processes_with_argv(argv) == [], timeout_s=10)
        finally:
            for proc in processes_named(name) + processes_with_argv(argv):
                proc.kill()


class LspProcess:
    """``python -m flopsight.lsp`` on pipes, driven by hand (so the test can SIGKILL it)."""

    def __init__(self, root: Path, settings: dict[str, object]) -> None:
        env = dict(os.environ, PYTHONPATH=str(SERVER))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flopsight.lsp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self.responses: dict[int, object] = {}
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        self.send(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "processId": os.getpid(),
                    "rootUri": root.as_uri(),
                    "capabilities": {},
                    "initializationOptions": {"flopsight": {"debounceMs": 20, **settings}},
                },
            }
        )
        assert self.ready.wait(60), "no answer to initialize"
        self.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})

    def send(self, message: dict[str, object]) -> None:
        assert self.proc.stdin is not None
        body = json.dumps(message).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def open(self, path: Path, text: str) -> None:
        item = {"uri": path.as_uri(), "languageId": "python", "version": 1, "text": text}
        self.send(
            {
                "jsonrpc": "2.0",
                "method": "textDocument/didOpen",
                "params": {"textDocument": item},
            }
        )

    def hosts(self) -> list[psutil.Process]:
        return [
            p
            for p in psutil.Process(self.proc.pid).children()
            if "flopsight.worker.host" in " ".join(p.cmdline())
        ]

    def _read(self) -> None:
        stream = self.proc.stdout
        assert stream is not None
        while True:
            length = 0
            while (line := stream.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if not line:
                return
            message = json.loads(stream.read(length))
            if message.get("id") == 1:
                self.ready.set()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
