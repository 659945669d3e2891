"""Peak memory on meta (issue 15) against torch's own MemTracker under FakeTensorMode, run here
on the same model, optimizer and step, and against hand counts.

MemTracker's categories differ from flopsight's in one way: its "Activation" is every tensor
the forward made (saved or not) and its "Temp" every tensor the backward made, where
flopsight's "activations" are only the tensors autograd saved. So the persistent categories
(params, buffers, grads, optimizer states) and the peak are compared one to one, and
flopsight's inputs + activations + temporaries against MemTracker's Other + Activation + Temp.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
import torchvision.models as tvm
from flopsight.counting.memory import pick_loss, track_memory, warm_optimizer
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.distributed._tools.mem_tracker import MemTracker
from torch.utils.checkpoint import checkpoint

TOLERANCE = 0.05


# ----------------------------------------------------------------------------- the models


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)
    )


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


class Block(nn.Module):
    """A nanoGPT block: causal self-attention through scaled_dot_product_attention, an MLP."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.out = nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self, vocab: int = 512, d: int = 128, layers: int = 2, ctx: int = 64) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(ctx, d)
        self.blocks = nn.ModuleList(Block(d, 4) for _ in range(layers))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.wte.weight  # tied, as nanoGPT

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.wte(ids) + self.wpe(pos)
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.ln(x))
        return F.cross_entropy(logits.flatten(0, 1), ids.flatten())


class Checkpointed(nn.Module):
    """Two MLP blocks under torch.utils.checkpoint: their activations are recomputed."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(256, 1024), nn.GELU(), nn.Linear(1024, 256)) for _ in range(3)
        )
        self.head = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = x + checkpoint(block, x, use_reentrant=False)
        return self.head(x)


def small_vit() -> nn.Module:
    return tvm.VisionTransformer(
        image_size=32, patch_size=8, num_layers=2, num_heads=4, hidden_dim=64, mlp_dim=128
    )


# (name, builder, input builder, optimizer)
CASES: list[tuple[str, Callable[[], nn.Module], Callable[[], list[torch.Tensor]], str]] = [
    ("mlp-adamw", mlp, lambda: [torch.randn(64, 784)], "adamw"),
    ("mlp-sgd-momentum", mlp, lambda: [torch.randn(64, 784)], "sgd-momentum"),
    ("cnn-adam", SmallCNN, lambda: [torch.randn(8, 3, 32, 32)], "adam"),
    (
        "resnet18-adamw",
        lambda: tvm.resnet18(num_classes=10),
        lambda: [torch.randn(2, 3, 64, 64)],
        "adamw",
    ),
    (
        "mobilenet_v2-sgd",
        lambda: tvm.mobilenet_v2(num_classes=10),
        lambda: [torch.randn(2, 3, 64, 64)],
        "sgd",
    ),
    ("vit-adamw", small_vit, lambda: [torch.randn(4, 3, 32, 32)], "adamw"),
    ("gpt-adamw", GPT, lambda: [torch.randint(0, 512, (4, 64))], "adamw"),
    ("checkpoint-adamw", Checkpointed, lambda: [torch.randn(32, 256)], "adamw"),
]

TORCH_OPTIMIZERS: dict[str, Callable[[Any], torch.optim.Optimizer]] = {
    "sgd": lambda p: torch.optim.SGD(p, lr=0.01, foreach=True),
    "sgd-momentum": lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, foreach=True),
    "adam": lambda p: torch.optim.Adam(p, foreach=True),
    "adamw": lambda p: torch.optim.AdamW(p, foreach=True),
}


def memtracker_step(
    build: Callable[[], nn.Module], inputs: Callable[[], list[torch.Tensor]], optimizer: str
) -> dict[str, int]:
    """MemTracker's peak snapshot of one steady-state training step (states allocated first),
    in fake tensors, and its snapshot after the step (the persistent memory)."""
    with torch.random.fork_rng():  # the global RNG state is left as it was
        torch.manual_seed(0)
        real = build()  # small; some constructors read values (trunc_normal_), fakes have none
    fake = FakeTensorMode()
    model = to_fake(real, fake)
    with fake:
        args = inputs()
        opt = TORCH_OPTIMIZERS[optimizer](model.parameters())
        warm_optimizer(opt)
        tracker = MemTracker()
        tracker.track_external(model, opt, *args)
        with tracker:
            loss = pick_loss(model(*args))
            loss.backward()
            del loss
            opt.step()
        peak = tracker.get_tracker_snapshot("peak")
        after = tracker.get_tracker_snapshot("current")
    (snap,) = [v for d, v in peak.items() if d.type == "cpu"]
    (now,) = [v for d, v in after.items() if d.type == "cpu"]
    out = {k.name if hasattr(k, "name") else str(k): int(v) for k, v in snap.items()}
    out["OPT_AFTER"] = int(next(v for k, v in now.items() if getattr(k, "name", "") == "OPT"))
    return out


def to_fake(model: nn.Module, mode: FakeTensorMode) -> nn.Module:
    """The same module with fake parameters and buffers (shared ones stay shared)."""
    done: dict[int, Any] = {}
    for module in model.modules():
        for name, p in list(module._parameters.items()):
            if p is not None:
                if id(p) not in done:
                    done[id(p)] = nn.Parameter(mode.from_tensor(p.detach()), p.requires_grad)
                module._parameters[name] = done[id(p)]
        for name, b in list(module._buffers.items()):
            if b is not None:
                module._buffers[name] = mode.from_tensor(b)
    return model


def flopsight_step(
    build: Callable[[], nn.Module], inputs: Callable[[], list[torch.Tensor]], optimizer: str
) -> Any:
    with torch.device("meta"):
        model = build()
    with torch.random.fork_rng():  # the global RNG state is left as it was
        args = [t.to("meta") for t in inputs()]
    return track_memory(model, args, optimizer=optimizer)


def close(ours: int, theirs: int, tolerance: float = TOLERANCE) -> bool:
    return abs(ours - theirs) <= tolerance * max(theirs, 1)


@pytest.mark.parametrize(("name", "build", "inputs", "optimizer"), CASES, ids=[c[0] for c in CASES])
def test_agrees_with_memtracker(
    name: str,
    build: Callable[[], nn.Module],
    inputs: Callable[[], list[torch.Tensor]],
    optimizer: str,
) -> None:
    ref = memtracker_step(build, inputs, optimizer)
    ours = flopsight_step(build, inputs, optimizer)
    at = ours.at_peak
    assert close(ours.peak_bytes, ref["Total"]), (name, ours.peak_bytes, ref)
    assert at["params"] == ref["PARAM"], (name, at, ref)
    assert at["buffers"] == ref["BUFFER"], (name, at, ref)
    assert close(at["grads"], ref["GRAD"]), (name, at, ref)
    # MemTracker's Optstate at its peak includes the step's scratch tensors (flopsight calls
    # them temporaries): the states themselves are its Optstate after the step.
    assert close(ours.totals["optimizer"], ref["OPT_AFTER"]), (name, ours.totals, ref)
    transient = at["inputs"] + at["activations"] + at["temporaries"] + at["optimizer"]
    theirs = ref["OTH"] + ref["ACT"] + ref["TEMP"] + ref["OPT"]
    assert close(transient, theirs), (name, at, ref)


# ----------------------------------------------------------------------------- hand counts


def test_mlp_hand_count_fp32_adamw() -> None:
    """784-512-512-10 MLP, batch 64, fp32, AdamW: 4 + 4 + 8 bytes per parameter; saved
    activations written out layer by layer."""
    params = (784 * 512 + 512) + (512 * 512 + 512) + (512 * 10 + 10)
    batch = 64
    r = flopsight_step(mlp, lambda: [torch.randn(batch, 784)], "adamw")
    assert r.totals["params"] == 4 * params
    assert r.totals["grads"] == 4 * params
    assert r.totals["optimizer"] == 8 * params  # exp_avg + exp_avg_sq (step is on the CPU)
    saved = {layer.path: layer.activations_bytes for layer in r.layers}
    # Linear saves its input (for the weight's grad); ReLU saves its output.
    assert saved["0"] == batch * 784 * 4  # the input x
    assert saved["1"] == batch * 512 * 4  # relu's output (= linear 2's input: one storage)
    assert saved["2"] == 0  # its input is relu 1's output, already saved
    assert saved["3"] == batch * 512 * 4
    assert saved["4"] == 0
    assert saved[""] == batch * (784 + 512 + 512) * 4
    layers = {layer.path: layer for layer in r.layers}
    assert layers["0"].params_bytes == 4 * (784 * 512 + 512)
    assert layers["0"].optimizer_bytes == 8 * (784 * 512 + 512)
    assert layers[""].params_bytes == 4 * params


def test_mlp_hand_count_bf16_mixed() -> None:
    """bf16-mixed: fp32 master weights, grads and states (4 + 4 + 8), each Linear's weight cast
    to bf16 once per forward (autocast's cache) and saved for its input's gradient, its bf16
    input saved for the weight's; ReLU saves its bf16 output."""
    params = (784 * 512 + 512) + (512 * 512 + 512) + (512 * 10 + 10)
    # The first Linear's input needs no gradient, so its weight copy is not saved.
    weights = 512 * 512 + 512 * 10
    batch = 64
    with torch.device("meta"):
        model = mlp()
    r = track_memory(model, [torch.empty(batch, 784, device="meta")], precision="bf16-mixed")
    assert r.totals["params"] == 4 * params
    assert r.totals["grads"] == 4 * params
    assert r.totals["optimizer"] == 8 * params
    # Saved: the bf16 copies of the last two weights, the bf16 input, two bf16 relu outputs.
    assert r.totals["activations"] == 2 * weights + 2 * batch * (784 + 512 + 512)


def test_pure_bf16_halves_everything() -> None:
    params = (784 * 512 + 512) + (512 * 512 + 512) + (512 * 10 + 10)
    with torch.device("meta"):
        model = mlp()
    r = track_memory(model, [torch.empty(8, 784, device="meta")], precision="bf16")
    assert r.totals["params"] == 2 * params
    assert r.totals["grads"] == 2 * params
    assert r.totals["optimizer"] == 4 * params


def test_frozen_layers_hand_count() -> None:
    """A frozen backbone: MemTracker refuses it; flopsight counts grads and states of the
    trainable head only, and the backbone saves nothing its own weights need."""
    with FakeTensorMode():
        model = mlp()
        for p in model[0].parameters():
            p.requires_grad_(False)
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad])
        tracker = MemTracker()
        tracker.track_external(model, opt)
        with pytest.raises(RuntimeError, match="doesn't require gradient"), tracker:
            model(torch.randn(4, 784)).sum().backward()
    with torch.device("meta"):
        model = mlp()
    for p in model[0].parameters():
        p.requires_grad_(False)
    batch = 64
    r = track_memory(model, [torch.empty(batch, 784, device="meta")], optimizer="adamw")
    all_params = (784 * 512 + 512) + (512 * 512 + 512) + (512 * 10 + 10)
    trainable = (512 * 512 + 512) + (512 * 10 + 10)
    assert r.totals["params"] == 4 * all_params
    assert r.totals["grads"] == 4 * trainable
    assert r.totals["optimizer"] == 8 * trainable
    saved = {layer.path: layer.activations_bytes for layer in r.layers}
    # Nothing before linear 2 requires grad: the frozen layer and relu 1 save nothing; linear
    # 2 saves its input for its weight's gradient; relu 3 saves its output (linear 4's input).
    assert saved["0"] == 0 and saved["1"] == 0
    assert saved["2"] == batch * 512 * 4
    assert saved["3"] == batch * 512 * 4
    assert saved["4"] == 0


def test_inference_holds_no_activations() -> None:
    """Under no_grad nothing is saved: the peak is params + input + two live outputs."""
    batch = 64
    params = (784 * 512 + 512) + (512 * 512 + 512) + (512 * 10 + 10)
    with torch.device("meta"):
        model = mlp()
    r = track_memory(model, [torch.empty(batch, 784, device="meta")], mode="inference")
    assert r.totals["activations"] == 0 and r.totals["grads"] == 0
    # At the second Linear: input x, relu 1's output (its input, in place-free), its output.
    assert r.peak_bytes == 4 * params + 4 * batch * (784 + 512 + 512)
    assert r.peak_phase == "forward"


def test_views_count_once() -> None:
    class Views(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = x * 2
            return (y.view(-1) + y.t().reshape(-1)[:1]).sum()

    x = torch.empty(256, 256, device="meta", requires_grad=True)
    r = track_memory(Views(), [x], optimizer="none")
    # x, y (every view of it shares the storage), y.t().reshape (a copy), the sum's input.
    assert r.totals["inputs"] == 256 * 256 * 4
    assert r.peak_bytes <= 4 * 256 * 256 * 4 + 1024


def test_seventy_billion_llama_costs_nothing() -> None:
    import importlib.util
    from pathlib import Path

    import psutil

    path = Path(__file__).resolve().parent.parent / "examples" / "llama.py"
    spec = importlib.util.spec_from_file_location("llama_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    before = psutil.Process().memory_info().rss
    with torch.device("meta"):
        model = module.Llama()
    params = sum(p.numel() for p in model.parameters())
    ids = torch.zeros(1, 64, dtype=torch.long, device="meta")
    r = track_memory(model, [ids], optimizer="adamw", precision="bf16-mixed")
    assert r.totals["params"] == 4 * params
    assert r.totals["optimizer"] == 8 * params
    assert r.peak_bytes > 16 * params
    assert psutil.Process().memory_info().rss - before < 1024**3


def test_the_api() -> None:
    """``flopsight.memory``: the same tracker, inference and training, hand-counted."""
    import flopsight

    params = (784 * 512 + 512) + (512 * 512 + 512) + (512 * 10 + 10)
    with torch.device("meta"):
        model = mlp()
    x = torch.empty(64, 784, device="meta")
    r = flopsight.memory(model, x, optimizer="sgd")
    assert r.mode == "train" and r.optimizer == "sgd"
    assert r.totals["params"] == r.totals["grads"] == 4 * params
    assert r.totals["optimizer"] == 0
    inference = flopsight.memory(model, x, mode="inference")
    assert inference.peak_bytes == 4 * params + 4 * 64 * (784 + 512 + 512)
    with pytest.raises(ValueError, match="unknown optimizer 'lion'"):
        flopsight.memory(model, x, optimizer="lion")
    with pytest.raises(ValueError, match="mode 'eval'"):
        flopsight.memory(model, x, mode="eval")
