"""analyse_source never raises: every prefix of a real file, and thousands of random mutations."""

from __future__ import annotations

import random
from pathlib import Path

from flopsight.source import analyse_source

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# Text that exercises every reader: pragmas, jaxtyping, Annotated, guesses, blocks.
RICH = '''\
"""A docstring with # flopsight: input=(1,) inside."""
import torch
from torch import nn
from jaxtyping import Float, Bool
from typing import Annotated, Optional

# flopsight: input=[(1, 3, 224, 224), (1, 77)], dtype=["float16", "long"], name="two"
@decorator(x=1)
class TwoTower(nn.Module):
    def __init__(self, c=3):
        super().__init__()
        self.conv = nn.Conv2d(c * 1, 64, 3)

    def forward(self, img, txt):
        return img


class Jax(TwoTower):  # flopsight: dims={"seq": 77}
    def forward(
        self, x: Float[torch.Tensor, "batch 3 h=224 224"], m: Optional[Bool[Tensor, "b seq"]] = None
    ):
        return x


class Ann(nn.Module):
    def forward(self, x: Annotated[torch.Tensor, (1, "n", 8)], y: "Float[Tensor, 'b 2']"):
        return x

net = Jax()  # flopsight: input={"x": (1, 3, 224, 224)}, init={"a": 1}
s = f"""multi
# flopsight: input=(2,)
line"""
if __name__ == "__main__":
    print(net)
try:
    import foo
except ImportError:
    raise
'''


def _check(text: str) -> None:
    analysis = analyse_source(text, "mutant.py")
    if analysis.syntax_error is not None:
        assert analysis.models == [] and analysis.statements == []
        assert analysis.syntax_error.code == "FS101"
        assert analysis.syntax_error.span.line >= 1
    n_lines = text.replace("\r\n", "\n").replace("\r", "\n").count("\n") + 1
    spans = [d.span for d in analysis.diagnostics]
    spans += [m.name_span for m in analysis.models]
    spans += [i.span for m in analysis.models for i in m.inputs or [] if i.span is not None]
    for span in spans:
        assert 1 <= span.line <= span.end_line <= n_lines
        assert span.col >= 0 and span.end_col >= 0
        assert (span.line, span.col) <= (span.end_line, span.end_col)


def test_every_prefix_of_the_seed_mlp() -> None:
    text = (EXAMPLES / "seed_mlp.py").read_text()
    for n in range(len(text) + 1):
        _check(text[:n])


def test_every_prefix_of_a_rich_file() -> None:
    for n in range(len(RICH) + 1):
        _check(RICH[:n])
    analysis = analyse_source(RICH)
    assert [m.name for m in analysis.models] == ["TwoTower", "Jax", "Ann", "net"]


ALPHABET = [
    *"()[]{}:,.=#'\"\\ \n\t*@-+0123456789abcxyz_",
    "flopsight:",
    "# flopsight: ",
    "input=",
    "dtype=",
    "dims=",
    '"""',
    "class ",
    "def ",
    "Float[",
    "Annotated[",
    "nn.Module",
    "é",
    "\r\n",
    "\x00",
    "\x0c",
]


def _mutate(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 6)):
        op = rng.random()
        at = rng.randrange(len(chars) + 1)
        if op < 0.4:
            chars[at:at] = list(rng.choice(ALPHABET))
        elif op < 0.7 and chars:
            del chars[at : at + rng.randint(1, 8)]
        elif chars:
            src = rng.randrange(len(chars))
            chars[at:at] = chars[src : src + rng.randint(1, 30)]
    return "".join(chars)


def test_random_mutations_never_raise() -> None:
    rng = random.Random(20261123)
    seeds = [
        RICH,
        (EXAMPLES / "seed_mlp.py").read_text(),
        (EXAMPLES / "seed_densenet.py").read_text(),
    ]
    parsed = 0
    for i in range(3000):
        text = _mutate(rng, seeds[i % len(seeds)])
        _check(text)
        parsed += analyse_source(text).syntax_error is None
    # The mutations must also reach the readers past the parser, not only syntax errors.
    assert parsed > 300
