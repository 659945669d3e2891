"""The seed article's MLP: ptflops reports 670.73 KMac and 669.71 k params at (28, 28)."""

import torch
from torch import nn


class NeuralNetwork(nn.Module):  # flopsight: input=(1, 28, 28)
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28 * 28, 512),
            nn.ReLU(),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, 10),
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits
