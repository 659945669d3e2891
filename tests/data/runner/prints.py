"""A model that prints while it is built and run."""

import sys

from torch import nn

banner = print("loading prints.py")


class Chatty(nn.Module):  # flopsight: input=(1, 4)
    def __init__(self):
        super().__init__()
        print("building Chatty")
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        print("forward of Chatty", x.shape)
        sys.stderr.write("to stderr\n")
        return self.fc(x)
