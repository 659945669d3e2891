"""The committed version of a file, read with git (no torch, no protocol): what the code lens
and ``flopsight diff`` compare the current text with.

Every function answers None (or an empty list) where git is missing, the file is not in a
repository, or the revision or the file at that revision does not exist.
"""

from __future__ import annotations

import os
import subprocess

GIT_TIMEOUT_S = 10.0


def _git(cwd: str, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", errors="replace")


def repo_root(path: str) -> str | None:
    """The top folder of the work tree holding ``path`` (a file or a folder)."""
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return None
    out = _git(folder, "rev-parse", "--show-toplevel")
    return os.path.realpath(out.strip()) if out and out.strip() else None


def resolve(root: str, rev: str) -> str | None:
    """The commit ``rev`` names (``HEAD``, a branch, a tag, a hash), as a full hash."""
    if not rev or rev.startswith("-"):
        return None
    out = _git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    return out.strip() if out and out.strip() else None


def relative(root: str, path: str) -> str:
    return os.path.relpath(os.path.realpath(path), root).replace(os.sep, "/")


def text_at(root: str, commit: str, path: str) -> str | None:
    """The file's text in ``commit``; None when it did not exist there."""
    return _git(root, "show", f"{commit}:{relative(root, path)}")


def committed(path: str, rev: str) -> tuple[str, str] | None:
    """(commit hash, the file's text in it) for the file at ``path``; None when there is none."""
    root = repo_root(path)
    if root is None:
        return None
    commit = resolve(root, rev)
    if commit is None:
        return None
    text = text_at(root, commit, path)
    return None if text is None else (commit, text)


def tracked_files(root: str, suffixes: tuple[str, ...] = (".py",)) -> list[str]:
    """Files of the work tree, tracked or new (not ignored), as absolute paths."""
    tracked = _git(root, "ls-files")
    new = _git(root, "ls-files", "--others", "--exclude-standard")
    names = sorted({*(tracked or "").splitlines(), *(new or "").splitlines()})
    paths = [os.path.join(root, n) for n in names if n.endswith(suffixes)]
    return [p for p in paths if os.path.isfile(p)]


def changed_files(root: str, commit: str, suffixes: tuple[str, ...] = (".py",)) -> list[str]:
    """Files of the work tree that differ from ``commit`` (tracked or new), as absolute paths."""
    out = _git(root, "diff", "--name-only", commit, "--")
    new = _git(root, "ls-files", "--others", "--exclude-standard")
    names = sorted({*(out or "").splitlines(), *(new or "").splitlines()})
    paths = [os.path.join(root, n) for n in names if n.endswith(suffixes)]
    return [p for p in paths if os.path.isfile(p)]
