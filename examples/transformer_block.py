"""A pre-norm transformer block with its attention written out in `forward`.

Each step of the attention sits on its own line, so flopsight shows its cost there:
`q @ k.transpose(-2, -1)` and `att @ v` are B*T*T*C multiply-accumulates each.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F


class TransformerBlock(nn.Module):  # flopsight: input=(1, 128, 256)
    def __init__(self, dim: int = 256, heads: int = 8, mlp_ratio: int = 4):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp_ratio * dim),
            nn.GELU(),
            nn.Linear(mlp_ratio * dim, dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        head_dim = c // self.heads
        h = self.norm1(x)
        q = self.q_proj(h)
        k = self.k_proj(h)
        v = self.v_proj(h)
        q = q.view(b, t, self.heads, head_dim).transpose(1, 2)
        k = k.view(b, t, self.heads, head_dim).transpose(1, 2)
        v = v.view(b, t, self.heads, head_dim).transpose(1, 2)
        att = q @ k.transpose(-2, -1)
        att = att / math.sqrt(head_dim)
        att = F.softmax(att, dim=-1)
        y = att @ v
        y = y.transpose(1, 2).reshape(b, t, c)
        x = x + self.out_proj(y)
        x = x + self.mlp(self.norm2(x))
        return x
