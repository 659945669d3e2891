"""Per-line attribution: each op is charged to the innermost line of the analysed file.

The transformer example writes its attention out in `forward`; the MACs on each line are
computed by hand here. Line numbers are found by searching the example's text.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import torch
from flopsight.counting.build import build_model
from flopsight.counting.construction import record_construction
from flopsight.counting.counter import count_model
from flopsight.report.model import ModelReport
from flopsight.report.units import format_macs

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BLOCK = EXAMPLES / "transformer_block.py"
MLP = EXAMPLES / "seed_mlp.py"

B, T, C, HEADS = 1, 128, 256, 8  # the pragma's input (1, 128, 256); dim=256, heads=8
HIDDEN = 4 * C  # mlp_ratio=4


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _line_of(path: Path, needle: str) -> int:
    hits = [i for i, text in enumerate(path.read_text().splitlines(), 1) if needle in text]
    assert len(hits) == 1, f"{needle!r} should appear once in {path.name}, found {hits}"
    return hits[0]


def _count_block(convention: str) -> tuple[ModelReport, dict[int, int]]:
    path = str(BLOCK)
    example = _load(BLOCK)
    with record_construction(path) as constructed_at:
        model, device = build_model(example.TransformerBlock)
    report = count_model(
        model,
        (torch.empty(B, T, C, device="meta"),),
        convention=convention,
        source_file=path,
        constructed_at=constructed_at,
        device=device,
    )
    return report, {line.line: line.macs for line in report.lines}


def test_functional_attention_lines_carry_their_macs() -> None:
    report, macs = _count_block("macs")

    # Each projection: (B*T) rows times a C x C weight.
    projection = B * T * C * C
    assert macs[_line_of(BLOCK, "q = self.q_proj(h)")] == projection == 8_388_608
    assert macs[_line_of(BLOCK, "k = self.k_proj(h)")] == projection
    assert macs[_line_of(BLOCK, "v = self.v_proj(h)")] == projection
    assert macs[_line_of(BLOCK, "x = x + self.out_proj(y)")] == projection
    # q @ k^T: per head T x T scores, each a dot product of length C/HEADS -> B*T*T*C.
    scores = B * HEADS * T * T * (C // HEADS)
    assert macs[_line_of(BLOCK, "att = q @ k.transpose(-2, -1)")] == scores == 4_194_304
    # att @ v: T x T weights times T x C/HEADS values per head -> B*T*T*C.
    assert macs[_line_of(BLOCK, "y = att @ v")] == B * T * T * C
    # Scaling, softmax and reshapes are free in the `macs` convention.
    assert macs[_line_of(BLOCK, "att = F.softmax(att, dim=-1)")] == 0
    assert macs[_line_of(BLOCK, "att = att / math.sqrt(head_dim)")] == 0
    # The MLP: C -> 4C -> C.
    mlp = B * T * C * HIDDEN + B * T * HIDDEN * C
    assert macs[_line_of(BLOCK, "x = x + self.mlp(self.norm2(x))")] == mlp

    assert report.total is not None
    assert report.total.macs == 4 * projection + 2 * B * T * T * C + mlp
    assert sum(macs.values()) == report.total.macs


def test_line_output_shapes_are_the_last_op_on_the_line() -> None:
    report, _ = _count_block("macs")
    shapes = {line.line: line.output_shape for line in report.lines}
    assert shapes[_line_of(BLOCK, "att = q @ k.transpose(-2, -1)")] == [B, HEADS, T, T]
    assert shapes[_line_of(BLOCK, "y = att @ v")] == [B, HEADS, T, C // HEADS]
    assert shapes[_line_of(BLOCK, "y = y.transpose(1, 2).reshape(b, t, c)")] == [B, T, C]


def test_ptflops_convention_charges_modules_at_their_call_line() -> None:
    report, macs = _count_block("ptflops")
    # ptflops' Linear includes the bias: (C*C + C) per row.
    assert macs[_line_of(BLOCK, "q = self.q_proj(h)")] == B * T * (C * C + C)
    # ptflops' LayerNorm (no `affine` attribute): one op per element.
    assert macs[_line_of(BLOCK, "h = self.norm1(x)")] == B * T * C
    # Functional matmuls are not counted by ptflops with count_functional=False.
    assert macs[_line_of(BLOCK, "att = q @ k.transpose(-2, -1)")] == 0
    assert macs[_line_of(BLOCK, "y = att @ v")] == 0
    # ... and the report says what was left out, and where: 2 * B*T*T*C = 8.39 MMac.
    skipped = sorted(
        [_line_of(BLOCK, "att = q @ k.transpose(-2, -1)"), _line_of(BLOCK, "y = att @ v")]
    )
    assert report.notes == [
        f"{format_macs(2 * B * T * T * C)} of functional ops in forward (lines {skipped[0]}, "
        f"{skipped[1]}) are not counted: the ptflops convention counts modules only, as "
        "ptflops does with count_functional=False; the macs convention counts them"
    ]


def test_layers_built_inside_a_multiline_sequential_get_their_own_lines() -> None:
    path = str(MLP)
    seed = _load(MLP)
    with record_construction(path) as constructed_at:
        model, device = build_model(seed.NeuralNetwork)
    report = count_model(
        model,
        (torch.empty(1, 28, 28, device="meta"),),
        source_file=path,
        constructed_at=constructed_at,
        device=device,
    )
    lines = {layer.path: layer.line for layer in report.layers}
    assert lines["linear_relu_stack"] == _line_of(MLP, "nn.Sequential(")
    assert lines["linear_relu_stack.0"] == _line_of(MLP, "nn.Linear(28 * 28, 512)")
    assert lines["linear_relu_stack.2"] == _line_of(MLP, "nn.Linear(512, 512)")
    assert lines["linear_relu_stack.4"] == _line_of(MLP, "nn.Linear(512, 10)")
    relus = [lines[f"linear_relu_stack.{i}"] for i in (1, 3)]
    assert len(set(relus)) == 2 and all(line is not None for line in relus)
    # The model object itself was built here, not in the analysed file.
    assert lines[""] is None


def test_layers_built_outside_the_analysed_file_have_no_line() -> None:
    import torchvision.models as tvm

    with record_construction(str(MLP)) as constructed_at:
        model, _ = build_model(tvm.resnet18)
    assert not any(id(m) in constructed_at for m in model.modules())


LOOPS = """
import torch
from torch import nn
import torchvision.models as tvm


class Stack(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList(nn.Linear(8, 8) for _ in range(3))
        self.res = nn.ModuleList(tvm.resnet.BasicBlock(4, 4) for _ in range(2))
        self.fc = nn.Linear(8, 8)
        self.act = nn.ReLU()

    def forward(self, x):
        for blk in self.blocks:
            x = blk(x)
        x = self.act(self.fc(x))
        y = torch.zeros(1, 4, 4, 4)
        for block in self.res:
            y = block(y)
        return x, y
"""


def test_a_line_run_in_a_loop_counts_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "loops.py"
    path.write_text(LOOPS)
    model = _load(path).Stack()
    report = count_model(model, (torch.randn(2, 8),), source_file=str(path))
    lines = {line.line: line for line in report.lines}

    looped = lines[_line_of(path, "x = blk(x)")]
    assert (looped.calls, looped.macs) == (3, 3 * 2 * 8 * 8)
    # Two module calls on one line are one run of it.
    nested = lines[_line_of(path, "x = self.act(self.fc(x))")]
    assert (nested.calls, nested.macs) == (1, 2 * 8 * 8)
    # An imported block (torchvision's BasicBlock: two 3x3 convs) run twice from one line.
    blocks = lines[_line_of(path, "y = block(y)")]
    assert (blocks.calls, blocks.macs) == (2, 2 * 2 * (4 * 4 * 4 * (4 * 3 * 3)))
