from mypkg.blocks import Block
from torch import nn


class Net(nn.Module):  # flopsight: input=(1, 16)
    def __init__(self):
        super().__init__()
        self.block = Block()

    def forward(self, x):
        return self.block(x)
