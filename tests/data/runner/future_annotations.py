from __future__ import annotations

import torch
from torch import nn


class Later(nn.Module):  # flopsight: input=(1, 6)
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 3)

    def forward(self, x: NotDefinedAnywhere) -> torch.Tensor:  # noqa: F821
        return self.fc(x)
