"""JupyterLab: jupyter-lsp discovers flopsight through its ``jupyter_lsp_spec_v1`` entry point."""

from __future__ import annotations

import sys

import pytest

jupyter_lsp = pytest.importorskip("jupyter_lsp")


def test_jupyter_lsp_discovers_and_validates_the_flopsight_spec() -> None:
    from jupyter_lsp.manager import LanguageServerManager

    manager = LanguageServerManager()
    manager.autodetect = True
    manager.initialize()
    specs = manager.language_servers
    assert "flopsight" in specs, sorted(specs)
    spec = specs["flopsight"]
    assert spec["argv"][:4] == [sys.executable, "-m", "flopsight", "serve"]
    assert spec["languages"] == ["python"]
    assert "text/x-ipython" in spec["mime_types"]
