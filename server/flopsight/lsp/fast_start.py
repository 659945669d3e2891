"""Answer ``initialize`` before pygls is imported, so editors see the server up at once.

Importing ``lsprotocol.types`` defines some thousand attrs classes: about 0.4 s, more on a
busy machine, which alone would break the design's budget (``initialize`` answered within
0.5 s of start). So on stdio the server starts importing pygls on a thread while this module,
standard library only, reads the first message; when it is ``initialize`` it answers with the
capabilities pygls will compute (the constant below; a test checks that they agree). Then the
message is handed to pygls as if it had just arrived, and pygls' own answer to it is dropped.
"""

from __future__ import annotations

import json
import threading
from typing import Any, BinaryIO

from flopsight import __version__

# What pygls' ServerCapabilitiesBuilder gives for flopsight's features (see tests).
CAPABILITIES: dict[str, Any] = {
    "codeActionProvider": {"codeActionKinds": ["quickfix"]},
    "codeLensProvider": {"resolveProvider": False},
    "executeCommandProvider": {"commands": ["flopsight.showReport", "flopsight.measure"]},
    "hoverProvider": True,
    "inlayHintProvider": {"resolveProvider": False},
    "textDocumentSync": {"change": 2, "openClose": True, "save": {"includeText": False}},
    "workspace": {
        "fileOperations": {},
        "workspaceFolders": {"changeNotifications": True, "supported": True},
    },
}
# Sent only to clients that declare notebook support (as pygls does).
NOTEBOOK_SYNC: dict[str, Any] = {
    "notebookSelector": [{"cells": [{"language": "python"}], "notebook": "jupyter-notebook"}],
    "save": True,
}
_ENCODINGS = ("utf-8", "utf-16", "utf-32")


def position_encoding(params: dict[str, Any]) -> str:
    """The client's first encoding that pygls supports, else UTF-16 (as pygls chooses)."""
    general = (params.get("capabilities") or {}).get("general") or {}
    for encoding in general.get("positionEncodings") or ():
        if encoding in _ENCODINGS:
            return str(encoding)
    return "utf-16"


def initialize_result(params: dict[str, Any]) -> dict[str, Any]:
    capabilities = {**CAPABILITIES, "positionEncoding": position_encoding(params)}
    if (params.get("capabilities") or {}).get("notebookDocument") is not None:
        capabilities["notebookDocumentSync"] = NOTEBOOK_SYNC
    return {
        "capabilities": capabilities,
        "serverInfo": {"name": "flopsight", "version": __version__},
    }


def read_message(stream: BinaryIO) -> bytes:
    """One whole message (headers and body) as read from ``stream``; b"" at end of input."""
    raw = b""
    length = None
    while True:
        line = stream.readline()
        if not line:
            return b""
        raw += line
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1].strip())
        if line in (b"\r\n", b"\n"):
            break
    if length is None:
        return raw
    return raw + stream.read(length)


def frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    return f"Content-Length: {len(body)}\r\n\r\n".encode() + body


class Replay:
    """``stdin`` with bytes put back in front of it (the message already read)."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self.head = head
        self.stream = stream

    def readline(self) -> bytes:
        if self.head:
            end = self.head.find(b"\n") + 1 or len(self.head)
            line, self.head = self.head[:end], self.head[end:]
            return line
        return self.stream.readline()

    def read(self, n: int) -> bytes:
        if self.head:
            part, self.head = self.head[:n], self.head[n:]
            if len(part) < n:
                part += self.stream.read(n - len(part))
            return part
        return self.stream.read(n)


class DropAnswer:
    """``stdout`` that swallows pygls' answer to the request answered early."""

    def __init__(self, stream: BinaryIO, request_id: object) -> None:
        self.stream = stream
        self.request_id = request_id

    def write(self, data: bytes) -> int:
        if self.request_id is not None:
            _, _, body = data.partition(b"\r\n\r\n")
            try:
                message = json.loads(body)
            except ValueError:
                message = None
            if (
                isinstance(message, dict)
                and message.get("id") == self.request_id
                and "method" not in message
            ):
                self.request_id = None
                return len(data)
        written = self.stream.write(data)
        return len(data) if written is None else written

    def flush(self) -> None:
        self.stream.flush()

    def close(self) -> None:
        self.stream.close()


def serve_stdio(stdin: BinaryIO, stdout: BinaryIO) -> None:
    importer = threading.Thread(target=_import_server, daemon=True)
    importer.start()
    first = read_message(stdin)
    answered: object = None
    if first:
        _, _, body = first.partition(b"\r\n\r\n")
        try:
            message = json.loads(body)
        except ValueError:
            message = None
        if isinstance(message, dict) and message.get("method") == "initialize":
            answered = message.get("id")
            stdout.write(
                frame(
                    {
                        "jsonrpc": "2.0",
                        "id": answered,
                        "result": initialize_result(message.get("params") or {}),
                    }
                )
            )
            stdout.flush()
    importer.join()
    from flopsight.lsp.handlers import server

    server.start_io(Replay(first, stdin), DropAnswer(stdout, answered))  # type: ignore[arg-type]


def _import_server() -> None:
    import flopsight.lsp.handlers  # noqa: F401
