"""A small GPT whose blocks live in layers.py (flopsight shows hints in both files)."""

import torch
from layers import Block
from torch import nn


class GPT(nn.Module):  # flopsight: input=(1, 64), dtype="long"
    def __init__(self, vocab: int = 256, d: int = 64, heads: int = 4, n_layer: int = 2) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(64, d)
        self.blocks = nn.ModuleList([Block(d, heads) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(idx.shape[1], device=idx.device)
        x = self.wte(idx) + self.wpe(positions)
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))
