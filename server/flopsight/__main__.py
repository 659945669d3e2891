"""``python -m flopsight`` is the ``flopsight`` command."""

import sys

from flopsight.cli import main

sys.exit(main())
