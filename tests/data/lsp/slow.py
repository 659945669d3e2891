import time

from torch import nn


class Slow(nn.Module):  # flopsight: input=(1, 8)
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        time.sleep(1.5)
        return self.fc(x)
