"""``flopsight check``: exit 1 naming each model over budget, 0 within it."""

from __future__ import annotations

from pathlib import Path

import pytest
from flopsight.cli import main

ROOT = Path(__file__).parent.parent
MLP = str(ROOT / "examples" / "seed_mlp.py")
# The MLP by hand, macs convention: 784*512 + 512*512 + 512*10 = 668,672 MACs;
# params 784*512+512 + 512*512+512 + 512*10+10 = 669,706.
MLP_MACS = 784 * 512 + 512 * 512 + 512 * 10
MLP_PARAMS = 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10


@pytest.fixture(autouse=True)
def in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOPSIGHT_IN_PROCESS", "1")


def test_within_budget_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert MLP_MACS < 700_000 and MLP_PARAMS < 700_000
    assert main(["check", MLP, "--max-macs", "700K", "--max-params", "0.7M"]) == 0
    out = capsys.readouterr().out
    assert "NeuralNetwork" in out and "within budget" in out


def test_over_budget_exits_1_with_file_and_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert MLP_MACS > 600_000
    assert main(["check", MLP, "--max-macs", "600K"]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [f"{MLP}:7: NeuralNetwork: 668.67 KMac exceeds --max-macs 600.00 KMac"]


def test_both_budgets_over_name_both(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", MLP, "--max-macs", "1k", "--max-params", "1k"]) == 1
    out = capsys.readouterr().out
    assert "exceeds --max-macs" in out and "params exceeds --max-params" in out


def test_github_annotations(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", MLP, "--max-params", "500k", "--github"]) == 1
    (line,) = capsys.readouterr().out.strip().splitlines()
    assert line.startswith(f"::error file={MLP},line=7,")
    assert line.endswith("::NeuralNetwork: 669.71 k params exceeds --max-params 500.00 k")


def test_ptflops_convention_is_checked_in_its_own_numbers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 670.73 KMac in ptflops' convention (the article), 668.67 KMac in macs: 669K splits them.
    assert main(["check", MLP, "--max-macs", "669K"]) == 0
    assert main(["check", MLP, "--max-macs", "669K", "--convention", "ptflops"]) == 1
    assert "670.73 KMac exceeds" in capsys.readouterr().out


def test_bad_budget_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", MLP, "--max-macs", "lots"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("flopsight: error: --max-macs 'lots': not a quantity")


def test_a_model_that_raises_fails_the_check(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(ROOT / "tests" / "data" / "runner" / "shape_mismatch.py")
    assert main(["check", path, "--max-macs", "10G"]) == 2
    err = capsys.readouterr().err
    assert f"{path}:16: FS202 Broken: RuntimeError" in err
