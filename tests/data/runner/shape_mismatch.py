"""forward feeds 20 features to a Linear expecting 10: torch raises on line 16."""

import torch
from torch import nn


class Broken(nn.Module):  # flopsight: input=(1, 20)
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(10, 5)

    def forward(self, x):
        return self.head(x)

    def head(self, x):
        return self.fc(x)


class Fails(nn.Module):  # flopsight: input=(1, 4)
    def __init__(self, width=4):
        super().__init__()
        raise ValueError(f"width {width} is not supported")


class Unannotated(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        return self.fc(x)
