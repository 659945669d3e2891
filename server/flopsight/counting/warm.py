"""Warm a process up for counting: the first count pays for torch's lazily built meta kernels.

The worker calls ``warm_up()`` once in its long-lived host process, before forking a child per
job, so that no job pays those few hundred milliseconds again.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from flopsight.counting.counter import count_model


class _Sampler(nn.Module):
    """A little of everything common: convolutions, norms, matmuls, attention, lookups."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.embed = nn.Embedding(16, 8)
        self.norm = nn.LayerNorm(8)
        self.proj = nn.Linear(8, 24)
        self.mlp = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 8))

    def forward(self, image: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.bn(self.conv(image))))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1).unsqueeze(1)
        h = torch.cat([self.embed(ids), x], dim=1)
        q, k, v = self.proj(self.norm(h)).view(1, -1, 3, 2, 4).permute(2, 0, 3, 1, 4)
        att = F.softmax(q @ k.transpose(-2, -1), dim=-1) @ v
        att = att + F.scaled_dot_product_attention(q, k, v, is_causal=True)
        h = h + att.transpose(1, 2).reshape(1, -1, 8)
        out: torch.Tensor = h + self.mlp(h).mean(dim=-1, keepdim=True)
        return out


def warm_up() -> None:
    """Count a small model once on meta and once on the CPU (about 0.3 s, once per process)."""
    for device in ("meta", "cpu"):
        with torch.device(device):
            model = _Sampler()
            inputs = (torch.empty(1, 3, 8, 8), torch.zeros(1, 4, dtype=torch.long))
        for convention in ("macs", "ptflops"):
            count_model(model, inputs, convention=convention)
