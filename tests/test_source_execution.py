"""Which top-level statements run when flopsight loads a file (design: What runs)."""

from __future__ import annotations

import ast
import textwrap
import traceback

import pytest
from flopsight.source import (
    TopLevelStatement,
    analyse_source,
    executable_nodes,
    executable_source,
)


def statements(text: str) -> list[TopLevelStatement]:
    analysis = analyse_source(textwrap.dedent(text))
    assert analysis.syntax_error is None
    return analysis.statements


def runs(text: str) -> dict[int, tuple[bool, str]]:
    return {s.line: (s.executes, s.reason) for s in statements(text)}


@pytest.mark.parametrize(
    "statement",
    [
        "import torch",
        "import torch.nn as nn, os",
        "from torch import nn",
        "from . import sibling",
        "from __future__ import annotations",
        "def f(x):\n    print(x)",
        "async def f():\n    await g()",
        "class A:\n    pass",
        "@dataclass\nclass A:\n    x: int = 1",
        "x = 1",
        "x = y = load()",
        "x: int = 3",
        "x: int",
        "x += 1",
        "a, b = get_model_complexity_info(net, (3, 224, 224))",
        '"""A docstring."""',
        "...",
        "pass",
        "if torch.cuda.is_available():\n    device = 'cuda'\nelse:\n    device = 'cpu'",
        "try:\n    import foo\nexcept ImportError:\n    foo = None",
        "try:\n    import foo\nexcept ImportError:\n    raise ImportError('pip install foo')",
        "try:\n    import foo\nexcept ImportError:\n    pass\nelse:\n    X = 1\n"
        "finally:\n    Y = 2",
        "if sys.version_info >= (3, 11):\n    import tomllib\nelif True:\n    tomllib = None",
        "if True:\n    try:\n        import foo\n    except ImportError:\n        foo = None",
        "if __name__ != '__main__':\n    LOADED = True",
    ],
)
def test_definitions_run(statement: str) -> None:
    [s] = statements(statement + "\n")
    assert (s.line, s.executes, s.reason) == (1, True, "")
    assert s.end_line == statement.count("\n") + 1


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        ("print('hello')", "expression statement"),
        ("train(model)", "expression statement"),
        ("model.eval()", "expression statement"),
        ("await main()", "expression statement"),  # parses (notebooks allow it); never runs
        ("for i in range(3):\n    x = i", "loop"),
        ("async_loop = None\nwhile True:\n    break", "loop"),
        ("with torch.no_grad():\n    y = 1", "with block"),
        ('if __name__ == "__main__":\n    main()', "__main__ block"),
        ("if '__main__' == __name__:\n    x = 1", "__main__ block"),
        ("assert torch.__version__", "assert statement"),
        ("del x", "del statement"),
        ("raise SystemExit", "raise statement"),
        (
            "if DEBUG:\n    x = 1\n    print(x)",
            "if block: line 3 (expression statement) is not a definition",
        ),
        (
            "try:\n    import foo\nexcept ImportError:\n    print('no foo')",
            "try block: line 4 (expression statement) is not a definition",
        ),
        (
            "if A:\n    for i in x:\n        pass",
            "if block: line 2 (loop) is not a definition",
        ),
        ("match x:\n    case 1:\n        y = 2", "match statement"),
    ],
)
def test_other_statements_are_skipped(statement: str, reason: str) -> None:
    analysis = analyse_source(statement + "\n")
    last = analysis.statements[-1]
    assert (last.executes, last.reason) == (False, reason)
    assert last.end_line == statement.count("\n") + 1


def test_decorated_definitions_start_at_their_first_decorator() -> None:
    text = """
        import functools

        @functools.lru_cache
        @other
        def f():
            return 1
        """
    assert [(s.line, s.end_line) for s in statements(text)] == [(2, 2), (4, 7)]


def test_model_instances_and_annotated_class_builds_are_skipped() -> None:
    text = """
        from torch import nn
        import torchvision.models as models

        class Net(nn.Module):  # flopsight: input=(1, 8)
            pass

        class Plain(nn.Module):
            pass

        net = models.densenet161()  # flopsight: input=(1, 3, 224, 224)
        model = Net().eval()
        other = Plain()
        wrapped = torch.compile(Net())
        macs, params = get_model_complexity_info(net, (3, 224, 224), as_strings=True)
        print(macs)
        """
    got = runs(text)
    assert got[11] == (False, "model instance built by flopsight")
    assert got[12] == (False, "builds Net, which flopsight builds itself from its annotation")
    assert got[13] == (True, "")
    assert got[14] == (False, "builds Net, which flopsight builds itself from its annotation")
    assert got[15] == (True, "")
    assert got[16] == (False, "expression statement")


def test_an_assignment_an_instance_reads_is_not_skipped() -> None:
    text = """
        class Net(nn.Module):  # flopsight: input=(1, 8)
            pass

        base = Net()
        net = torch.compile(base)  # flopsight: input=(2, 8)
        """
    got = runs(text)
    assert got[5] == (True, "")
    assert got[6] == (False, "model instance built by flopsight")


def test_every_top_level_statement_is_listed_once_in_order() -> None:
    text = "import a\nx = 1; print(x); y = 2\nfor i in []: pass\n"
    assert [(s.line, s.executes) for s in statements(text)] == [
        (1, True),
        (2, True),
        (2, False),
        (2, True),
        (3, False),
    ]


SCRIPT = """\
import math

SCALE = 2

def double(x):
    return x * SCALE

print("side effect")

def broken():
    raise ValueError("boom")

for i in range(3):
    SCALE += 100

if __name__ == "__main__":
    SCALE = -1

VALUE = double(21)
"""


def test_executable_nodes_compile_alone_with_their_line_numbers() -> None:
    analysis = analyse_source(SCRIPT)
    tree = ast.parse(SCRIPT)
    nodes = executable_nodes(tree, analysis.statements)
    assert [n.lineno for n in nodes] == [1, 3, 5, 10, 19]
    namespace: dict[str, object] = {"__name__": "seed"}
    for node in nodes:
        exec(compile(ast.Module(body=[node], type_ignores=[]), "script.py", "exec"), namespace)
    assert namespace["VALUE"] == 42
    assert namespace["SCALE"] == 2
    broken = namespace["broken"]
    assert callable(broken)
    with pytest.raises(ValueError) as info:
        broken()
    frame = traceback.extract_tb(info.tb)[-1]
    assert (frame.filename, frame.lineno) == ("script.py", 11)


def test_executable_source_ranges() -> None:
    analysis = analyse_source(SCRIPT)
    assert executable_source(SCRIPT, analysis) == [(1, 1), (3, 3), (5, 6), (10, 11), (19, 19)]
