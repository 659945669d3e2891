"""The zoo's forked children (bench/zoo.py, ``--isolation fork``): a child that counts sends its
result back; one that hangs, is killed or raises is recorded as timeout, memory or crash, as a
fresh interpreter's would be; and the reference agrees with torch's own counter."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

# bench/ is no package on the test path: load the script itself.
_SPEC = importlib.util.spec_from_file_location(
    "zoo", Path(__file__).resolve().parent.parent / "bench" / "zoo.py"
)
assert _SPEC is not None and _SPEC.loader is not None
zoo = importlib.util.module_from_spec(_SPEC)
sys.modules["zoo"] = zoo
_SPEC.loader.exec_module(zoo)

TEXT = """\
from torch import nn

# flopsight: input=(2, 64)
model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
"""


def _spec(text: str) -> dict[str, Any]:
    return zoo._spec("files", "tiny", text, "model", reference="flop_counter")


def test_forked_child_counts_and_its_reference_is_torchs_counter() -> None:
    result = zoo.run_forked(_spec(TEXT), timeout=120, memory_mb=8192)
    assert result["status"] == "ok", result
    # Hand count: 2 rows x (64 x 32 + 32 x 10) multiply-accumulates.
    assert result["macs"] == 2 * (64 * 32 + 32 * 10)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    with FlopCounterMode(display=False) as counter:
        model(torch.randn(2, 64))
    assert result["reference"]["value"] == counter.get_total_flops() // 2
    assert result["reference"]["ratio"] == 1.0


def test_a_hanging_child_is_killed_at_the_timeout() -> None:
    started = time.perf_counter()
    result = zoo.run_forked(_spec("import time\ntime.sleep(60)\n" + TEXT), 2, 8192)
    assert result["status"] == "timeout"
    assert result["error"]["message"] == "over 2 s"
    assert time.perf_counter() - started < 30


def test_a_child_killed_by_a_signal_is_recorded_as_memory() -> None:
    text = TEXT.replace("model = ", "import os\nmodel = os.kill(os.getpid(), 9) or ")
    result = zoo.run_forked(_spec(text), 60, 8192)
    assert result["status"] == "memory"
    assert "SIGKILL" in result["error"]["message"]


def test_a_child_that_raises_outside_the_count_is_a_crash(monkeypatch: Any) -> None:
    def broken(spec: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("the zoo itself broke")

    monkeypatch.setattr(zoo, "run_one", broken)  # the fork inherits the patched module
    result = zoo.run_forked(_spec(TEXT), 60, 8192)
    assert result["status"] == "crash"
    assert result["error"]["message"] == "exit 1: RuntimeError: the zoo itself broke"


def test_a_child_over_the_address_space_cap_is_memory() -> None:
    text = TEXT.replace("model = ", "model = bytearray(16 << 30) and ")
    result = zoo.run_forked(_spec(text), 60, 8192)
    assert result["status"] == "memory", result


def test_a_fresh_interpreter_gives_the_same_result() -> None:
    forked = zoo.run_forked(_spec(TEXT), 120, 8192)
    fresh = zoo.run_process(_spec(TEXT), 120, 8192)
    keys = ("status", "device", "macs", "params", "reference")
    assert {k: fresh.get(k) for k in keys} == {k: forked.get(k) for k in keys}


def test_a_run_stopped_early_says_how_much_of_each_source_ran() -> None:
    ok = {"status": "ok", "device": "meta", "seconds": 0.1, "macs": 10, "isolation": "fork"}
    results = {
        "models": {"files:a": dict(ok), "timm:x": dict(ok), "timm:y": dict(ok)},
        "totals": {"files": 1, "torchvision": 121, "timm": 1371},
        "run": {"timeout": 180, "memory_mb": 8192, "parent_rss_mb": 360},
    }
    page = zoo.render(results)
    assert "Not the full zoo yet: 3 of 1493 architectures run" in page
    assert "timm: 2 of 1371 run, torchvision: 0 of 121 run, files: 1 of 1 run" in page
    assert "the other 1490 were not run yet" in page
    assert "| timm | 2 of 2 | 100.0 % | ≥ 99 % | yes (so far: not all run) |" in page
