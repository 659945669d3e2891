"""A model split over files (issue 17): ops, constructions and calls are charged to the
innermost line of any workspace file, the report's layers and lines carry their ``file``, an
editor buffer of an imported file is what runs, and the CLI names ``file:line``.

tests/data/crossfile: ``layers.py`` defines Attention, MLP and Block; ``model.py`` builds
``GPT`` (3 Blocks at d=32, a head of 100) at input (1, 16, 32); ``wide.py`` one Block at
d=64 on (1, 8, 64). The counts below are by hand (T tokens, d width):
  qkv Linear(d, 3d): T*d*3d · scores q @ k^T: T*T*d · mixed att @ v: T*T*d
  out Linear(d, d): T*d*d · MLP fc + proj: 2*T*d*4d · head Linear(d, 100): T*d*100
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flopsight.counting.runner import analyse_file
from flopsight.job import AnalysisRequest
from flopsight.report.model import FileReport, LayerCost, LineCost, ModelReport
from flopsight.worker import WorkerPool

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "tests" / "data" / "crossfile"
LAYERS = (FOLDER / "layers.py").read_text()
T, D, N = 16, 32, 3
QKV, SCORES, MIXED, OUT = T * D * 3 * D, T * T * D, T * T * D, T * D * D
MLP = 2 * T * D * 4 * D
HEAD = T * D * 100
BLOCK = QKV + SCORES + MIXED + OUT + MLP
GPT_TOTAL = N * BLOCK + HEAD


def line_no(needle: str, text: str = LAYERS) -> int:
    """1-based line of the first line containing ``needle``."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def analyse(name: str, root: Path | None = FOLDER, **extra: object) -> ModelReport:
    path = str(FOLDER / name)
    report = analyse_file(
        AnalysisRequest(
            text=(FOLDER / name).read_text(), path=path, root=str(root) if root else None, **extra
        )  # type: ignore[arg-type]
    )
    model = report.models[0]
    assert model.status == "ok", model.error
    return model


def lines_in(model: ModelReport, file: str | None) -> dict[int, LineCost]:
    return {c.line: c for c in model.lines if c.file == file}


def layers_in(model: ModelReport, file: str | None, line: int) -> list[LayerCost]:
    return [layer for layer in model.layers if layer.file == file and layer.line == line]


def test_ops_are_charged_to_the_lines_of_the_file_that_runs_them() -> None:
    gpt = analyse("model.py")
    assert gpt.total is not None and gpt.total.macs == GPT_TOTAL
    there = lines_in(gpt, "layers.py")
    assert there[line_no("chunk(3")].macs == N * QKV
    assert there[line_no("scores = q @")].macs == N * SCORES
    assert there[line_no("mixed = ")].macs == N * MIXED
    assert there[line_no("return self.out(")].macs == N * OUT
    assert there[line_no("return self.proj(")].macs == N * MLP
    # Each of these lines ran once per block.
    assert there[line_no("scores = q @")].calls == N
    assert there[line_no("scores = q @")].output_shape == [1, T, T]
    here = lines_in(gpt, None)
    model_text = (FOLDER / "model.py").read_text()
    assert here[line_no("return self.head(x)", model_text)].macs == HEAD
    # Every MAC is on exactly one line.
    assert sum(c.macs for c in gpt.lines) == GPT_TOTAL


def test_layers_built_in_another_file_carry_its_name_and_line() -> None:
    gpt = analyse("model.py")
    qkv = layers_in(gpt, "layers.py", line_no("self.qkv = nn.Linear"))
    assert [layer.path for layer in qkv] == [f"blocks.{i}.attn.qkv" for i in range(N)]
    assert all(layer.macs == QKV for layer in qkv)
    attn = layers_in(gpt, "layers.py", line_no("self.attn = Attention(d)"))
    assert sum(layer.macs for layer in attn) == N * (QKV + SCORES + MIXED + OUT)
    # The blocks themselves are built in model.py.
    model_text = (FOLDER / "model.py").read_text()
    blocks = layers_in(gpt, None, line_no("Block(d) for _", model_text))
    assert sum(layer.macs for layer in blocks if layer.type == "Block") == N * BLOCK


def test_without_a_workspace_root_only_the_analysed_file_is_charged() -> None:
    gpt = analyse("model.py", root=None)
    assert {c.file for c in gpt.lines} == {None}
    assert all(layer.file is None for layer in gpt.layers)
    model_text = (FOLDER / "model.py").read_text()
    # The block's work lands on the line of model.py that called into layers.py.
    assert lines_in(gpt, None)[line_no("x = block(x)", model_text)].macs == N * BLOCK


def test_the_json_report_names_the_file_and_round_trips() -> None:
    gpt = analyse("model.py")
    data = gpt.to_json()
    files = {line.get("file") for line in data["lines"]}
    assert files == {None, "layers.py"}
    assert ModelReport.from_json(data).lines == gpt.lines


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    with WorkerPool(max_children=1) as p:
        assert p.wait_ready()
        yield p


def test_an_editor_buffer_of_an_imported_file_is_what_runs(pool: WorkerPool) -> None:
    wider = LAYERS.replace("4 * d", "8 * d")
    request = AnalysisRequest(
        text=(FOLDER / "model.py").read_text(),
        path=str(FOLDER / "model.py"),
        root=str(FOLDER),
        overlays={str(FOLDER / "layers.py"): wider},
    )
    report: FileReport = pool.analyse_blocking(request)
    gpt = report.models[0]
    assert gpt.status == "ok", gpt.error
    assert gpt.total is not None
    assert gpt.total.macs == GPT_TOTAL + N * MLP  # the MLP is twice as wide in the buffer
    # The report says which text of layers.py it ran: the buffer's, not the disk's.
    assert report.sources["layers.py"] == hashlib.sha256(wider.encode()).hexdigest()
    assert (FOLDER / "layers.py").read_text() == LAYERS
    # The same request without the overlay runs the file on disk.
    plain = pool.analyse_blocking(
        AnalysisRequest(text=request.text, path=request.path, root=str(FOLDER))
    )
    assert plain.models[0].total is not None and plain.models[0].total.macs == GPT_TOTAL
    assert plain.sources["layers.py"] == hashlib.sha256(LAYERS.encode()).hexdigest()


def test_a_failure_in_a_buffer_is_the_buffers(pool: WorkerPool) -> None:
    """The name is missing only in the buffer: the error is the buffer's, at model.py's line
    that called into it."""
    broken = LAYERS.replace("return x + self.mlp(x)", "return x + self.mlp(x) + missing_name")
    report = pool.analyse_blocking(
        AnalysisRequest(
            text=(FOLDER / "model.py").read_text(),
            path=str(FOLDER / "model.py"),
            root=str(FOLDER),
            overlays={str(FOLDER / "layers.py"): broken},
        )
    )
    gpt = report.models[0]
    assert gpt.status == "error" and gpt.error is not None
    assert gpt.error.type == "NameError" and "missing_name" in gpt.error.message
    assert gpt.error.line == line_no("x = block(x)", (FOLDER / "model.py").read_text())


def test_a_traceback_through_a_buffer_quotes_the_buffers_lines(tmp_path: Path) -> None:
    """While ``buffer_imports`` is open, a module imported from an overlay runs the buffer and
    its traceback shows the buffer's line, not the disk's."""
    import traceback

    from flopsight.counting.overlays import buffer_imports

    module = tmp_path / "overlaid_mod.py"
    module.write_text("def run():\n    return 1\n")
    buffer = "def run():\n    raise ValueError('from the buffer')  # the buffer's line\n"
    sys.path.insert(0, str(tmp_path))
    # Bytecode on (this environment may turn it off): a plain import would write a .pyc.
    writes, sys.dont_write_bytecode = sys.dont_write_bytecode, False
    try:
        with buffer_imports({str(module): buffer}):
            import overlaid_mod  # type: ignore[import-not-found]

            with pytest.raises(ValueError) as raised:
                overlaid_mod.run()
            shown = "".join(traceback.format_exception(raised.value))
    finally:
        sys.dont_write_bytecode = writes
        sys.path.remove(str(tmp_path))
        sys.modules.pop("overlaid_mod", None)
    assert "raise ValueError('from the buffer')  # the buffer's line" in shown
    assert module.read_text() == "def run():\n    return 1\n"
    assert not list(tmp_path.glob("__pycache__/*"))  # no bytecode written for a buffer


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "server")}
    return subprocess.run(
        [sys.executable, "-m", "flopsight", *args],
        cwd=FOLDER,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_cli_table_names_file_and_line_of_rows_in_other_files() -> None:
    done = cli("report", "model.py", "--convention", "macs")
    assert done.returncode == 0, done.stderr
    qkv_rows = [row for row in done.stdout.splitlines() if "qkv" in row]
    assert qkv_rows, done.stdout
    assert all(f"layers.py:{line_no('self.qkv = nn.Linear')}" in row for row in qkv_rows)
    data = json.loads(cli("report", "model.py", "--format", "json", "--convention", "macs").stdout)
    lines = data["models"][0]["lines"]
    assert {(x.get("file"), x["line"]) for x in lines if x["macs"]} >= {
        ("layers.py", line_no("scores = q @")),
        (None, line_no("return self.head(x)", (FOLDER / "model.py").read_text())),
    }
    assert data["sources"]["layers.py"] == hashlib.sha256(LAYERS.encode()).hexdigest()
