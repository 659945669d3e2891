"""``python -m flopsight.lsp [--tcp HOST:PORT]``: the language server."""

from __future__ import annotations

import argparse

from flopsight.lsp.server import start

parser = argparse.ArgumentParser(prog="python -m flopsight.lsp", description=__doc__)
parser.add_argument("--tcp", metavar="HOST:PORT", help="listen on a TCP port instead of stdio")
start(parser.parse_args().tcp)
