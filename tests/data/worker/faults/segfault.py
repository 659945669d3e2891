import ctypes

import torch
from torch import nn


class Net(nn.Module):  # flopsight: input=(1, 8)
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        ctypes.string_at(0)
        return self.fc(x)
