import torch
from torch import nn


class Pair(nn.Module):  # flopsight: input=[(1, 8), (1, 4)]
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(8, 2)
        self.b = nn.Linear(4, 2)

    def forward(self, x, y):
        return self.a(x) + self.b(y)


class Plain(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 7)

    def forward(self, x):
        return self.fc(x)
