import sys

import torch
from torch import nn


class Net(nn.Module):  # flopsight: input=(1, 8)
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)
        sys.exit()

    def forward(self, x):
        return self.fc(x)
