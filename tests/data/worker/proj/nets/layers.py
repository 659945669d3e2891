from torch import nn


class Block(nn.Module):
    """Linear(8, 24): 192 MACs per row."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 24)

    def forward(self, x):
        return self.proj(x)
