"""A GPT-2 block (C = 768, 12 heads) with a jaxtyping input: MACs grow with batch and T."""

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn


class Block(nn.Module):  # flopsight: dims={"T": 1024}
    def __init__(self, n_embd: int = 768, n_head: int = 12):
        super().__init__()
        self.n_head = n_head
        self.ln_1 = nn.LayerNorm(n_embd)
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.gelu = nn.GELU()
        self.mlp_proj = nn.Linear(4 * n_embd, n_embd)

    def attention(self, x: Tensor) -> Tensor:
        b, t, c = x.shape
        q, k, v = self.c_attn(x).split(c, dim=2)
        q = q.view(b, t, self.n_head, c // self.n_head).transpose(1, 2)
        k = k.view(b, t, self.n_head, c // self.n_head).transpose(1, 2)
        v = v.view(b, t, self.n_head, c // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(b, t, c))

    def forward(self, x: Float[Tensor, "batch T 768"]) -> Tensor:  # noqa: F722
        x = x + self.attention(self.ln_1(x))
        return x + self.mlp_proj(self.gelu(self.c_fc(self.ln_2(x))))


class Patches(nn.Module):  # flopsight: input=(1, 3, "H", "H"), dims={"H": 224}
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, kernel_size=7, stride=3)

    def forward(self, x):
        return self.conv(x)
