"""The project's schema, ``server/flopsight/schema/report.schema.json``, is the contract: every
report the CLI emits (each example, reports with errors of each source, a measurement refused)
validates against it, and its error kinds and settings are those of ``flopsight.codes``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import jsonschema
import pytest
from flopsight.cli import main
from flopsight.codes import ERROR_KINDS, Code
from flopsight.report.model import SCHEMA_ID, ErrorSetting

ROOT = Path(__file__).parent.parent
SCHEMA = json.loads((ROOT / "server" / "flopsight" / "schema" / "report.schema.json").read_text())
# The examples with a model (examples/gpt/layers.py only holds model.py's blocks).
EXAMPLES = sorted(
    p
    for p in (ROOT / "examples").rglob("*")
    if p.suffix in (".py", ".ipynb") and p.is_file() and p.name != "layers.py"
)


@pytest.fixture(autouse=True)
def in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOPSIGHT_IN_PROCESS", "1")


def emitted(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, object]:
    main(argv)
    report: dict[str, object] = json.loads(capsys.readouterr().out)
    jsonschema.validate(report, SCHEMA)
    return report


def test_the_schema_is_valid_and_names_its_version() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$id"] == SCHEMA["properties"]["schema"]["const"] == SCHEMA_ID


def test_the_schema_lists_the_error_kinds_and_settings_of_the_code() -> None:
    error = SCHEMA["$defs"]["error"]["properties"]
    assert error["kind"]["enum"] == list(ERROR_KINDS)
    assert error["setting"]["enum"] == [*get_args(ErrorSetting), None]
    assert all(jsonschema.Draft202012Validator(error["code"]).is_valid(c.value) for c in Code)


@pytest.mark.parametrize(
    "example", EXAMPLES, ids=[str(p.relative_to(ROOT / "examples")) for p in EXAMPLES]
)
def test_every_example_report_validates(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = emitted(capsys, ["report", str(example), "--format", "json"])
    models = report["models"]
    assert isinstance(models, list) and models
    assert any(m["status"] == "ok" for m in models)
    assert not [m["error"] for m in models if m["status"] == "error"]


CASES = [
    ["examples/seed_mlp.py", "--convention", "ptflops"],
    ["tests/data/runner/failing_statements.py"],
    ["tests/data/runner/shape_mismatch.py"],  # errors and a skipped model
    ["tests/data/runner/symbolic.py"],  # an unresolved dimension: a setting named
    ["tests/data/runner/two_inputs.py", "--convention", "ptflops"],
    ["tests/data/runner/prints.py"],
]


@pytest.mark.parametrize("argv", CASES, ids=[c[0].rsplit("/", 1)[-1] for c in CASES])
def test_reports_with_errors_validate(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    path, *rest = argv
    report = emitted(capsys, ["report", str(ROOT / path), *rest, "--format", "json"])
    assert report["models"]


def test_an_error_of_each_runner_kind_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "kinds.py"
    path.write_text(
        "from torch import nn\n\n"
        "x = 3  # flopsight: input=(1, 3)\n\n\n"
        "class Fails(nn.Module):  # flopsight: input=(1, 3)\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        raise ValueError('no')\n"
    )
    report = emitted(capsys, ["report", str(path), "--format", "json"])
    errors = [m["error"] for m in report["models"]]  # type: ignore[union-attr]
    assert [(e["kind"], e["code"]) for e in errors] == [("not_module", "FS205"), ("build", "FS201")]


def test_a_refused_measurement_validates(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["measure", str(ROOT / "examples" / "seed_mlp.py"), "--device", "mps", "--format"]
    report = emitted(capsys, [*argv, "json"])
    [model] = report["models"]  # type: ignore[misc]
    assert model["status"] == "ok" and model["measure_error"]["code"] == "FS305"


# A 0-d output's shape is written as null: the schema's output_shape is a oneOf in which []
# matches both array forms.
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
    emitted(capsys, ["report", str(path), "--format", "json"])


def test_a_report_over_two_files_validates(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """examples/gpt: layers and lines in layers.py carry ``file``; every convention's lines too
    (``--compare``); ``sources`` names layers.py with a sha256."""
    monkeypatch.chdir(ROOT)
    report = emitted(capsys, ["report", "examples/gpt/model.py", "--format", "json", "--compare"])
    [model] = report["models"]  # type: ignore[misc]
    assert {x.get("file") for x in model["lines"]} == {None, "examples/gpt/layers.py"}
    assert any(x.get("file") == "examples/gpt/layers.py" for x in model["layers"])
    for count in model["counts"]:
        assert any(x.get("file") == "examples/gpt/layers.py" for x in count["lines"])
    assert list(report["sources"]) == ["examples/gpt/layers.py"]  # type: ignore[call-overload]
