from dataclasses import dataclass

from torch import nn


@dataclass
class Config:
    width: int = 8


class Net(nn.Module):  # flopsight: input=(1, 8), init={"config": Config(width=8 // 0)}
    def __init__(self, config):
        super().__init__()
        self.fc = nn.Linear(config.width, 4)

    def forward(self, x):
        return self.fc(x)
