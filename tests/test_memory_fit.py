"""``flopsight fit`` (issue 15): the largest batch whose training step fits a GPU, through the
CLI (in process, and once through the real worker with the schema), the accelerator table,
the search, and the bad inputs (unknown GPU, nothing fits at 1, no batch dimension)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import torch
from flopsight import gpus
from flopsight.cli import main
from flopsight.counting.memory import pick_loss, warm_optimizer
from flopsight.counting.memory_job import search_largest
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.distributed._tools.mem_tracker import MemTracker

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "server" / "flopsight" / "schema" / "report.schema.json").read_text())

MLP_FILE = """\
from torch import nn


class Wide(nn.Module):  # flopsight: input=("batch", 1024)
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(1024, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 10)
        )

    def forward(self, x):
        return self.net(x)
"""


def wide() -> nn.Module:
    return nn.Sequential(
        nn.Linear(1024, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 10)
    )


def memtracker_peak(batch: int) -> int:
    """MemTracker's peak of the same steady-state AdamW step (foreach, as CUDA) at ``batch``."""
    # fork_rng: the global RNG state is left as it was (a detection test's count depends on it).
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = wide()
    fake = FakeTensorMode()
    for module in model.modules():
        for name, p in list(module._parameters.items()):
            if p is not None:
                module._parameters[name] = nn.Parameter(fake.from_tensor(p.detach()))
    with fake:
        x = torch.randn(batch, 1024)
        opt = torch.optim.AdamW(model.parameters(), foreach=True)
        warm_optimizer(opt)
        tracker = MemTracker()
        tracker.track_external(model, opt, x)
        with tracker:
            loss = pick_loss(model(x))
            loss.backward()
            del loss
            opt.step()
        peak = tracker.get_tracker_snapshot("peak")
    return int(sum(v["Total"] for v in peak.values()))


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "wide.py"
    path.write_text(MLP_FILE)
    return path


def test_largest_batch_agrees_with_memtracker(
    model_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOPSIGHT_IN_PROCESS", "1")
    assert main(["fit", str(model_file), "--gpu", "t4", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    fit = report["models"][0]["memory"]["fit"]
    largest = fit["largest"]
    capacity = gpus.accelerator("t4").bytes
    assert capacity == 15360 * 1024**2 == fit["capacity_bytes"]
    assert fit["next"] == largest + 1
    # MemTracker's peaks at the answer and the next value bracket the capacity (MemTracker
    # also counts AdamW's step counters, 4 bytes each on the CPU: 6 tensors, 24 bytes).
    assert memtracker_peak(largest) - 24 <= capacity < memtracker_peak(largest + 1) - 24
    assert fit["peak_at_largest"] <= capacity < fit["peak_at_next"]


def test_table_output_names_the_gpu_and_both_peaks(
    model_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOPSIGHT_IN_PROCESS", "1")
    code = main(
        ["fit", str(model_file), "--gpu", "rtx4090", "--precision", "bf16-mixed", "--dim", "batch"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "largest batch that fits RTX 4090 (24.0 GiB):" in out
    assert "; at batch=" in out and " bytes)" in out
    assert "training (AdamW, bf16-mixed, batch 1)" in out


def test_through_the_worker_the_report_validates(
    model_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLOPSIGHT_IN_PROCESS", raising=False)
    code = main(["fit", str(model_file), "--gpu", "h100", "--optimizer", "sgd", "--format", "json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    jsonschema.validate(report, SCHEMA)
    memory = report["models"][0]["memory"]
    params = (1024 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 10 + 10)
    assert memory["optimizer"] == "sgd" and memory["batch"] == 1
    assert memory["params_bytes"] == 4 * params and memory["optimizer_bytes"] == 0
    assert memory["fit"]["largest"] > 1000
    timeline = report["models"][0]["memory_timeline"]
    assert 0 < len(timeline["points"]) <= 400
    assert max(p["bytes"] for p in timeline["points"]) == memory["peak_bytes"]


def test_unknown_gpu_lists_the_known_ones(
    model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fit", str(model_file), "--gpu", "h1000"]) == 2
    err = capsys.readouterr().err
    assert "unknown GPU 'h1000'" in err
    assert all(a.key in err for a in gpus.ACCELERATORS)


def test_nothing_fits_at_one_says_the_peak_at_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOPSIGHT_IN_PROCESS", "1")
    path = tmp_path / "huge.py"
    path.write_text(
        "from torch import nn\n\n\n"
        "class Huge(nn.Module):  # flopsight: input=(1, 48000)\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(48000, 48000, bias=False)\n\n"
        "    def forward(self, x):\n"
        "        return self.fc(x)\n"
    )
    assert main(["fit", str(path), "--gpu", "t4", "--optimizer", "sgd"]) == 1
    out = capsys.readouterr().out
    # 2.3e9 parameters: 4 bytes of weight + 4 of gradient each, 17.2 GiB, before any input.
    assert "does not fit T4 (15.0 GiB) even at batch=1: peak" in out
    peak = float(out.split("peak ")[1].split(" GiB")[0])
    assert 8 * 48000**2 / 1024**3 <= peak < 8 * 48000**2 / 1024**3 * 1.35


def test_no_batch_dimension_asks_to_name_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOPSIGHT_IN_PROCESS", "1")
    path = tmp_path / "flat.py"
    path.write_text(
        "from torch import nn\n\n\n"
        "class Flat(nn.Module):  # flopsight: input=(784,)\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(784, 10)\n\n"
        "    def forward(self, x):\n"
        "        return self.fc(x)\n"
    )
    assert main(["fit", str(path), "--gpu", "t4"]) == 2
    err = capsys.readouterr().err
    assert "no dimension 'batch'" in err and "--dim NAME" in err


def test_a_named_symbolic_dimension_is_searched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOPSIGHT_IN_PROCESS", "1")
    path = tmp_path / "seq.py"
    path.write_text(
        "from torch import nn\n\n\n"
        'class Seq(nn.Module):  # flopsight: input=(2, "seq", 256), dims={"seq": 16}\n'
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(256, 256)\n\n"
        "    def forward(self, x):\n"
        "        return self.fc(x).relu()\n"
    )
    assert main(["fit", str(path), "--gpu", "apple-1", "--dim", "seq", "--format", "json"]) == 0
    memory = json.loads(capsys.readouterr().out)["models"][0]["memory"]
    assert memory["dim"] == "seq" and memory["batch"] == 16
    # The answer's peak fits and the next one's does not.
    fit = memory["fit"]
    assert fit["peak_at_largest"] <= fit["capacity_bytes"] < fit["peak_at_next"]
    assert fit["capacity_bytes"] == int(1024**3 * 0.75)


def test_search_finds_what_trying_every_value_finds() -> None:
    """Against a brute-force scan, for linear, flat-then-linear, quadratic and step peaks; a
    linear peak takes four runs (1, 2, the line's guess, one past it)."""
    peaks = {
        "linear": lambda n: 1000 + 10 * n,
        "flat then linear": lambda n: max(5000, 1000 + 10 * n),
        "quadratic": lambda n: 1000 + 3 * n * n,
        "steps": lambda n: 1000 + 512 * (n // 7),
    }
    for name, peak in peaks.items():
        for capacity in (1005, 1010, 1370, 5000, 9999, 77_777, 10**6):
            calls: list[int] = []

            def counted(n: int, peak=peak, calls=calls) -> int:  # type: ignore[no-untyped-def]
                calls.append(n)
                return int(peak(n))

            found = search_largest(counted, capacity, limit=1 << 16)
            fitting = [n for n in range(1, (1 << 16) + 1) if peak(n) <= capacity]
            expected = max(fitting) if fitting else None
            assert found.largest == expected, (name, capacity, found)
            if expected is not None:
                assert found.next_value == expected + 1
            assert len(calls) <= 2 * 2 * 17, (name, capacity, len(calls))
            if name == "linear" and expected is not None and expected > 2:
                assert len(set(calls)) <= 4, (capacity, calls)
    # Given each phase's peak (an optimizer step flat in the batch, a backward growing with
    # it), the lines find the crossing in four runs too.
    calls = []

    def phases(n: int) -> list[int]:
        calls.append(n)
        return [5000, 1000 + 10 * n]

    found = search_largest(phases, 77_777)
    assert found.largest == 7677 and len(set(calls)) <= 4
    nothing = search_largest(lambda n: 1000 + 10 * n, 500)
    assert nothing.largest is None and nothing.peak_at_next == 1010


def test_accelerator_names() -> None:
    assert gpus.accelerator("H100").name == "H100 80GB"
    assert gpus.accelerator("A100 40").key == "a100-40"
    assert gpus.accelerator("4090").key == "rtx4090"
    assert gpus.accelerator("m3-max-48").bytes == int(48 * 1024**3 * 0.75)
    with pytest.raises(gpus.UnknownAccelerator, match="known: t4, rtx4090"):
        gpus.accelerator("v100")


def test_summary_text() -> None:
    memory = {
        "peak_bytes": int(18.3 * 1024**3),
        "mode": "train",
        "optimizer": "adamw",
        "precision": "bf16-mixed",
        "batch": 8,
        "gpu": {"name": "RTX 4090"},
        "fits": True,
    }
    assert (
        gpus.memory_summary(memory)
        == "peak 18.3 GiB training (AdamW, bf16-mixed, batch 8) · fits RTX 4090"
    )
