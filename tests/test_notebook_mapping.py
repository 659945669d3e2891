"""Notebooks as one virtual module: cells joined in order, magics neutralised, lines mapped back."""

from __future__ import annotations

import ast
from pathlib import Path

from flopsight.source.notebook import (
    NotebookCell,
    build_virtual_module,
    neutralise_ipython,
    read_ipynb,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_code_cells_join_in_order_and_lines_map_back() -> None:
    cells = [
        NotebookCell("import torch\nfrom torch import nn", "code", "a"),
        NotebookCell("# Title", "markdown", "b"),
        NotebookCell("x = 1\ny = 2\nz = 3", "code", "c"),
    ]
    vm = build_virtual_module(cells)
    lines = vm.text.split("\n")
    # cell a: virtual lines 1-2, a separator on 3, cell c: 4-6
    assert lines[0] == "import torch" and lines[3] == "x = 1" and lines[5] == "z = 3"
    cell, inner = vm.to_cell(5) or (None, 0)
    assert cell is not None and cell.id == "c" and cell.index == 2 and inner == 2
    assert vm.to_cell(3) is None  # the separator belongs to no cell
    assert vm.to_virtual("c", 3) == 6
    assert vm.to_virtual("a", 1) == 1
    assert vm.to_virtual("c", 4) is None
    assert vm.describe(6) == "cell 3, line 3"


def test_magics_and_shell_escapes_become_comments_in_place() -> None:
    text = "!pip install ptflops\n%timeit f()\nfiles = !ls\nx = 1\nif x:\n    %time g()\n"
    out = neutralise_ipython(text)
    assert out.count("\n") == text.count("\n")
    ast.parse(out)  # valid Python now
    body = out.split("\n")
    assert body[0].startswith("#") and body[1].startswith("#") and body[2].startswith("#")
    assert body[3] == "x = 1"
    assert body[5].strip().startswith("pass")


def test_non_python_cell_magic_is_commented_out_whole_and_python_ones_run() -> None:
    bash = neutralise_ipython("%%bash\necho hi\nrm -rf /tmp/x")
    assert all(line.startswith("#") for line in bash.split("\n"))
    timed = neutralise_ipython("%%time\nclass A:\n    pass")
    assert timed.split("\n")[1:] == ["class A:", "    pass"]
    ast.parse(timed)


def test_reads_the_seed_notebook() -> None:
    cells = read_ipynb(EXAMPLES / "seed_mlp.ipynb")
    assert [c.kind for c in cells] == ["markdown", "code", "code", "code"]
    vm = build_virtual_module(cells)
    ast.parse(vm.text)
    class_line = next(i for i, t in enumerate(vm.text.split("\n"), 1) if "class NeuralNetwork" in t)
    assert vm.describe(class_line) == "cell 3, line 1"
