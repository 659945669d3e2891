"""The job's sandbox (Linux): what the file's code may reach, as far as the kernel allows.

``enter(mode)`` runs in a freshly forked job child before any thread exists. With ``"auto"``
it takes the strongest of these the kernel grants, and records what it got:

- a user namespace (unprivileged: the rest needs no real privilege), mapping the caller's uid
  and gid to themselves, so files keep their owners;
- a network namespace: only a loopback interface, down: no connection reaches this machine's
  listeners or any other host;
- a mount and a PID namespace with a fresh ``/proc``: the server, the editor and every other
  process are out of sight, so ``/proc/<pid>/fd/1`` of the server cannot be opened, and when
  the namespace's first process dies the kernel kills everything the job started in it,
  daemons included. The child forks twice for that: a keeper outside the namespace (the host
  sees it as the job), an init inside it that reaps, and the job under the init.

``restrict_writes(paths)`` then adds Landlock, once the job's workspace is known: writes only
beneath the workspace, the temporary folder and ``/dev``; with Landlock ABI 4 no TCP bind or
connect, with ABI 6 no abstract unix sockets and no signals to processes outside the job.

Standard library only: this runs in the models' interpreter.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import signal
import struct
import sys
from typing import Any, NoReturn

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REC = 0x4000
MS_PRIVATE = 1 << 18

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38

SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1

# Landlock's write rights, each with the ABI that introduced it (reading stays unrestricted).
_WRITE_RIGHTS = (
    (1 << 1, 1),  # WRITE_FILE
    (1 << 4, 1),  # REMOVE_DIR
    (1 << 5, 1),  # REMOVE_FILE
    (1 << 6, 1),  # MAKE_CHAR
    (1 << 7, 1),  # MAKE_DIR
    (1 << 8, 1),  # MAKE_REG
    (1 << 9, 1),  # MAKE_SOCK
    (1 << 10, 1),  # MAKE_FIFO
    (1 << 11, 1),  # MAKE_BLOCK
    (1 << 12, 1),  # MAKE_SYM
    (1 << 13, 2),  # REFER
    (1 << 14, 3),  # TRUNCATE
)
LANDLOCK_ACCESS_NET_BIND_TCP = 1 << 0
LANDLOCK_ACCESS_NET_CONNECT_TCP = 1 << 1
LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
LANDLOCK_SCOPE_SIGNAL = 1 << 1

SANDBOX_MODES = ("auto", "off")

# What this process's sandbox holds; attached to the job's report.
_status: dict[str, Any] = {"mode": "off"}


def status() -> dict[str, Any]:
    return dict(_status)


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def _errno_text() -> str:
    return os.strerror(ctypes.get_errno())


def enter(mode: str, cgroup: str | None = None) -> dict[str, Any]:
    """Put this (single-threaded, just forked) process into the sandbox ``mode`` asks for.

    Returns in the process that is to run the job, which may be a grandchild of the caller;
    the caller and the middle process then only wait and pass the job's exit status on.
    ``cgroup``: the job's cgroup folder, when the host gave it one (reported, either mode)."""
    global _status
    _status = {
        "mode": mode,
        "user_namespace": False,
        "network": "host",
        "pid_namespace": False,
        "proc": "host",
        "landlock": None,
        "writable": None,
        "cgroup": cgroup is not None,
        "notes": [],
    }
    if mode == "off":
        return status()
    if not sys.platform.startswith("linux"):
        _status["notes"].append(f"no sandbox on {sys.platform}")
        return status()
    libc = _libc()
    uid, gid = os.getuid(), os.getgid()
    attempts = [
        CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID,
        CLONE_NEWUSER | CLONE_NEWNET,
    ]
    if os.geteuid() == 0:  # root where user namespaces are off: the other namespaces still work
        attempts += [CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID, CLONE_NEWNET]
    flags = 0
    for candidate in attempts:
        if int(libc.unshare(candidate)) == 0:
            flags = candidate
            break
        _status["notes"].append(f"unshare({_flag_names(candidate)}): {_errno_text()}")
    if flags & CLONE_NEWUSER:
        try:
            _write("/proc/self/setgroups", "deny")
            _write("/proc/self/uid_map", f"{uid} {uid} 1")
            _write("/proc/self/gid_map", f"{gid} {gid} 1")
            _status["user_namespace"] = True
        except OSError as e:
            _status["notes"].append(f"user namespace id maps: {e}")
    if flags & CLONE_NEWNET:
        _status["network"] = "none"
    if flags & CLONE_NEWPID:
        _into_pid_namespace(libc)
    return status()


def _flag_names(flags: int) -> str:
    names = [
        ("CLONE_NEWUSER", CLONE_NEWUSER),
        ("CLONE_NEWNET", CLONE_NEWNET),
        ("CLONE_NEWNS", CLONE_NEWNS),
        ("CLONE_NEWPID", CLONE_NEWPID),
    ]
    return "|".join(name for name, bit in names if flags & bit)


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _into_pid_namespace(libc: Any) -> None:
    """Fork the namespace's init, which mounts a fresh /proc and forks the job under it."""
    # Above the standard descriptors, which the keeper and the init point at /dev/null.
    status_r, status_w = _pipe_above_stdio()
    init = os.fork()
    if init > 0:
        os.close(status_w)
        _keep(init, status_r)
    os.close(status_r)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # the keeper died: so does the job
    _status["pid_namespace"] = True
    # Mounts made here stay here; then a /proc that shows this namespace's processes only.
    if int(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None)) != 0:
        _status["notes"].append(f"making / private: {_errno_text()}")
    elif int(libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)) == 0:
        _status["proc"] = "private"
    elif int(libc.mount(b"tmpfs", b"/proc", b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)) == 0:
        _status["proc"] = "hidden"  # a fresh proc was refused (a container): no /proc at all
    else:
        _status["notes"].append(f"mounting /proc: {_errno_text()}")
    job = os.fork()
    if job > 0:
        _reap_as_init(job, status_w)
    os.close(status_w)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _pipe_above_stdio() -> tuple[int, int]:
    ends = []
    for fd in os.pipe():
        high = fd if fd > 2 else fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
        if high != fd:
            os.close(fd)
        ends.append(high)
    return ends[0], ends[1]


def _quiet() -> None:
    """A keeper or init holds no descriptor of the job's: stdio to /dev/null, the rest closed."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        if fd != devnull:
            os.dup2(devnull, fd)
    if devnull > 2:
        os.close(devnull)


def _keep(init: int, status_r: int) -> NoReturn:
    """The keeper: wait for the init, then exit as the job did (the host reads this status)."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _quiet()
        os.closerange(3, status_r)
        os.closerange(status_r + 1, _max_fd())
        _, own = os.waitpid(init, 0)
        data = b""
        with contextlib.suppress(OSError):
            data = os.read(status_r, 4)
        wait_status = struct.unpack("i", data)[0] if len(data) == 4 else own
        _exit_like(wait_status)
    finally:
        os._exit(70)


def _reap_as_init(job: int, status_w: int) -> NoReturn:
    """PID 1 of the namespace: reap every orphan; when the job ends, say how and exit, which
    makes the kernel kill whatever else still runs in the namespace."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _quiet()
        os.closerange(3, status_w)
        os.closerange(status_w + 1, _max_fd())
        while True:
            pid, wait_status = os.waitpid(-1, 0)
            if pid == job:
                with contextlib.suppress(OSError):
                    os.write(status_w, struct.pack("i", wait_status))
                os._exit(0)
    finally:
        os._exit(70)


def _exit_like(wait_status: int) -> NoReturn:
    if os.WIFSIGNALED(wait_status):
        sig = os.WTERMSIG(wait_status)
        with contextlib.suppress(OSError, ValueError):
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.waitstatus_to_exitcode(wait_status) if os.WIFEXITED(wait_status) else 70)


def _max_fd() -> int:
    try:
        return max(int(fd) for fd in os.listdir("/proc/self/fd")) + 1
    except (OSError, ValueError):
        return int(os.sysconf("SC_OPEN_MAX"))


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 where there is none."""
    if not sys.platform.startswith("linux"):
        return 0
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    version = int(
        libc.syscall(
            SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), LANDLOCK_CREATE_RULESET_VERSION
        )
    )
    return max(version, 0)


def restrict_writes(writable: list[str]) -> dict[str, Any]:
    """Landlock for the rest of this process and what it starts: writes beneath ``writable``
    only; no TCP and no signals or abstract sockets outside the job where the ABI has them."""
    if _status.get("mode") != "auto":
        return status()
    abi = landlock_abi()
    if abi <= 0:
        _status["notes"].append("Landlock: not available in this kernel")
        return status()
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    handled = 0
    for right, since in _WRITE_RIGHTS:
        if abi >= since:
            handled |= right
    net = LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP if abi >= 4 else 0
    scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL if abi >= 6 else 0
    fields = [handled] + ([net] if abi >= 4 else []) + ([scoped] if abi >= 6 else [])
    attr = struct.pack(f"{len(fields)}Q", *fields)
    ruleset = int(libc.syscall(SYS_LANDLOCK_CREATE_RULESET, attr, ctypes.c_size_t(len(attr)), 0))
    if ruleset < 0:
        _status["notes"].append(f"Landlock ruleset: {_errno_text()}")
        return status()
    allowed: list[str] = []
    try:
        for path in dict.fromkeys(os.path.realpath(p) for p in writable if p):
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                rule = struct.pack("=Qi", handled, fd)  # landlock_path_beneath_attr, packed
                if (
                    int(
                        libc.syscall(
                            SYS_LANDLOCK_ADD_RULE, ruleset, LANDLOCK_RULE_PATH_BENEATH, rule, 0
                        )
                    )
                    == 0
                ):
                    allowed.append(path)
                else:
                    _status["notes"].append(f"Landlock rule for {path}: {_errno_text()}")
            finally:
                os.close(fd)
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        if int(libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0)) != 0:
            _status["notes"].append(f"Landlock restrict_self: {_errno_text()}")
            return status()
    finally:
        os.close(ruleset)
    _status["landlock"] = abi
    _status["writable"] = allowed
    if net:
        _status["network"] = "none"
    return status()
