"""Errors are a typed contract: every error kind maps to a code, every code the README lists is
produced by something real (a source text, the runner, the worker, the server's own states),
and FS205 (an annotated name that is no nn.Module, a model that is not there) reaches the CLI
with its code. The server's side of FS205 is in test_lsp_diagnostics.py."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from flopsight.cli import main
from flopsight.codes import CODES, ERROR_KINDS, KIND_CODES, Code
from flopsight.job import AnalysisRequest, MeasureOptions
from flopsight.report.model import FileReport, ModelError

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def readme_codes() -> set[str]:
    table = README.split("## Diagnostics", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(FS\d{3})` \|", table, re.MULTILINE))


def test_every_kind_maps_to_a_code_and_the_map_has_no_other_kinds() -> None:
    assert set(KIND_CODES) == set(ERROR_KINDS)
    assert all(isinstance(code, Code) for code in KIND_CODES.values())


def test_the_readme_table_lists_exactly_the_codes() -> None:
    assert readme_codes() == {c.value for c in Code} == {c.value for c in CODES}


def test_an_error_names_its_setting_as_its_reader_does() -> None:
    error = ModelError(
        "the analysis did not finish within the time limit of 2 s and was stopped",
        "TimeLimitExceeded",
        "timeout",
        setting="limits.timeoutSeconds",
    )
    assert error.code is Code.FS301
    assert error.text().endswith("; raise the limit with flopsight.limits.timeoutSeconds")
    assert error.text(lambda s: "--timeout").endswith("; raise the limit with --timeout")
    again = ModelError.from_json(error.to_json())
    assert again == error and error.to_json()["code"] == "FS301"
    with pytest.raises(ValueError, match="not a flopsight error kind"):
        ModelError.from_json({**error.to_json(), "kind": "init"})


# ----------------------------------------------------------------------------- produced

SOURCE_CASES = {
    "FS101": "class Net(nn.Module:\n",
    "FS102": "from torch import nn\nclass Net(nn.Module):  # flopsight: input=(1, 8\n    pass\n",
    "FS103": "from torch import nn\nclass Net(nn.Module):  # flopsight: inptu=(1, 8)\n    pass\n",
    "FS104": "from torch import nn\nclass Net(nn.Module):  # flopsight: input='wide'\n    pass\n",
    "FS106": (
        "from jaxtyping import Float\nfrom torch import Tensor, nn\n"
        "class Net(nn.Module):\n"
        "    def forward(self, x: Float[Tensor, '... 3 224']) -> Tensor:\n"
        "        return x\n"
    ),
    "FS107": (
        "from torch import nn\nclass Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(2, 2)\n"
    ),
    "FS108": "def helper():  # flopsight: input=(1, 8)\n    return 1\n",
}


def source_codes() -> dict[str, set[str]]:
    from flopsight.source import analyse_source

    found: dict[str, set[str]] = {}
    for expected, text in SOURCE_CASES.items():
        analysis = analyse_source(text, "case.py")
        codes = {d.code for d in analysis.diagnostics}
        if analysis.syntax_error is not None:
            codes.add(analysis.syntax_error.code)
        found[expected] = codes
    return found


RUNNER_TEXT = """\
import torch
from torch import nn

Missing.attribute  # a top-level statement that fails: FS203

x = 3  # flopsight: input=(1, 3)


class Gone(nn.Module, Missing):  # flopsight: input=(1, 3)
    def forward(self, x):
        return x


class Fails(nn.Module):  # flopsight: input=(1, 3)
    def __init__(self):
        super().__init__()
        raise ValueError("no")


class Mismatch(nn.Module):  # flopsight: input=(1, 3)
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x)


class Symbolic(nn.Module):  # flopsight: input=(1, "seq")
    def forward(self, x):
        return x


class Uncounted(nn.Module):  # flopsight: input=(4, 4)
    def forward(self, x):
        return torch.linalg.inv(x)


class NoBackward(nn.Module):  # flopsight: input=(1, 3), mode="train"
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        with torch.no_grad():  # a training step with nothing to differentiate: FS206
            return self.fc(x)
"""


def test_every_documented_code_is_produced(tmp_path: Path) -> None:
    from flopsight.counting.measure import measure_file
    from flopsight.counting.runner import analyse_file
    from flopsight.lsp.diagnostics import document_diagnostics, too_large
    from flopsight.lsp.documents import DocumentResults, ModelResult
    from flopsight.source import analyse_source
    from flopsight.worker import WorkerPool

    produced: set[str] = set()
    for expected, codes in source_codes().items():
        assert expected in codes, (expected, codes)
        produced |= codes

    path = tmp_path / "runner.py"
    path.write_text(RUNNER_TEXT)
    report = analyse_file(AnalysisRequest(text=RUNNER_TEXT, path=str(path), dims={}))
    kinds = {m.name: m.error.kind for m in report.models if m.error is not None}
    assert kinds == {
        "x": "not_module",
        "Gone": "not_found",
        "Fails": "build",
        "Mismatch": "forward",
        "Symbolic": "dims",
    }
    # What the editor shows for this report: the server's own diagnostics function.
    results = DocumentResults()
    for m in report.models:
        results.put(ModelResult(RUNNER_TEXT, m, "macs", warnings=list(report.warnings)))
    source = analyse_source(RUNNER_TEXT, str(path))
    diags = document_diagnostics(RUNNER_TEXT, source, results.view(RUNNER_TEXT), execute=True)
    shown = {str(d.code) for d in diags}
    assert {"FS201", "FS202", "FS203", "FS204", "FS205", "FS206", "FS105"} <= shown, shown
    produced |= shown
    off = document_diagnostics(RUNNER_TEXT, source, None, execute=False)
    produced |= {str(d.code) for d in off}

    # A --dtype that is none: the request's inputs cannot be made (FS104 from the runner).
    bad = analyse_file(
        AnalysisRequest(
            text=RUNNER_TEXT, path=str(path), models=["Mismatch"], dtype_override="float7"
        )
    )
    assert bad.models[0].error is not None and bad.models[0].error.kind == "inputs"
    produced.add(bad.models[0].error.code.value)

    # A device this machine lacks (the test machine has no Apple GPU).
    measured = measure_file(
        AnalysisRequest(
            text=RUNNER_TEXT,
            path=str(path),
            models=["Uncounted"],
            measure=MeasureOptions(device="mps", iters=1, warmup=0),
        )
    )
    [uncounted] = measured.models
    assert uncounted.status == "ok" and uncounted.measure_error is not None
    assert uncounted.measure_error.kind == "device"
    produced.add(uncounted.measure_error.code.value)

    # The worker's kinds, from real jobs: a hang, an allocation over the limit, a crash, and an
    # interpreter that cannot be a worker.
    jobs = {
        "timeout": "time.sleep(60)",
        "memory": "self.buffer = bytearray(100 * 2**30)",
        "crash": "os._exit(3)",
    }
    model = "from torch import nn\nnet = nn.Linear(2, 2)  # flopsight: input=(1, 2)\n"
    with WorkerPool(python=sys.executable, max_children=1, warm=False) as pool:
        for kind, statement in jobs.items():
            text = (
                "import os\nimport time\nfrom torch import nn\n\n\n"
                "class Net(nn.Module):  # flopsight: input=(1, 2)\n"
                "    def __init__(self):\n"
                "        super().__init__()\n"
                f"        {statement}\n"
            )
            got = pool.analyse_blocking(
                AnalysisRequest(text=text, path=str(tmp_path / f"{kind}.py")),
                timeout_s=3,
                memory_mb=3072,
            )
            error = got.model("Net").error
            assert error is not None and error.kind == kind, got
            produced.add(error.code.value)
    with WorkerPool(python="/bin/false", max_children=1, warm=False) as pool:
        got = pool.analyse_blocking(
            AnalysisRequest(text=model, path=str(tmp_path / "m.py")), timeout_s=5, memory_mb=1024
        )
        error = got.model("net").error
        assert error is not None and error.kind == "unavailable" and error.setting == "python"
        produced.add(error.code.value)

    # A document over flopsight.maxFileSizeKB: the server's one info diagnostic.
    produced.add(str(too_large(1).code))

    assert readme_codes() <= produced, sorted(readme_codes() - produced)


# ----------------------------------------------------------------------------- FS205, CLI


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOPSIGHT_IN_PROCESS", "1")


@pytest.mark.usefixtures("in_process")
def test_fs205_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "not_modules.py"
    path.write_text(RUNNER_TEXT)
    assert main(["report", str(path), "--model", "x"]) == 2
    captured = capsys.readouterr()
    # Not a phase of building or running: the message says it all, no "(while ...)".
    assert captured.err.strip().splitlines()[-1] == (
        f"flopsight: error: {path}:6: FS205 x: NotAModuleError: x is a int, not an nn.Module"
    )
    assert main(["report", str(path), "--model", "Gone"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(
        f"flopsight: error: {path}:9: FS205 Gone: ModelNotFoundError: class Gone was not defined"
    )


@pytest.mark.usefixtures("in_process")
def test_json_reports_carry_kind_code_and_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    path = tmp_path / "not_modules.py"
    path.write_text(RUNNER_TEXT)
    main(["report", str(path), "--format", "json"])
    report = FileReport.from_json(json.loads(capsys.readouterr().out))
    codes = {m.name: (m.error.kind, m.error.code.value) for m in report.models if m.error}
    assert codes["x"] == ("not_module", "FS205")
    assert codes["Symbolic"] == ("dims", "FS105")
    assert report.model("Symbolic").error.setting == "dims"  # type: ignore[union-attr]
