from torch import nn

SIZE = helper_that_does_not_exist()  # noqa: F821 - fails on purpose


class Small(nn.Module):  # flopsight: input=(1, 4)
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x)
