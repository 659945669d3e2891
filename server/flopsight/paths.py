"""Facts about the files a run touches, shared by the worker and the server (torch-free)."""

from __future__ import annotations

import hashlib


def is_installed(path: str) -> bool:
    """Whether ``path`` lies in installed packages (site-packages, dist-packages)."""
    return "site-packages" in path or "dist-packages" in path


def text_digest(text: str) -> str:
    """The sha256 of a text's UTF-8 bytes: what ``FileReport.sources`` records of a file that
    ran, and what the server compares its buffers with."""
    return bytes_digest(text.encode("utf-8", "surrogatepass"))


def bytes_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
