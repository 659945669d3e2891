"""``flopsight measure``: the table and the JSON, through the worker as ``report`` runs, and
the refusal of a model that does not fit the worker's memory limit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flopsight.cli import main

# embed: ids (long) stay long under --dtype; fc: 4 x 16 x 32 MACs.
TEXT = """\
import torch
from torch import nn


class Net(nn.Module):  # flopsight: input={"x": (4, 16), "ids": (4,)}, dtype={"ids": "long"}
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 32)
        self.embed = nn.Embedding(10, 32)
        self.proj = nn.Linear(16, 32)

    def forward(self, x, ids):
        return self.fc(self.proj(x) + self.embed(ids))
"""


@pytest.fixture
def model_file(tmp_path: Path) -> str:
    path = tmp_path / "net.py"
    path.write_text(TEXT)
    return str(path)


def test_json_through_the_worker(model_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["measure", model_file, "--iters", "3", "--warmup", "1", "--format", "json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data = json.loads(captured.out)
    (model,) = data["models"]
    assert model["status"] == "ok"
    assert model["measure"]["iters"] == 3 and model["measure"]["warmup"] == 1
    assert model["measure"]["device"] == "cpu"
    assert model["latency_ms"] > 0
    layers = {layer["path"]: layer for layer in model["layers"]}
    fc = layers["fc"]
    assert fc["flops"] == 2 * 4 * 32 * 32  # by hand
    assert fc["latency_ms"] > 0
    assert fc["gflops_per_s"] == pytest.approx(fc["flops"] / (fc["latency_ms"] / 1e3) / 1e9)
    assert fc["time_share"] == pytest.approx(fc["latency_ms"] / model["latency_ms"])


def test_table_columns_and_footer(
    model_file: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOPSIGHT_IN_PROCESS", "1")
    code = main(["measure", model_file, "--iters", "2", "--warmup", "0", "--peak", "500"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = captured.out
    header = next(line for line in out.splitlines() if line.startswith("Module (type)"))
    columns = ["Module", "(type)", "MACs", "FLOPs", "Latency", "GFLOP/s", "Time", "Line"]
    assert header.split() == columns
    rows = {line.split()[1]: line for line in out.splitlines() if "(Linear)" in line}
    assert set(rows) == {"fc", "proj"}
    assert "2.05 KMac" in rows["proj"]  # 4 x 16 x 32 = 2048 MACs
    assert "4.10 KFLOPs" in rows["proj"]
    assert any(unit in rows["fc"] for unit in ("µs", "ms"))
    assert "End-to-end latency:" in out and "(median of 2 runs after 0 warm-up, no hooks)" in out
    assert "Sum of leaf layer times:" in out
    assert "Achieved:" in out
    assert "Peak: 500 GFLOP/s (given)" in out
    assert "Utilisation:" in out


def test_dtype_casts_weights_and_float_inputs_only(
    model_file: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOPSIGHT_IN_PROCESS", "1")
    args = ["measure", model_file, "--iters", "1", "--warmup", "0", "--peak", "1"]
    code = main([*args, "--dtype", "bfloat16", "--format", "json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    (model,) = json.loads(captured.out)["models"]
    assert model["status"] == "ok"
    assert model["measure"]["dtype"] == "bfloat16"
    # The inputs as annotated (the ids stay long; an Embedding would reject floats).
    assert [i["dtype"] for i in model["inputs"]] == ["float32", "int64"]


def test_a_model_over_the_memory_limit_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 32000 x 32000 float32 weights: 3.81 GiB, over a 3000 MB address-space limit.
    path = tmp_path / "huge.py"
    path.write_text(
        "from torch import nn\n"
        "huge = nn.Linear(32000, 32000, bias=False)  # flopsight: input=(1, 32000)\n"
    )
    code = main(["measure", str(path), "--memory-mb", "3000", "--iters", "1"])
    captured = capsys.readouterr()
    assert code == 2
    assert "InsufficientMemory" in captured.err
    assert "parameters 3.81 GiB" in captured.err
    assert "3000 MB address-space limit" in captured.err
    assert "it was not built" in captured.err
    assert captured.out == ""


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--iters", "0"], "--iters 0: give at least 1 timed run"),
        (["--warmup", "-1"], "--warmup -1"),
        (["--device", "tpu"], "--device 'tpu': use cpu, cuda, cuda:N or mps"),
        (["--dtype", "int64"], "measure in a floating dtype"),
        (["--peak", "0"], "--peak 0"),
    ],
)
def test_bad_flags_are_one_error_line(
    model_file: str, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    assert main(["measure", model_file, *flags]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_cuda_without_cuda_is_a_clear_error(
    model_file: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.setenv("FLOPSIGHT_IN_PROCESS", "1")
    assert main(["measure", model_file, "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "DeviceUnavailable: CUDA is not available" in err
