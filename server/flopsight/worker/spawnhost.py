"""The host without fork(): a fresh interpreter per job (spawned.py), one thread per job.

Windows has no fork(); ``python -m flopsight.worker.host --spawn`` takes this path anywhere
(the tests run it on Linux). Same protocol and guarantees as the forking host, except that
each job imports torch again (seconds, not milliseconds: its time limit is extended by the
host's own import time) and, on Windows, there is no address-space limit.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import IO, Any

from flopsight.worker.protocol import (
    OUTPUT_HEAD_BYTES,
    OUTPUT_TAIL_BYTES,
    JobOutcome,
    decode,
    encode,
)

WINDOWS = sys.platform == "win32"


class SpawnHost:
    def __init__(self, job_spec: str, ctl_out: int, import_s: float) -> None:
        self.job_spec = job_spec
        self.ctl_out = ctl_out
        self.import_s = import_s
        self.lock = threading.Lock()
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.cancelled: set[int] = set()

    def send(self, message: dict[str, Any]) -> None:
        data = encode(message)
        with self.lock, contextlib.suppress(OSError):
            view = memoryview(data)
            while view:
                view = view[os.write(self.ctl_out, view) :]

    def serve(self) -> None:
        try:
            for line in sys.stdin.buffer:
                if not line.strip():
                    continue
                message = decode(line)
                if message.get("op") == "run":
                    threading.Thread(target=self._run, args=(message,), daemon=True).start()
                elif message.get("op") == "cancel":
                    job_id = int(message["id"])
                    with self.lock:
                        self.cancelled.add(job_id)
                        proc = self.procs.get(job_id)
                    if proc is not None:
                        _kill_tree(proc)
                elif message.get("op") == "exit":
                    break
        finally:
            with self.lock:
                procs = list(self.procs.values())
            for proc in procs:
                _kill_tree(proc)

    def _run(self, message: dict[str, Any]) -> None:
        job_id = int(message["id"])
        started = time.monotonic()
        fd, result_path = tempfile.mkstemp(prefix="flopsight-result-", suffix=".json")
        os.close(fd)
        with tempfile.TemporaryFile() as output:
            cmd = [sys.executable, "-m", "flopsight.worker.spawned", "--job", self.job_spec]
            cmd += ["--result", result_path]
            kwargs: dict[str, Any] = (
                {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}  # type: ignore[attr-defined]
                if WINDOWS
                else {"start_new_session": True}
            )
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=output,
                stderr=output,
                close_fds=True,
                env=dict(os.environ, FLOPSIGHT_HOST_PID=str(os.getpid())),
                **kwargs,
            )
            with self.lock:
                self.procs[job_id] = proc
            self.send({"op": "started", "id": job_id, "pid": proc.pid})
            order = {"request": message["request"], "memory_mb": message["memory_mb"]}
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.write(json.dumps(order).encode())
                proc.stdin.close()
            timed_out = False
            try:
                proc.wait(timeout=float(message["timeout_s"]) + self.import_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            _kill_tree(proc)  # also what the job left running
            proc.wait()
            with self.lock:
                self.procs.pop(job_id, None)
                cancelled = job_id in self.cancelled
                self.cancelled.discard(job_id)
            result = None
            if proc.returncode == 0:
                with contextlib.suppress(OSError, ValueError):
                    with open(result_path, encoding="utf-8") as f:
                        loaded = json.load(f)
                    result = loaded if isinstance(loaded, dict) else None
            with contextlib.suppress(OSError):
                os.unlink(result_path)
            text, size = _head_and_tail(output)
        outcome = JobOutcome(
            id=job_id,
            result=result,
            exit_code=proc.returncode,
            timed_out=timed_out,
            cancelled=cancelled,
            output=text,
            output_bytes=size,
            elapsed_ms=(time.monotonic() - started) * 1000.0,
        )
        self.send(outcome.to_json())


def _head_and_tail(output: IO[bytes]) -> tuple[str, int]:
    size = output.seek(0, os.SEEK_END)
    output.seek(0)
    head = output.read(OUTPUT_HEAD_BYTES)
    if size <= OUTPUT_HEAD_BYTES + OUTPUT_TAIL_BYTES:
        return (head + output.read()).decode(errors="replace"), size
    output.seek(size - OUTPUT_TAIL_BYTES)
    tail = output.read()
    dropped = size - len(head) - len(tail)
    text = head.decode(errors="replace") + f"\n[... {dropped} bytes of output dropped ...]\n"
    return text + tail.decode(errors="replace"), size


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    if WINDOWS:
        subprocess.run(
            ["taskkill", "/F", "/T", "/PID", str(proc.pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        return
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
