"""Shared by the tests of issue 18: find the processes a model started by the name it gave them.

A model calls ``name_process("fs-...")`` (``prctl(PR_SET_NAME)``, kept across fork, inherited
by nothing else); the test lists processes by that name with psutil, wherever they were
reparented, before and after the event under test."""

from __future__ import annotations

import ctypes
import os
import time
import uuid

import psutil

# Pasted into model texts: names the calling process (15 bytes at most, as the kernel keeps).
NAME_PROCESS = """\
import ctypes as _ctypes


def name_process(name):
    _ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)
"""


def unique_tag() -> str:
    return uuid.uuid4().hex[:6]


def processes_named(prefix: str) -> list[psutil.Process]:
    """Live (not zombie) processes whose name starts with ``prefix``."""
    found = []
    for proc in psutil.process_iter(["name", "status"]):
        try:
            if proc.info["name"].startswith(prefix) and proc.info["status"] != "zombie":
                found.append(proc)
        except (psutil.NoSuchProcess, AttributeError):
            pass
    return found


def processes_with_argv(argv: list[str]) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["cmdline"] == argv and proc.info["status"] != "zombie":
                found.append(proc)
        except psutil.NoSuchProcess:
            pass
    return found


def wait_until(condition: object, timeout_s: float = 30.0) -> bool:
    assert callable(condition)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())


def kernel_allows_namespaces() -> bool:
    """Whether a forked process may unshare a user + network + mount + PID namespace here
    (probed independently of flopsight's sandbox)."""
    flags = 0x10000000 | 0x40000000 | 0x00020000 | 0x20000000
    pid = os.fork()
    if pid == 0:
        ok = ctypes.CDLL(None, use_errno=True).unshare(flags) == 0
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def kernel_landlock_abi() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return max(int(libc.syscall(444, None, ctypes.c_size_t(0), 1)), 0)
