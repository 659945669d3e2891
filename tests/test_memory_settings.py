"""The memory settings (issue 15): ``flopsight.train`` and ``flopsight.gpu`` validated like the
others, and the pragma's ``optimizer=`` / ``precision=`` over them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flopsight.cli import main
from flopsight.settings import Settings
from flopsight.source import analyse_source


def test_defaults_track_nothing() -> None:
    s = Settings()
    assert (s.train_memory, s.train_optimizer, s.train_precision, s.gpu) == (
        False,
        "adamw",
        "fp32",
        None,
    )
    assert not s.tracks_memory


def test_valid_values_are_taken_and_a_gpu_turns_tracking_on() -> None:
    s, problems = Settings.read(
        {"train": {"optimizer": "sgd-momentum", "precision": "bf16-mixed"}, "gpu": "A100 40"}
    )
    assert problems == []
    assert s.train_optimizer == "sgd-momentum" and s.train_precision == "bf16-mixed"
    assert s.gpu == "A100 40"
    assert s.tracks_memory
    assert s.to_lsp()["train"] == {
        "memory": False,
        "optimizer": "sgd-momentum",
        "precision": "bf16-mixed",
    }


def test_wrong_values_keep_the_previous_and_say_why() -> None:
    base = Settings(train_optimizer="adam", gpu="h100")
    s, problems = Settings.read(
        {"train": {"optimizer": "lion", "precision": 16, "memory": "yes"}, "gpu": "v100"}, base
    )
    assert (s.train_optimizer, s.train_precision, s.gpu, s.train_memory) == (
        "adam",
        "fp32",
        "h100",
        False,
    )
    text = {p.key: p.message for p in problems}
    assert '"adamw"' in text["train.optimizer"] and "lion" in text["train.optimizer"]
    assert '"bf16-mixed"' in text["train.precision"]
    assert "true or false" in text["train.memory"]
    assert "unknown GPU 'v100'" in text["gpu"] and "h100" in text["gpu"]
    assert Settings.read({"gpu": None}, base)[0].gpu is None  # null clears it


def test_pragma_keys_are_checked() -> None:
    text = (
        "from torch import nn\n\n\n"
        'class A(nn.Module):  # flopsight: input=(1, 8), optimizer="sgd", precision="bf16"\n'
        "    def forward(self, x):\n        return x\n\n\n"
        'class B(nn.Module):  # flopsight: input=(1, 8), optimizer="lion"\n'
        "    def forward(self, x):\n        return x\n"
    )
    analysis = analyse_source(text, "m.py")
    a, b = analysis.model("A"), analysis.model("B")
    assert a is not None and b is not None
    assert a.train == {"optimizer": "sgd", "precision": "bf16"}
    assert b.train == {}
    [bad] = [d for d in analysis.diagnostics if d.code == "FS104"]
    assert "`optimizer` must be one of" in bad.message and "'adamw'" in bad.message


def test_the_pragma_says_the_step_over_the_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOPSIGHT_IN_PROCESS", "1")
    path = tmp_path / "p.py"
    path.write_text(
        "from torch import nn\n\n\n"
        'class P(nn.Module):  # flopsight: input=(4, 64), optimizer="sgd", precision="bf16"\n'
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(64, 64)\n\n"
        "    def forward(self, x):\n"
        "        return self.fc(x)\n"
    )
    assert main(["fit", str(path), "--gpu", "t4", "--optimizer", "adam", "--format", "json"]) == 0
    memory = json.loads(capsys.readouterr().out)["models"][0]["memory"]
    assert memory["optimizer"] == "sgd" and memory["precision"] == "bf16"
    params = 64 * 64 + 64
    assert memory["params_bytes"] == 2 * params and memory["optimizer_bytes"] == 0
