"""The report says when flopsight made ``import torchvision`` work, and only to files using it."""

from __future__ import annotations

from pathlib import Path

from flopsight.counting import tvfix
from flopsight.counting.runner import TORCHVISION_NOTE, analyse_file
from flopsight.job import AnalysisRequest

EXAMPLES = Path(__file__).parent.parent / "examples"


def analyse(name: str) -> list[str]:
    path = EXAMPLES / name
    return analyse_file(AnalysisRequest(text=path.read_text(), path=str(path))).notes


def test_note_on_a_file_that_imports_torchvision() -> None:
    notes = analyse("seed_densenet.py")
    # The fix is applied where torchvision's compiled ops cannot load (a wheel built for
    # another torch); the report says so exactly then.
    assert (TORCHVISION_NOTE in notes) == tvfix.fix_applied()


def test_no_note_on_a_file_without_torchvision() -> None:
    assert TORCHVISION_NOTE not in analyse("seed_mlp.py")
