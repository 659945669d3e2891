"""The seed MLP in training mode, its middle layer frozen, a checkpointed block, and models
whose training step has no backward (FS206)."""

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


class MLP(nn.Module):  # flopsight: input=(1, 784), mode="train"
    def __init__(self, freeze_middle: bool = False):
        super().__init__()
        self.fc1 = nn.Linear(784, 512)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(512, 512)
        self.fc3 = nn.Linear(512, 10)
        if freeze_middle:
            self.fc2.requires_grad_(False)

    def forward(self, x):
        h = self.act(self.fc1(x))
        h = self.act(self.fc2(h))
        return self.fc3(h)


class Block(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.ln = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(self.ln(x))))


class Checkpointed(nn.Module):  # flopsight: input=(8, 16, 64), mode="train"
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(64, 64)
        self.block = Block(64)
        self.head = nn.Linear(64, 10)

    def forward(self, x):
        x = self.inp(x)
        x = checkpoint(self.block, x, use_reentrant=False)
        return self.head(x)


class Argmax(nn.Module):  # flopsight: input=(1, 784), mode="train"
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x).argmax(-1)


class NoGrad(nn.Module):  # flopsight: input=(1, 784), mode="train"
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        with torch.no_grad():
            return self.fc(x)
