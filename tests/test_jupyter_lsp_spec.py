"""JupyterLab: jupyter-lsp discovers flopsight through its ``jupyter_lsp_spec_v1`` entry point."""

from __future__ import annotations

import sys

from jupyter_lsp.manager import LanguageServerManager


def test_jupyter_lsp_discovers_and_validates_the_flopsight_spec() -> None:
    manager = LanguageServerManager()
    manager.autodetect = True
    manager.initialize()
    specs = manager.language_servers
    assert "flopsight" in specs, sorted(specs)
    spec = specs["flopsight"]
    assert spec["argv"][:4] == [sys.executable, "-m", "flopsight", "serve"]
    assert spec["languages"] == ["python"]
    assert "text/x-ipython" in spec["mime_types"]
