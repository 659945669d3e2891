"""fc2 expects 128 features but fc1 gives 64: forward raises on the `return` line."""

import torch
from torch import nn


class Broken(nn.Module):  # flopsight: input=(1, 32)
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(32, 64)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = torch.relu(self.fc1(x))
        return self.fc2(x)
