from torch import nn


class Seq(nn.Module):  # flopsight: input=("batch", "seq", 16)
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        return self.fc(x)
