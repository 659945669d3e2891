"""``--mode train`` and the pragma's ``mode="train"`` on the command line: the table's fwd / bwd
columns, the JSON's phases (valid against the schema), annotate's fwd + bwd, FS206.

Seed MLP at batch 1, by hand: the Linears' forwards are 784·512 = 401,408, 512·512 = 262,144 and
512·10 = 5,120 MACs. The first Linear's input needs no gradient, so its backward is the weight
gradient alone (401,408); the others compute input and weight gradients (524,288 and 10,240).
Forward 668,672 (668.67 KMac), backward 935,936 (935.94 KMac), step 1,604,608 (1.60 MMac).
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from flopsight.cli import main

ROOT = Path(__file__).parent.parent
SEED = str(ROOT / "examples" / "seed_mlp.py")
DATA = ROOT / "tests" / "data" / "training"
SCHEMA = json.loads((ROOT / "server" / "flopsight" / "schema" / "report.schema.json").read_text())
FORWARD = 784 * 512 + 512 * 512 + 512 * 10
BACKWARD = 784 * 512 + 2 * 512 * 512 + 2 * 512 * 10


@pytest.fixture(autouse=True)
def in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOPSIGHT_IN_PROCESS", "1")


def test_table_has_fwd_and_bwd_columns(capsys: pytest.CaptureFixture[str]) -> None:
    assert (FORWARD, BACKWARD) == (668_672, 935_936)
    assert main(["report", SEED, "--mode", "train"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("Module (type)"))
    assert header.split()[:6] == ["Module", "(type)", "MACs", "fwd", "bwd", "share"]
    rows = [line for line in out.splitlines() if "(Linear)" in line]
    # MACs, fwd, bwd of each Linear.
    assert "802.82 KMac  401.41 KMac  401.41 KMac" in rows[0]
    assert "786.43 KMac  262.14 KMac  524.29 KMac" in rows[1]
    assert "15.36 KMac    5.12 KMac   10.24 KMac" in rows[2]
    assert "Training step: 1.60 MMac (fwd 668.67 KMac · bwd 935.94 KMac)\n" in out
    assert "Computational complexity: 3.21 MFLOPs\n" in out
    assert "the backward of the sum of the floating output (1 tensor)" in out


def test_json_carries_the_phases_and_validates(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", SEED, "--mode", "train", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    jsonschema.validate(report, SCHEMA)
    assert report["mode"] == "training"
    [model] = report["models"]
    assert model["mode"] == "training"
    total = model["total"]
    assert (total["forward_macs"], total["backward_macs"], total["recompute_macs"]) == (
        FORWARD,
        BACKWARD,
        0,
    )
    assert total["macs"] == FORWARD + BACKWARD and total["flops"] == 2 * total["macs"]
    for entry in [*model["layers"], *model["lines"]]:
        assert entry["macs"] == (
            entry["forward_macs"] + entry["backward_macs"] + entry["recompute_macs"]
        )
    assert sum(line["backward_macs"] for line in model["lines"]) == BACKWARD
    phases = {(c["convention"], c["phase"]): c["macs"] for c in model["counts"]}
    assert phases == {
        ("macs", "forward"): FORWARD,
        ("macs", "backward"): BACKWARD,
        ("macs", "recompute"): 0,
    }


def test_inference_json_says_its_mode(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", SEED, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    jsonschema.validate(report, SCHEMA)
    assert report["mode"] == "inference"
    [model] = report["models"]
    assert model["mode"] == "inference" and "forward_macs" not in model["total"]
    assert model["total"]["macs"] == FORWARD


def test_pragma_mode_and_fs206(capsys: pytest.CaptureFixture[str]) -> None:
    path = DATA / "mlp.py"
    assert main(["report", str(path), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    jsonschema.validate(report, SCHEMA)
    models = {m["name"]: m for m in report["models"]}
    # Every model of the file says mode="train" in its pragma; the file's mode stays inference.
    assert report["mode"] == "inference"
    assert models["MLP"]["mode"] == "training"
    assert models["MLP"]["total"]["backward_macs"] == BACKWARD
    assert "no floating tensor" in models["Argmax"]["no_backward"]
    assert models["Argmax"]["total"]["forward_macs"] == 784 * 10
    lines = path.read_text().splitlines()
    # The line that ran without gradients: the one inside `with torch.no_grad():`.
    inside = lines.index("        with torch.no_grad():") + 2
    assert f"torch.inference_mode(); line {inside} ran under it)" in models["NoGrad"]["no_backward"]

    assert main(["report", str(path), "--model", "Argmax"]) == 0
    out = capsys.readouterr().out
    assert "FS206 no backward: the output has no floating tensor" in out
    assert "(the forward is counted)" in out


def test_checkpoint_gets_a_recompute_column(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(DATA / "mlp.py"), "--model", "Checkpointed"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("Module (type)"))
    assert header.split()[2:6] == ["MACs", "fwd", "bwd", "recompute"]
    # block.fc1 re-runs once: 8·16 rows x 64 x 256 = 2,097,152 MACs.
    assert "recompute 2.10 MMac)" in out


def test_annotate_shows_fwd_plus_bwd(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["annotate", SEED, "--mode", "train"]) == 0
    out = capsys.readouterr().out
    first = next(line for line in out.splitlines() if "nn.Linear(28 * 28, 512)" in line)
    assert first.endswith("# 401.41 + 401.41 KMac · 401.92 k params")
    last = next(line for line in out.splitlines() if "nn.Linear(512, 10)" in line)
    assert "# 5.12 + 10.24 KMac" in last


def test_ptflops_in_training_mode_says_it_has_no_backward(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["report", SEED, "--mode", "train", "--convention", "ptflops"]) == 0
    out = capsys.readouterr().out
    assert "note: training mode: the ptflops convention has no backward of its own" in out
    assert "Computational complexity: 670.73 KMac\n" in out  # the forward, as ptflops counts it


def test_measure_refuses_training_mode(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["measure", SEED, "--mode", "train"]) == 2
    err = capsys.readouterr().err
    assert "--mode train: measure times the forward only" in err


def test_check_budgets_the_training_step(capsys: pytest.CaptureFixture[str]) -> None:
    # Inference: 668,672 MACs fit 1M; the training step, 1,604,608, does not.
    assert main(["check", SEED, "--max-macs", "1M"]) == 0
    assert main(["check", SEED, "--max-macs", "1M", "--mode", "train"]) == 1
    assert "1.60 MMac" in capsys.readouterr().out
