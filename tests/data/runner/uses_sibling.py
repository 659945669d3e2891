"""Imports a module from its own folder."""

from runner_blocks import Block
from torch import nn


class Stack(nn.Module):  # flopsight: input=(2, 32), init={"depth": 3}
    def __init__(self, depth=1):
        super().__init__()
        self.blocks = nn.Sequential(*[Block(32) for _ in range(depth)])

    def forward(self, x):
        return self.blocks(x)
