"""Which classes and assignments are models, and the input guessed for unannotated ones."""

from __future__ import annotations

import textwrap

import pytest
from flopsight.source import SourceAnalysis, Span, analyse_source


def analyse(text: str) -> SourceAnalysis:
    return analyse_source(textwrap.dedent(text))


def names(text: str) -> list[str]:
    return [m.name for m in analyse(text).models]


@pytest.mark.parametrize(
    ("imports", "base"),
    [
        ("from torch import nn", "nn.Module"),
        ("import torch", "torch.nn.Module"),
        ("from torch.nn import Module", "Module"),
        ("from torch.nn import Module as M", "M"),
        ("from torch.nn import *", "Module"),
        ("import torch.nn as tnn", "tnn.Module"),
        ("from torch import nn as N", "N.Module"),
        ("from torch import nn", "nn.Sequential"),
        ("from torch.nn import Sequential", "Sequential"),
        ("import torch", "torch.nn.ModuleList"),
        ("import lightning as L", "L.LightningModule"),
        ("", "nn.Module"),  # half-typed code without its imports yet
    ],
)
def test_module_bases(imports: str, base: str) -> None:
    text = f"{imports}\n\nclass Net({base}):\n    pass\n"
    analysis = analyse_source(text)
    [net] = analysis.models
    assert (net.name, net.kind, net.bases) == ("Net", "class", [base])


@pytest.mark.parametrize(
    "text",
    [
        "class Plain:\n    pass\n",
        "class Config(object):\n    pass\n",
        "from dataclasses import dataclass\n@dataclass\nclass Point:\n    x: int\n",
        "from mypkg import Block\nclass Net(Block):\n    pass\n",  # may be a model; unknowable
        "class Bad(Module):\n    pass\n",  # `Module` not imported from torch.nn
    ],
)
def test_non_models(text: str) -> None:
    assert analyse_source(text).models == []


def test_subclasses_of_same_file_models_are_models_in_any_order() -> None:
    text = """
        from torch import nn

        class C(B):
            pass

        class B(A):
            pass

        class A(nn.Module):
            pass

        class D(C, object):
            pass

        class E(object):
            pass
        """
    assert names(text) == ["C", "B", "A", "D"]


def test_pragma_or_annotated_forward_makes_a_model_whatever_its_bases() -> None:
    text = """
        from mypkg import Block
        from jaxtyping import Float

        class WithPragma(Block):  # flopsight: input=(1, 8)
            pass

        class WithAnnotation(Block):
            def forward(self, x: Float[Tensor, "b 8"]):
                return x

        class OtherAnnotation(Block):
            def forward(self, x: int, y: str = "a"):
                return x
        """
    analysis = analyse(text)
    assert [m.name for m in analysis.models] == ["WithPragma", "WithAnnotation"]
    assert analysis.diagnostics == []


def test_nested_classes_and_main_block_classes_are_ignored() -> None:
    text = """
        from torch import nn

        def factory():
            class InFunction(nn.Module):
                pass
            return InFunction

        class Outer:
            class InClass(nn.Module):
                pass

        if __name__ == "__main__":
            class InMain(nn.Module):
                pass

        if True:
            class InIf(nn.Module):
                pass

        try:
            class InTry(nn.Module):
                pass
        except ImportError:
            class InExcept(nn.Module):
                pass
        """
    assert names(text) == ["InIf", "InTry", "InExcept"]


def test_lines_spans_and_bases() -> None:
    text = """
        import torch
        from torch import nn


        @decorator
        class Net(  nn.Module, metaclass=Meta):
            def forward(self, x):
                return x

        net = Net()  # flopsight: input=(1, 2)
        """
    analysis = analyse(text)
    net_class, net = analysis.models
    assert (net_class.line, net_class.end_line) == (7, 9)
    assert net_class.name_span == Span(7, 6, 7, 9)
    assert net_class.bases == ["nn.Module"]
    assert net_class.forward_params == ["x"]
    assert (net.line, net.end_line, net.kind) == (11, 11, "instance")
    assert net.name_span == Span(11, 0, 11, 3)
    assert net.expression == "Net()"
    assert net.forward_params == ["x"]


def test_forward_and_init_are_inherited_from_same_file_bases() -> None:
    text = """
        from torch import nn

        class Base(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(32, 10)

            def forward(self, features, mask=None):
                return self.fc(features)

        class Child(Base):  # flopsight: input=(1, 32)
            pass

        class Other(Base):
            pass
        """
    analysis = analyse(text)
    child = analysis.model("Child")
    other = analysis.model("Other")
    assert child is not None and other is not None
    assert child.forward_params == ["features", "mask"]
    assert child.inputs is not None and child.inputs[0].name == "features"
    assert other.guessed_input == [1, 32]


def test_instance_of_an_annotated_class_takes_its_inputs() -> None:
    text = """
        from torch import nn
        from jaxtyping import Float

        class Net(nn.Module):
            def forward(self, x: Float[Tensor, "b 16"]):
                return x

        small = Net(width=4)  # flopsight: name="small", dims={"b": 2}
        """
    analysis = analyse(text)
    small = analysis.model("small")
    assert small is not None
    assert small.kind == "instance" and small.name == "small" and small.label == "small"
    assert small.inputs is not None
    assert [(i.name, i.shape) for i in small.inputs] == [("x", ["b", 16])]
    assert small.input_source == "jaxtyping"
    assert small.dims == {"b": 2}


def test_instance_pragma_without_input_is_unannotated() -> None:
    text = 'net = make()  # flopsight: name="net"\n'
    analysis = analyse_source(text)
    [net] = analysis.models
    assert net.inputs is None
    [hint] = analysis.diagnostics
    assert hint.code == "FS107" and hint.severity == "hint"
    assert hint.span == Span(1, 0, 1, 3)
    assert "add `input=(...)`" in hint.message


# -- the guess for unannotated classes -------------------------------------------------------


def guess(init_body: str, signature: str = "self") -> tuple[list[int] | None, dict[str, object]]:
    body = textwrap.indent(textwrap.dedent(init_body).strip(), " " * 8)
    text = (
        "import torch\nfrom torch import nn\n\n"
        f"class Net(nn.Module):\n    def __init__({signature}):\n        super().__init__()\n"
        f"{body}\n\n    def forward(self, x):\n        return x\n"
    )
    analysis = analyse_source(text)
    [net] = analysis.models
    [hint] = [d for d in analysis.diagnostics if d.code == "FS107"]
    assert hint.span == Span(4, 6, 4, 9)
    assert hint.severity == "hint"
    return net.guessed_input, {**hint.data, "guessed_dtype": net.guessed_dtype}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("self.conv = nn.Conv2d(3, 64, 7)", [1, 3, 224, 224]),
        ("self.conv = nn.Conv2d(in_channels=1, out_channels=8, kernel_size=3)", [1, 1, 224, 224]),
        ("self.conv = torch.nn.Conv1d(12, 64, 7)", [1, 12, 128]),
        ("self.conv = nn.Conv3d(3, 64, 3)", [1, 3, 16, 112, 112]),
        ("self.fc = nn.Linear(784, 10)", [1, 784]),
        ("self.fc = nn.Linear(28 * 28, 512)", [1, 784]),
        ("self.fc = nn.Linear(in_features=2 ** 10, out_features=2)", [1, 1024]),
        ("self.rnn = nn.LSTM(40, 128)", [1, 16, 40]),
        ("self.rnn = nn.GRU(input_size=80, hidden_size=10)", [1, 16, 80]),
        ("self.emb = nn.Embedding(32000, 512)", [1, 128]),
        (
            "self.flat = nn.Flatten()\nself.stack = nn.Sequential(\n"
            "    nn.Linear(28 * 28, 512),\n    nn.ReLU(),\n    nn.Linear(512, 10),\n)",
            [1, 784],
        ),
        ("self.norm = nn.BatchNorm2d(3)\nself.head = nn.Linear(64, 2)", [1, 64]),
        ("self.a = nn.Linear(8, 2); self.b = nn.Conv2d(3, 4, 1)", [1, 8]),
    ],
)
def test_guess_from_the_first_layer(body: str, expected: list[int]) -> None:
    shape, data = guess(body)
    assert shape == expected
    assert data["guessed_input"] == expected
    dtype = "int64" if "Embedding" in body else None
    assert data["dtype"] == dtype
    assert data["guessed_dtype"] == dtype
    pragma = f"# flopsight: input={tuple(expected)!r}"
    if dtype:
        pragma += ', dtype="int64"'
    assert data["pragma"] == pragma
    assert data["model"] == "Net"


def test_guess_in_source_order_not_tree_order() -> None:
    body = "self.head = make(\n    nn.Linear(16, 2),\n)\nself.conv = nn.Conv2d(3, 4, 1)"
    assert guess(body)[0] == [1, 16]


def test_guess_uses_literal_defaults_of_init() -> None:
    shape, _ = guess("self.conv = nn.Conv2d(in_ch, 8, 3)", "self, in_ch=5, width=64")
    assert shape == [1, 5, 224, 224]
    shape, _ = guess("self.fc = nn.Linear(dim * 2, 8)", "self, *, dim=64")
    assert shape == [1, 128]


@pytest.mark.parametrize(
    "body",
    [
        "self.conv = nn.Conv2d(channels, 8, 3)",  # not a literal
        "self.fc = nn.Linear(cfg.width, 8)",
        "self.fc = nn.Linear(0, 8)",
        "self.act = nn.ReLU()",  # no layer with an input size
    ],
)
def test_no_guess(body: str) -> None:
    shape, data = guess(body)
    assert shape is None
    assert data["guessed_input"] is None and data["pragma"] is None


def test_fs107_message_says_how_to_fix() -> None:
    analysis = analyse_source(
        "from torch import nn\nclass Net(nn.Module):\n"
        "    def __init__(self):\n        self.fc = nn.Linear(784, 10)\n"
    )
    [hint] = analysis.diagnostics
    assert hint.message == (
        "Net has no input shape, so flopsight does not run it: add "
        "`# flopsight: input=(1, 784)` to the `class` line (guessed from its first layer), "
        "or annotate forward's parameters"
    )
