"""A Lightning-style module: the model inside a LightningModule with its example_input_array,
training_step and optimizer, as Lightning's tutorials write it (plain nn.Module where Lightning
is not installed, as here)."""

import torch
import torch.nn.functional as F
from torch import nn

try:
    import lightning as L

    LightningModule = L.LightningModule
except ImportError:  # the zoo's environment has no Lightning
    LightningModule = nn.Module


class LitAutoEncoder(LightningModule):  # flopsight: input=(1, 784)
    def __init__(self, hidden: int = 64):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(28 * 28, hidden), nn.ReLU(), nn.Linear(hidden, 3))
        self.decoder = nn.Sequential(nn.Linear(3, hidden), nn.ReLU(), nn.Linear(hidden, 28 * 28))
        self.example_input_array = torch.zeros(1, 28 * 28)

    def forward(self, x):
        return self.decoder(self.encoder(x))

    def training_step(self, batch, batch_idx):
        x, _ = batch
        x = x.view(x.size(0), -1)
        loss = F.mse_loss(self(x), x)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)
