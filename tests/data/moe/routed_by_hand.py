"""Mixture-of-Experts written by hand, the three ways MoE code routes tokens by their data."""

import torch
import torch.nn.functional as F
from torch import nn


class Expert(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Router(nn.Module):
    def __init__(self, dim: int = 32, hidden: int = 64, n_experts: int = 8, top_k: int = 2) -> None:
        super().__init__()
        self.top_k = top_k
        self.gate = nn.Linear(dim, n_experts, bias=False)
        self.experts = nn.ModuleList(Expert(dim, hidden) for _ in range(n_experts))
        self.shared_expert = Expert(dim, hidden)

    def route(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        probs = self.gate(x).softmax(dim=-1)
        weights, chosen = torch.topk(probs, self.top_k, dim=-1)
        return weights / weights.sum(dim=-1, keepdim=True), chosen


class WhereMoE(Router):  # flopsight: input=(1, 64, 32)
    """Mixtral's reference loop: torch.where over each expert's tokens."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        x = x.view(-1, d)
        weights, chosen = self.route(x)
        out = torch.zeros_like(x)
        for i, expert in enumerate(self.experts):
            token, slot = torch.where(chosen == i)
            out.index_add_(0, token, weights[token, slot, None] * expert(x[token]))
        return (out + self.shared_expert(x)).view(b, t, d)


class CountedMoE(Router):  # flopsight: input=(1, 64, 32)
    """DeepSeek's reference code: bincount, .tolist(), skip the experts nobody chose."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        x = x.view(-1, d)
        weights, chosen = self.route(x)
        counts = torch.bincount(chosen.flatten(), minlength=len(self.experts)).tolist()
        out = torch.zeros_like(x)
        for i, expert in enumerate(self.experts):
            if counts[i] == 0:
                continue
            token, slot = torch.where(chosen == i)
            out[token] += expert(x[token]) * weights[token, slot, None]
        return (out + self.shared_expert(x)).view(b, t, d)


class SortedMoE(Router):  # flopsight: input=(1, 64, 32)
    """Sort the token-expert pairs by expert, split them by count, run each expert on its run."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        x = x.view(-1, d)
        weights, chosen = self.route(x)
        flat = chosen.flatten()
        order = flat.argsort()
        counts = torch.bincount(flat, minlength=len(self.experts)).tolist()
        runs = x[order // self.top_k].split(counts)
        done = torch.cat([expert(run) for expert, run in zip(self.experts, runs)])
        pairs = torch.empty_like(done)
        pairs[order] = done * weights.flatten()[order, None]
        out = pairs.view(-1, self.top_k, d).sum(dim=1)
        return (out + self.shared_expert(x)).view(b, t, d)
