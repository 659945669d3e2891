"""``flopsight report``: the ptflops-style table, JSON valid against the schema, markdown."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from flopsight.cli import main

ROOT = Path(__file__).parent.parent
MLP = str(ROOT / "examples" / "seed_mlp.py")
SCHEMA = json.loads((ROOT / "server" / "flopsight" / "schema" / "report.schema.json").read_text())


@pytest.fixture(autouse=True)
def in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOPSIGHT_IN_PROCESS", "1")


def test_seed_mlp_footer_matches_the_article_and_ptflops(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ptflops import get_model_complexity_info

    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from seed_mlp import NeuralNetwork
    finally:
        sys.path.remove(str(ROOT / "examples"))
    macs, params = get_model_complexity_info(
        NeuralNetwork(),
        (28, 28),
        as_strings=True,
        print_per_layer_stat=False,
        backend="pytorch",
        backend_specific_config={"count_functional": False},
    )
    # The seed article's figures, and ptflops' own strings today.
    assert (macs, params) == ("670.73 KMac", "669.71 k")

    assert main(["report", MLP, "--convention", "ptflops"]) == 0
    out = capsys.readouterr().out
    assert "Computational complexity: 670.73 KMac\n" in out
    assert "Computational complexity: 1.34 MFLOPs\n" in out
    assert "Number of parameters: 669.71 k\n" in out
    # The tree: every Linear with its constructor line (nn.Sequential spread over lines 12-16).
    rows = [line for line in out.splitlines() if "(Linear)" in line]
    assert len(rows) == 3
    assert [row.split()[-1] for row in rows] == ["12", "14", "16"]
    assert "401.92 KMac" in rows[0]  # 784 * 512 multiply-adds + 512 bias adds, as ptflops


def test_depth_limits_the_tree(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", MLP, "--depth", "1"]) == 0
    out = capsys.readouterr().out
    assert "linear_relu_stack (Sequential)" in out
    assert "(Linear)" not in out
    assert "Computational complexity:" in out
    assert main(["report", MLP, "--depth", "0"]) == 0
    out = capsys.readouterr().out
    assert "(Sequential)" not in out and "NeuralNetwork" in out


def test_json_validates_against_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", MLP, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    jsonschema.validate(report, SCHEMA)
    (model,) = report["models"]
    # macs convention: matmuls only. 784*512 + 512*512 + 512*10 multiply-accumulates.
    assert model["total"]["macs"] == 784 * 512 + 512 * 512 + 512 * 10
    assert model["total"]["flops"] == 2 * model["total"]["macs"]
    assert model["total"]["params"] == 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10


def test_markdown_has_the_tree_and_the_footer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", MLP, "--format", "markdown", "--convention", "ptflops"]) == 0
    out = capsys.readouterr().out
    assert "| Module | Type | MACs | Share | Params | Share | Output shape | Line |" in out
    assert "| Linear | 401.92 KMac |" in out
    assert "Computational complexity: 670.73 KMac" in out
    assert "Number of parameters: 669.71 k" in out


def test_input_and_model_override_an_annotation(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(ROOT / "tests" / "data" / "runner" / "two_inputs.py")
    assert main(["report", path, "--model", "Plain", "--input", "(3, 5)", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (plain,) = report["models"]
    assert plain["inputs"] == [{"name": "x", "shape": [3, 5], "dtype": "float32"}]
    assert plain["total"]["macs"] == 3 * 5 * 7


def test_end_to_end_through_the_worker() -> None:
    env = {k: v for k, v in __import__("os").environ.items() if k != "FLOPSIGHT_IN_PROCESS"}
    done = subprocess.run(
        [sys.executable, "-m", "flopsight", "report", MLP, "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    jsonschema.validate(report, SCHEMA)
    # By hand: (784·512 + 512) + (512·512 + 512) + (512·10 + 10) = 669,706 (the article's 669.71 k).
    assert report["models"][0]["total"]["params"] == 669706


def test_notebook_lines_are_cell_and_line(capsys: pytest.CaptureFixture[str]) -> None:
    notebook = str(ROOT / "examples" / "seed_mlp.ipynb")
    assert main(["report", notebook, "--convention", "ptflops"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"NeuralNetwork · class at {notebook} (cell 3, line 1)\n")
    assert "Computational complexity: 670.73 KMac\n" in out
    assert "Number of parameters: 669.71 k\n" in out
    rows = [line for line in out.splitlines() if "(Linear)" in line]
    # The class is the first line of the notebook's third cell; its Linears on lines 6, 8, 10.
    assert [row.split()[-1] for row in rows] == ["3:6", "3:8", "3:10"]


def test_identical_siblings_fold_into_one_row(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(ROOT / "tests" / "data" / "runner" / "repeated.py")
    assert main(["report", path]) == 0
    rows = capsys.readouterr().out.splitlines()
    tree = [row for row in rows if "(Linear" in row or "4 × Linear" in row]
    assert tree[0].startswith("│  ├─ 0 (Linear)") and "64 Mac" in tree[0]  # 8*8
    # The four others, summed: 4 * 8*8 MACs, 4 * (8*8 + 8) params.
    assert tree[1].startswith("│  └─ 1–4 (4 × Linear, as 0)")
    assert "256 Mac" in tree[1] and " 288 " in tree[1]
    assert tree[2].startswith("└─ head (Linear)")
    assert "Computational complexity: 336 Mac" in rows  # 5*64 + 8*2


def test_seed_densenet_footer_is_the_articles(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(ROOT / "examples" / "seed_densenet.py")
    assert main(["report", path, "--convention", "ptflops", "--depth", "1"]) == 0
    out = capsys.readouterr().out
    # The seed article's figures for densenet161 at (1, 3, 224, 224), as ptflops prints them.
    footer = (
        "Computational complexity: 7.82 GMac\n"
        "Computational complexity: 15.64 GFLOPs\n"
        "Number of parameters: 28.68 M\n"
    )
    assert footer in out
    # Its top-level ptflops call needs `net`, which flopsight builds: a warning, not a failure.
    assert f"warning: {path}:15: top-level statement failed" in out
