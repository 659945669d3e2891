"""A model calling a torchvision op flopsight does not supply (deform_conv2d)."""

import torch
from torch import nn
from torchvision.ops import DeformConv2d


class Deformable(nn.Module):  # flopsight: input=(1, 8, 16, 16)
    def __init__(self):
        super().__init__()
        self.offsets = nn.Conv2d(8, 18, 3, padding=1)
        self.conv = DeformConv2d(8, 8, 3, padding=1)

    def forward(self, x):
        return self.conv(x, self.offsets(x))
