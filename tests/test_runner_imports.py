"""The file's folder is on sys.path while it runs: sibling modules import."""

from __future__ import annotations

import sys
from pathlib import Path

from flopsight.counting.runner import analyse_file
from flopsight.job import AnalysisRequest

DATA = Path(__file__).parent / "data" / "runner"


def test_sibling_module_imports_and_is_counted() -> None:
    path = DATA / "uses_sibling.py"
    before = list(sys.path)
    report = analyse_file(AnalysisRequest(text=path.read_text(), path=str(path)))
    assert report.warnings == []
    (stack,) = report.models
    assert stack.status == "ok" and stack.total is not None
    # init={"depth": 3}: three Linear(32, 32) on (2, 32).
    assert stack.total.macs == 3 * 2 * 32 * 32
    assert stack.total.params == 3 * (32 * 32 + 32)
    # Layers built in the sibling file have no line in this one; the Sequential has its own.
    lines = {layer.path: layer.line for layer in stack.layers}
    assert lines["blocks"] == 10
    assert lines["blocks.0.fc"] is None
    assert sys.path == before
    assert "runner_blocks" not in sys.modules


def test_workspace_root_is_on_sys_path(tmp_path: Path) -> None:
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "layers.py").write_text(
        "from torch import nn\n\ndef head(n):\n    return nn.Linear(n, 2)\n"
    )
    sub = tmp_path / "models"
    sub.mkdir()
    text = (
        "from torch import nn\n"
        "from mypkg.layers import head\n\n"
        "class Net(nn.Module):  # flopsight: input=(1, 6)\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.head = head(6)\n\n"
        "    def forward(self, x):\n"
        "        return self.head(x)\n"
    )
    report = analyse_file(AnalysisRequest(text=text, path=str(sub / "net.py"), root=str(tmp_path)))
    assert report.warnings == []
    (net,) = report.models
    assert net.total is not None and net.total.macs == 6 * 2
    sys.modules.pop("mypkg", None)
    sys.modules.pop("mypkg.layers", None)


def test_relative_imports_inside_a_package(tmp_path: Path) -> None:
    pkg = tmp_path / "relpkg"
    (pkg / "models").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "layers.py").write_text("from torch import nn\n\nWIDTH = 6\n")
    models = pkg / "models"
    # The package imports the analysed file itself: it gets the version on disk.
    (models / "__init__.py").write_text("from .net import Net\n")
    on_disk = (
        "from torch import nn\n"
        "from ..layers import WIDTH\n\n"
        "class Net(nn.Module):  # flopsight: input=(1, 6)\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(WIDTH, 2)\n\n"
        "    def forward(self, x):\n"
        "        return self.fc(x)\n"
    )
    (models / "net.py").write_text(on_disk)
    buffer = on_disk.replace("nn.Linear(WIDTH, 2)", "nn.Linear(WIDTH, 5)")
    report = analyse_file(AnalysisRequest(text=buffer, path=str(models / "net.py")))
    assert report.warnings == []
    (net,) = report.models
    assert net.status == "ok" and net.total is not None
    assert net.total.macs == 6 * 5  # the buffer's Linear(6, 5), not the file's Linear(6, 2)
    assert not any(name.startswith("relpkg") for name in sys.modules)
