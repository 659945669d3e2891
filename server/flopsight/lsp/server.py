"""``flopsight serve``: the language server, on stdio or ``--tcp HOST:PORT`` (for debugging).

This module stays light: on stdio, ``initialize`` is answered before pygls has finished
importing (``fast_start``); the features live in ``flopsight.lsp.handlers``, whose docstring
lists the notifications flopsight adds to the protocol (``flopsight/summary``,
``flopsight/analysisStarted``, ``flopsight/analysisFinished``).
"""

from __future__ import annotations

import logging
import os
import sys


def start(tcp: str | None = None) -> None:
    """Runs the server on stdio, or on ``tcp`` (``HOST:PORT``) for debugging.

    Logs go to stderr (``FLOPSIGHT_LOG=INFO`` for more); stdout carries only the protocol.
    """
    level = os.environ.get("FLOPSIGHT_LOG", "WARNING").upper()
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, level, logging.WARNING))
    if tcp:
        from flopsight.lsp.handlers import server

        host, _, port = tcp.rpartition(":")
        server.start_tcp(host or "127.0.0.1", int(port))
        return
    from flopsight.lsp.fast_start import serve_stdio

    serve_stdio(sys.stdin.buffer, sys.stdout.buffer)
