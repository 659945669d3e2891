"""``flopsight annotate``: the file with the editor's inlay-hint labels at the end of lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from flopsight.cli import main

ROOT = Path(__file__).parent.parent
MLP = ROOT / "examples" / "seed_mlp.py"


@pytest.fixture(autouse=True)
def in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOPSIGHT_IN_PROCESS", "1")


def labels(out: str) -> dict[int, str]:
    return {
        n: line.rsplit("  # ", 1)[1]
        for n, line in enumerate(out.splitlines(), start=1)
        if "  # " in line and "flopsight:" not in line.rsplit("  # ", 1)[1]
    }


def test_seed_mlp_annotated(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["annotate", str(MLP)]) == 0
    out = capsys.readouterr().out
    source = MLP.read_text().splitlines()
    lines = out.splitlines()
    assert len(lines) == len(source)
    # Every line keeps its code; labels only follow it.
    assert all(a.startswith(b.rstrip()) for a, b in zip(lines, source, strict=True))
    total = 784 * 512 + 512 * 512 + 512 * 10  # 668,672 MACs in the macs convention
    got = labels(out)
    # The constructor lines inside the nn.Sequential(...), by hand:
    assert got[12] == "401.41 KMac · 401.92 k params · 60.0%"  # 784*512; 784*512+512
    assert got[14] == "262.14 KMac · 262.66 k params · 39.2%"  # 512*512; 512*512+512
    assert got[16] == "5.12 KMac · 5.13 k params · 0.8%"  # 512*10; 512*10+10
    assert 100 * 401_408 / total == pytest.approx(60.03, abs=0.01)
    # The Sequential's line carries its subtree; the forward line that calls it, its work.
    assert got[11] == "668.67 KMac · 669.71 k params · 100.0%"
    assert got[21] == "668.67 KMac → [1, 10]"
    # ReLU and Flatten cost nothing in this convention: no label.
    assert 13 not in got and 10 not in got and 20 not in got
    # Labels sit in one column.
    columns = {line.index("  # ") for n, line in enumerate(lines, 1) if n in got and n != 7}
    assert len(columns) == 1


def test_model_error_is_marked_on_its_line(capsys: pytest.CaptureFixture[str]) -> None:
    path = ROOT / "tests" / "data" / "runner" / "shape_mismatch.py"
    assert main(["annotate", str(path)]) == 2
    captured = capsys.readouterr()
    line = captured.out.splitlines()[15]
    assert line.startswith("        return self.fc(x)")
    assert "✗ RuntimeError" in line
    assert "Broken: RuntimeError" in captured.err


def test_notebook_annotated_with_cell_markers(capsys: pytest.CaptureFixture[str]) -> None:
    notebook = ROOT / "examples" / "seed_mlp.ipynb"
    assert main(["annotate", str(notebook)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line for line in out if line.startswith("# %% cell")] == [
        "# %% cell 2",
        "# %% cell 3",
        "# %% cell 4",
    ]
    linear = next(line for line in out if "nn.Linear(28 * 28, 512)" in line)
    assert linear.endswith("# 401.41 KMac · 401.92 k params · 60.0%")  # 784*512; 784*512+512


def test_show_and_min_share_pick_what_labels_say(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["annotate", str(MLP), "--show", "flops,share", "--min-share", "10"]) == 0
    got = labels(capsys.readouterr().out)
    assert got[12] == "802.82 KFLOPs · 60.0%"  # 2 * 784*512 FLOPs
    assert got[21] == "1.34 MFLOPs"  # no shape asked for
    assert 16 not in got  # 512*10 / 668,672 = 0.8% of the model, under 10%


def test_unknown_label_part_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["annotate", str(MLP), "--show", "gflops"]) == 2
    assert capsys.readouterr().err.startswith("flopsight: error: --show 'gflops': name parts")


@pytest.mark.parametrize(
    ("char", "eol"),
    [("\x0c", "\n"), ("\x0b", "\n"), ("\x85", "\n"), ("\u2028", "\r\n"), ("\u2028", "\r")],
)
def test_labels_stay_on_their_lines_below_characters_that_end_no_line(
    char: str, eol: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Only \n, \r\n and \r end a line (Python's tokenizer); a form feed line, a U+2028 in a
    # comment and the like above the model must not move a label one line early.
    source = MLP.read_text().replace(
        "import torch\n", f"import torch\n\x0c\n# a {char} b\nSEP = 'x{char}y'  # 😀\n"
    )
    path = tmp_path / "mlp.py"
    path.write_bytes(eol.join(source.split("\n")).encode())
    assert main(["annotate", str(path)]) == 0
    out = capsys.readouterr().out
    source_lines = source.split("\n")
    out_lines = out.split("\n")
    assert out_lines[-1] == "" and len(out_lines) == len(source_lines)
    got = {
        n: line.rsplit("  # ", 1)[1]
        for n, line in enumerate(out_lines, start=1)
        if "  # " in line and "flopsight:" not in line.rsplit("  # ", 1)[1]
    }
    first = source_lines.index("            nn.Linear(28 * 28, 512),") + 1
    # By hand, macs convention: 784*512 = 401,408 MACs; params 784*512+512; share 60.0%.
    assert got[first] == "401.41 KMac · 401.92 k params · 60.0%"
    assert got[first + 2] == "262.14 KMac · 262.66 k params · 39.2%"  # 512*512; 512*512+512
    assert got[first + 4] == "5.12 KMac · 5.13 k params · 0.8%"  # 512*10; 512*10+10
    assert all(a.startswith(b.rstrip()) for a, b in zip(out_lines, source_lines, strict=True))
