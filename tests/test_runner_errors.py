"""A model that raises is an error in the report, at the deepest line of the analysed file."""

from __future__ import annotations

from pathlib import Path

from flopsight.counting.runner import analyse_file
from flopsight.job import AnalysisRequest
from flopsight.report.model import InputSpec

DATA = Path(__file__).parent / "data" / "runner"


def line_of(path: Path, snippet: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if snippet in line:
            return number
    raise AssertionError(snippet)


def test_shape_mismatch_in_forward_points_at_the_raising_line() -> None:
    path = DATA / "shape_mismatch.py"
    report = analyse_file(AnalysisRequest(text=path.read_text(), path=str(path)))
    broken = report.model("Broken")
    assert broken.status == "error" and broken.error is not None
    assert broken.error.type == "RuntimeError"
    assert broken.error.kind == "forward"
    # forward calls self.head(x), which calls the Linear: the deepest frame in the file.
    assert broken.error.line == line_of(path, "return self.fc(x)")
    assert "20" in broken.error.message and "10" in broken.error.message


def test_constructor_that_raises_is_a_build_error() -> None:
    path = DATA / "shape_mismatch.py"
    report = analyse_file(AnalysisRequest(text=path.read_text(), path=str(path)))
    fails = report.model("Fails")
    assert fails.status == "error" and fails.error is not None
    assert (fails.error.type, fails.error.kind) == ("ValueError", "build")
    assert fails.error.message == "width 4 is not supported"
    assert fails.error.line == line_of(path, "raise ValueError")


def test_unannotated_model_is_skipped_until_an_input_is_given() -> None:
    path = DATA / "shape_mismatch.py"
    text = path.read_text()
    report = analyse_file(AnalysisRequest(text=text, path=str(path)))
    assert report.model("Unannotated").status == "skipped"
    given = analyse_file(
        AnalysisRequest(
            text=text,
            path=str(path),
            models=["Unannotated"],
            input_override=[InputSpec("", [5, 3])],
        )
    )
    (model,) = given.models
    assert model.status == "ok" and model.total is not None
    assert model.total.macs == 5 * 3 * 3
    assert model.inputs == [InputSpec("x", [5, 3], "float32")]


def test_unresolved_dimension_is_an_error_naming_it() -> None:
    path = DATA / "symbolic.py"
    report = analyse_file(AnalysisRequest(text=path.read_text(), path=str(path)))
    (seq,) = report.models
    assert seq.status == "error" and seq.error is not None
    assert "'seq'" in seq.error.message
    assert seq.error.line == 5
    resolved = analyse_file(
        AnalysisRequest(text=path.read_text(), path=str(path), dims={"batch": 2, "seq": 10})
    )
    total = resolved.models[0].total
    assert total is not None and total.macs == 2 * 10 * 8 * 8


def test_unknown_model_name_is_an_error() -> None:
    path = DATA / "two_inputs.py"
    report = analyse_file(AnalysisRequest(text=path.read_text(), path=str(path), models=["Nope"]))
    (nope,) = report.models
    assert nope.status == "error" and nope.error is not None
    assert "Pair" in nope.error.message and "Plain" in nope.error.message


def test_forward_that_reads_values_falls_back_to_real_cpu_tensors(tmp_path: Path) -> None:
    path = tmp_path / "reads_values.py"
    path.write_text(
        "import torch\n"
        "from torch import nn\n\n\n"
        "class Gate(nn.Module):  # flopsight: input=(2, 16)\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(16, 8)\n\n"
        "    def forward(self, x):\n"
        "        steps = int(x.abs().sum().item() > -1) + 1\n"
        "        for _ in range(steps):\n"
        "            x = x[:, :16]\n"
        "        return self.fc(x)\n"
    )
    report = analyse_file(AnalysisRequest(text=path.read_text(), path=str(path)))
    gate = report.model("Gate")
    assert gate.status == "ok", gate.error
    assert gate.device == "cpu"
    assert gate.total is not None
    # Linear(16, 8) on 2 rows: 2 * 16 * 8 MACs; .item() on meta has no value to read.
    assert gate.total.macs == 2 * 16 * 8
    assert any("CPU" in note for note in gate.notes)
