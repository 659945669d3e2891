from helpers import Block
from torch import nn


class Net(nn.Module):  # flopsight: input=(1, 3, 6, 6)
    def __init__(self):
        super().__init__()
        self.block = Block()

    def forward(self, x):
        return self.block(x)
