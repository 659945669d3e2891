"""Runs as an imported module: __name__ is not "__main__", __file__ is the analysed path."""

import os

from torch import nn

IS_MAIN = __name__ == "__main__"
HERE = os.path.basename(__file__)


class Probe(nn.Module):  # flopsight: input=(1, 2)
    def __init__(self):
        super().__init__()
        if IS_MAIN:
            raise RuntimeError("ran as __main__")
        if HERE != "module_identity.py":
            raise RuntimeError(f"__file__ is {HERE}")
        self.fc = nn.Linear(2, 3)

    def forward(self, x):
        return self.fc(x)


if __name__ == "__main__":
    raise SystemExit("the __main__ block ran")
