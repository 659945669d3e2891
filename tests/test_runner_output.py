"""What the file's code prints is captured into the report and never reaches our stdout."""

from __future__ import annotations

from pathlib import Path

import pytest
from flopsight.counting.runner import OUTPUT_LIMIT, analyse_file
from flopsight.job import AnalysisRequest

DATA = Path(__file__).parent / "data" / "runner"


def test_prints_are_captured(capfd: pytest.CaptureFixture[str]) -> None:
    path = DATA / "prints.py"
    report = analyse_file(AnalysisRequest(text=path.read_text(), path=str(path)))
    out, err = capfd.readouterr()
    assert "Chatty" not in out and "Chatty" not in err
    assert "loading prints.py" in report.output
    assert "building Chatty" in report.output
    assert "forward of Chatty" in report.output
    assert "to stderr" in report.output
    (chatty,) = report.models
    assert chatty.status == "ok" and chatty.total is not None
    assert chatty.total.macs == 4 * 2


def test_long_output_is_truncated(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    text = (
        "from torch import nn\n"
        "noise = print('x' * 200_000)\n\n"
        "class Net(nn.Module):  # flopsight: input=(1, 2)\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(2, 2)\n\n"
        "    def forward(self, x):\n"
        "        return self.fc(x)\n"
    )
    report = analyse_file(AnalysisRequest(text=text, path=str(tmp_path / "noisy.py")))
    out, err = capfd.readouterr()
    assert "xxxx" not in out and "xxxx" not in err
    assert report.output.startswith("x" * 1000)
    assert len(report.output) < OUTPUT_LIMIT + 200
    assert "more characters not kept" in report.output
