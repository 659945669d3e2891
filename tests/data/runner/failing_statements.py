"""Top-level statements that fail; the model after them must still count."""

import sys

import not_a_module_flopsight_test
from torch import nn

value = 1 / 0
code = sys.exit(3)
stop = (_ for _ in ()).throw(KeyboardInterrupt)
WIDTH = 16
NAME = __name__


class Net(nn.Module):  # flopsight: input=(1, 8)
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, WIDTH)

    def forward(self, x):
        return self.fc(x)


train(Net())  # noqa: F821
