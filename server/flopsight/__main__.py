"""``python -m flopsight`` is the ``flopsight`` command."""

import sys

if sys.argv[1:] == ["serve"]:
    # How editors start the server: skip the CLI's imports so ``initialize`` is answered sooner.
    from flopsight.lsp.server import start

    start()
    sys.exit(0)

from flopsight.cli import main

sys.exit(main())
