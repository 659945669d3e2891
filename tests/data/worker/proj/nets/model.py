from torch import nn

from .layers import Block


class Net(nn.Module):  # flopsight: input=(2, 8)
    def __init__(self):
        super().__init__()
        self.block = Block()

    def forward(self, x):
        return self.block(x)
