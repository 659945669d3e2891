"""``flopsight serve``: the language server, on stdio or ``--tcp HOST:PORT`` (for debugging).

pygls answers ``initialize`` itself (budget: 1 s from start, measured by ``bench/bench_lsp.py``);
the features live in ``flopsight.lsp.handlers``, whose docstring lists the commands and the
notifications flopsight adds to the protocol (``flopsight/summary``,
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
    from flopsight.lsp.handlers import server

    if tcp:
        host, _, port = tcp.rpartition(":")
        server.start_tcp(host or "127.0.0.1", int(port))
        return
    server.start_io()
