"""flopsight for JupyterLab: the ``jupyter_lsp_spec_v1`` entry point that jupyter-lsp discovers.

jupyter-lsp calls ``spec(manager)`` and starts the returned ``argv`` for Python notebooks and
files, so users of jupyterlab-lsp get flopsight's diagnostics, hovers and hints. It needs
nothing from jupyter-lsp itself to be imported.
"""

from __future__ import annotations

import sys
from typing import Any

# The version of jupyter-lsp's spec schema this follows.
SPEC_VERSION = 2


def spec(manager: object = None) -> dict[str, dict[str, Any]]:
    return {
        "flopsight": {
            "version": SPEC_VERSION,
            "argv": [sys.executable, "-m", "flopsight", "serve"],
            "languages": ["python"],
            "display_name": "flopsight",
            "mime_types": ["text/python", "text/x-ipython"],
            "urls": {
                "home": "https://github.com/flopsight/flopsight",
                "issues": "https://github.com/flopsight/flopsight/issues",
            },
            "install": {"pip": "pip install flopsight"},
            "env": {"PYTHONUNBUFFERED": "1"},
            "requires_documents_on_disk": False,
        }
    }
