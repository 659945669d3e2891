"""The file's definitions run statement by statement; a failing one is a warning, not the end."""

from __future__ import annotations

from pathlib import Path

import pytest
from flopsight.counting.runner import SourceSyntaxError, analyse_file
from flopsight.job import AnalysisRequest

DATA = Path(__file__).parent / "data" / "runner"
EXAMPLES = Path(__file__).parent.parent / "examples"


def request_for(path: Path, **kw: object) -> AnalysisRequest:
    return AnalysisRequest(text=path.read_text(), path=str(path), **kw)  # type: ignore[arg-type]


def test_failing_statements_become_warnings_and_the_model_still_counts() -> None:
    report = analyse_file(request_for(DATA / "failing_statements.py"))
    assert [(w.line, w.message.split(":")[0]) for w in report.warnings] == [
        (5, "ModuleNotFoundError"),
        (8, "ZeroDivisionError"),
        (9, "SystemExit"),
        (10, "KeyboardInterrupt"),
    ]
    # `train(Net())` at the end is an expression statement: skipped, so no NameError warning.
    (net,) = report.models
    assert net.status == "ok" and net.total is not None
    # Linear(8, WIDTH=16) on (1, 8): 8 * 16 MACs; 8 * 16 weights + 16 biases.
    assert net.total.macs == 8 * 16
    assert net.total.params == 8 * 16 + 16


def test_seed_densenet_script_counts_despite_its_ptflops_call() -> None:
    import torchvision

    path = EXAMPLES / "seed_densenet.py"
    report = analyse_file(request_for(path))
    (net,) = report.models
    assert net.status == "ok" and net.total is not None and net.kind == "instance"
    meta = torchvision.models.get_model_weights("densenet161").DEFAULT.meta
    assert round(net.total.macs / 1e9, 3) == meta["_ops"]
    assert net.total.params == meta["num_params"]
    # The article's `get_model_complexity_info(net, ...)` needs `net`, which flopsight builds.
    first = report.warnings[0]
    assert first.line == 15 and "NameError" in first.message and "net" in first.message
    assert report.environment["torch"] and report.environment["python"]


def test_runs_as_an_imported_module_not_main() -> None:
    report = analyse_file(request_for(DATA / "module_identity.py"))
    (probe,) = report.models
    assert probe.status == "ok", probe.error
    assert report.warnings == []


def test_future_annotations_apply_to_every_statement() -> None:
    # forward's annotation names an undefined type: only fine under `from __future__ import
    # annotations`, which must reach the class even though it is compiled on its own.
    report = analyse_file(request_for(DATA / "future_annotations.py"))
    (later,) = report.models
    assert report.warnings == []
    assert later.status == "ok" and later.total is not None
    assert later.total.macs == 6 * 3


def test_the_buffer_is_analysed_not_the_file_on_disk(tmp_path: Path) -> None:
    text = (
        "from torch import nn\n\n"
        "net = nn.Sequential(  # flopsight: input=(4, 10)\n"
        "    nn.Linear(10, 20),\n"
        "    nn.Linear(20, 3),\n"
        ")\n"
    )
    report = analyse_file(AnalysisRequest(text=text, path=str(tmp_path / "unsaved.py")))
    (net,) = report.models
    assert net.total is not None
    assert net.total.macs == 4 * 10 * 20 + 4 * 20 * 3
    lines = {layer.path: layer.line for layer in net.layers}
    assert lines["0"] == 4 and lines["1"] == 5


def test_a_text_that_does_not_parse_raises_source_syntax_error(tmp_path: Path) -> None:
    text = "from torch import nn\n\nclass Net(nn.Module:\n    pass\n"
    with pytest.raises(SourceSyntaxError) as caught:
        analyse_file(AnalysisRequest(text=text, path=str(tmp_path / "bad.py")))
    assert caught.value.line == 3
    assert str(caught.value).startswith(f"{tmp_path / 'bad.py'}:3:")
