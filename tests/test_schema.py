"""The project's copy of the report schema is the shared one, and every report the CLI emits
validates against it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from flopsight.cli import main

ROOT = Path(__file__).parent.parent
OURS = ROOT / "server" / "flopsight" / "schema" / "report.schema.json"
SHARED = Path("/work/shared/schema/report.schema.json")
SCHEMA = json.loads(OURS.read_text())


@pytest.fixture(autouse=True)
def in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOPSIGHT_IN_PROCESS", "1")


@pytest.mark.skipif(not SHARED.exists(), reason="no shared schema on this machine")
def test_project_schema_extends_the_shared_one() -> None:
    # flopsight.report/2 is the shared /1 plus total.active_params (issue 12): without that
    # field and with /1's id, the two are the same document.
    ours = json.loads(OURS.read_text())
    assert ours["$id"] == "flopsight.report/2"
    ours["$id"] = ours["properties"]["schema"]["const"] = "flopsight.report/1"
    total = ours["$defs"]["model"]["properties"]["total"]["properties"]
    assert total.pop("active_params")["$ref"] == "#/$defs/count"
    assert ours == json.loads(SHARED.read_text())


CASES = [
    ["examples/seed_mlp.py", "--convention", "ptflops"],
    ["examples/seed_densenet.py"],
    ["tests/data/runner/failing_statements.py"],
    ["tests/data/runner/shape_mismatch.py"],  # errors and a skipped model
    ["tests/data/runner/symbolic.py"],  # an unresolved dimension
    ["tests/data/runner/two_inputs.py", "--convention", "ptflops"],
    ["tests/data/runner/prints.py"],
]


@pytest.mark.parametrize("argv", CASES, ids=[c[0].rsplit("/", 1)[-1] for c in CASES])
def test_every_report_validates(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    path, *rest = argv
    main(["report", str(ROOT / path), *rest, "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    jsonschema.validate(report, SCHEMA)
    assert report["models"]


# The shared schema's output_shape is a oneOf in which [] (a 0-d output) matches both array
# forms; reports write a scalar's shape as null so they stay valid.
def test_scalar_output_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "scalar.py"
    path.write_text(
        "from torch import nn\n\n\n"
        "class Loss(nn.Module):  # flopsight: input=(1, 4)\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(4, 2)\n\n"
        "    def forward(self, x):\n"
        "        return self.fc(x).sum()\n"
    )
    assert main(["report", str(path), "--format", "json"]) == 0
    jsonschema.validate(json.loads(capsys.readouterr().out), SCHEMA)
