from torch import nn


class Typo(nn.Module):  # flopsight: inptu=(1, 16)
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        return self.fc(x)


class Malformed(nn.Module):  # flopsight: input=(1, 16
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        return self.fc(x)
