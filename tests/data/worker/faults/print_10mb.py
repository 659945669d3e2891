import os

import torch
from torch import nn


class Net(nn.Module):  # flopsight: input=(1, 8)
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        print("x" * 10_000_000)
        os.write(1, b"y" * 10_000_000)
        return self.fc(x)
