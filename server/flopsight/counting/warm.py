"""Warm a process up for counting: the first count pays for torch's lazily built meta kernels.

The worker host calls ``warm_up()`` once, before forking a child per job, so that no job pays
those few hundred milliseconds again; a spare child calls ``warm_up(full=False)``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from typing import get_args

# A small model that touches the counter's common paths, run once so every child inherits a
# warm process (lazy imports done, dispatch tables and formula registries built).
WARM_TEXT = """\
import torch
from torch import nn
import torch.nn.functional as F


class Warm(nn.Module):  # flopsight: input=(1, 3, 8, 8)
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.attn = nn.MultiheadAttention(4, 2, batch_first=True)
        self.norm = nn.LayerNorm(4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        x = F.max_pool2d(x, 2)
        t = x.flatten(2).transpose(1, 2)
        t = self.norm(t + self.attn(t, t, t)[0])
        t = F.scaled_dot_product_attention(t, t, t)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return F.softmax(self.fc(x + t.mean(1)), dim=-1)
"""


# With torchvision: its model code, as most model files use it (small input: fast).
WARM_TORCHVISION_TEXT = """\
from torchvision import models

net = models.resnet18(weights=None)  # flopsight: input=(1, 3, 32, 32)
"""


def warm_up(full: bool = True) -> None:
    """Count the warm-up texts with the runner (whatever the job function is): all of them in
    the host; in a spare (``full`` False) one quick pass, to own the pages a job touches."""
    from flopsight.counting.runner import analyse_file
    from flopsight.job import AnalysisRequest
    from flopsight.report.model import Convention

    folder = tempfile.mkdtemp(prefix="flopsight-warm-")
    path = os.path.join(folder, "flopsight_warm.py")
    saved_path = list(sys.path)
    saved_modules = set(sys.modules)
    saved_cwd = os.getcwd()
    try:
        texts = [WARM_TEXT]
        if full and "torchvision" in sys.modules:
            texts.append(WARM_TORCHVISION_TEXT)
        for text in texts:
            conventions: tuple[Convention, ...] = get_args(Convention) if full else ("macs",)
            for convention in conventions:
                analyse_file(
                    AnalysisRequest(text=text, path=path, root=folder, convention=convention)
                )
    except Exception as e:
        print(f"flopsight worker: warm-up failed: {type(e).__name__}: {e}", file=sys.stderr)
    finally:
        sys.path[:] = saved_path
        os.chdir(saved_cwd)
        for name in set(sys.modules) - saved_modules:
            file = getattr(sys.modules[name], "__file__", None) or ""
            if file.startswith(folder):
                del sys.modules[name]
        with contextlib.suppress(OSError):
            os.rmdir(folder)
