"""Training mode: the exact MACs of a training step, forward and backward, per layer and line.

References, computed here: torch's FlopCounterMode around the forward and ``loss.backward()``
on the same model and shapes (FLOPs / 2); by hand where torch is wrong (grouped convolutions,
whose weight gradient torch 2.13 counts ``groups`` times) and for the figures the issue names.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
import torchvision.models as tvm
from flopsight import count
from flopsight.counting import count_model, record_construction
from flopsight.counting.build import build_model
from flopsight.report.model import ModelReport
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "training"
META = torch.device("meta")


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem + "_training", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GPT_FILE = _load(DATA / "gpt.py")


def torch_reference(model: nn.Module, *args: Any, loss_of: Any = None) -> int:
    """FlopCounterMode's MACs for forward + backward of the loss (the sum of the output)."""
    model.train()
    counter = FlopCounterMode(display=False)
    with counter:
        out = model(*args)
        loss = loss_of(out) if loss_of is not None else out.sum()
        loss.backward()
    for p in model.parameters():
        p.grad = None
    return int(counter.get_total_flops()) // 2


def meta(ctor: Any, **kwargs: Any) -> nn.Module:
    with META:
        model: nn.Module = ctor(**kwargs)
    return model


def x(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.empty(*shape, device=META, dtype=dtype)


def step(model: nn.Module, *args: Any, **kwargs: Any) -> ModelReport:
    report = count(model, *args, mode="train", **kwargs)
    assert report.mode == "training" and report.no_backward is None
    total = report.total
    assert total is not None and total.forward_macs is not None
    assert total.backward_macs is not None and total.recompute_macs is not None
    assert total.macs == total.forward_macs + total.backward_macs + total.recompute_macs
    assert total.flops == 2 * total.macs
    return report


def layer(report: ModelReport, path: str) -> tuple[int, int, int]:
    [found] = [layer for layer in report.layers if layer.path == path]
    assert found.forward_macs is not None and found.backward_macs is not None
    assert found.macs == found.forward_macs + found.backward_macs + (found.recompute_macs or 0)
    return found.forward_macs, found.backward_macs, found.recompute_macs or 0


# --- equal to torch's FlopCounterMode -----------------------------------------------------


class TransformerBlock(nn.Module):
    """Pre-norm block: nn.MultiheadAttention (its Python path when training) and a GELU MLP."""

    def __init__(self, dim: int = 256, heads: int = 8) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln2(x))


class Checkpointed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(64, 64)
        self.blocks = nn.ModuleList(
            [nn.Sequential(nn.LayerNorm(64), nn.Linear(64, 256), nn.GELU(), nn.Linear(256, 64))] * 1
        )
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        for block in self.blocks:
            x = checkpoint(block, x, use_reentrant=False)
        return self.head(x)


def _frozen_resnet18() -> nn.Module:
    model = tvm.resnet18()
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(("layer4", "fc")))
    return model


def _small_gpt() -> nn.Module:
    return GPT_FILE.GPT(vocab=512, block=128, n_layer=2, n_head=4, n_embd=128)


REFERENCE_CASES: list[tuple[str, Any, tuple[tuple[int, ...], ...]]] = [
    ("resnet18", tvm.resnet18, ((2, 3, 224, 224),)),
    ("vgg11", tvm.vgg11, ((1, 3, 64, 64),)),
    ("densenet121", tvm.densenet121, ((1, 3, 64, 64),)),
    ("alexnet", tvm.alexnet, ((1, 3, 224, 224),)),
    ("squeezenet1_0", tvm.squeezenet1_0, ((1, 3, 64, 64),)),
    ("googlenet", lambda: tvm.googlenet(aux_logits=False, init_weights=False), ((1, 3, 64, 64),)),
    ("vit_b_16", tvm.vit_b_16, ((1, 3, 224, 224),)),
    ("transformer_block", TransformerBlock, ((2, 64, 256),)),
    ("frozen_resnet18", _frozen_resnet18, ((1, 3, 64, 64),)),
    ("checkpointed", Checkpointed, ((4, 16, 64),)),
]


@pytest.mark.parametrize(
    ("name", "ctor", "shapes"), REFERENCE_CASES, ids=[c[0] for c in REFERENCE_CASES]
)
def test_total_equals_flop_counter_mode(name: str, ctor: Any, shapes: Any) -> None:
    model = meta(ctor)
    args = [x(*s) for s in shapes]
    report = step(model, *args)
    assert report.total is not None
    assert report.total.macs == torch_reference(model, *args)
    assert not report.uncounted_ops


def test_nanogpt_with_targets_equals_flop_counter_mode() -> None:
    model = meta(_small_gpt)
    idx, targets = x(2, 128, dtype=torch.long), x(2, 128, dtype=torch.long)
    report = step(model, idx, targets)
    assert report.loss == "output[1] (a 0-d tensor)"
    assert report.total is not None
    assert report.total.macs == torch_reference(model, idx, targets, loss_of=lambda out: out[1])


def test_hugging_face_loss_attribute_equals_flop_counter_mode() -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=256, n_positions=64)
    model = GPT2LMHeadModel(config)  # real CPU tensors: flopsight.count runs on them too
    ids = torch.randint(0, 256, (1, 32))
    report = step(model, ids, labels=ids)
    assert report.loss == "output.loss"
    assert report.total is not None
    # The count leaves the model's gradients as they were (none).
    assert all(p.grad is None for p in model.parameters())
    model.train()
    counter = FlopCounterMode(display=False)
    with counter:
        model(ids, labels=ids).loss.backward()
    assert report.total.macs == int(counter.get_total_flops()) // 2


# --- by hand --------------------------------------------------------------------------------


def _mlp(*frozen: int) -> nn.Module:
    model = meta(
        lambda: nn.Sequential(
            nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)
        )
    )
    for index in frozen:
        model[index].requires_grad_(False)
    return model


# Forward MACs of the seed MLP's Linears at batch 1 (in x out; bias adds are free).
FC1, FC2, FC3 = 784 * 512, 512 * 512, 512 * 10


def test_mlp_first_layer_once_the_others_twice() -> None:
    report = step(_mlp(), x(1, 784))
    # The first layer's input needs no gradient: weight gradient only (1x its forward).
    assert layer(report, "0") == (FC1, FC1, 0)
    # The others: input gradient and weight gradient (2x).
    assert layer(report, "2") == (FC2, 2 * FC2, 0)
    assert layer(report, "4") == (FC3, 2 * FC3, 0)
    assert report.total is not None
    assert report.total.backward_macs == FC1 + 2 * FC2 + 2 * FC3


def test_mlp_middle_layer_frozen() -> None:
    report = step(_mlp(2), x(1, 784))
    # Frozen with something trainable before it: its input gradient only (1x), no weight's.
    assert layer(report, "0") == (FC1, FC1, 0)
    assert layer(report, "2") == (FC2, FC2, 0)
    assert layer(report, "4") == (FC3, 2 * FC3, 0)


def test_mlp_body_frozen_under_a_trainable_head() -> None:
    report = step(_mlp(0, 2), x(1, 784))
    # Nothing before the head trains: the frozen body has no backward at all, and the head
    # only its weight gradient.
    assert layer(report, "0") == (FC1, 0, 0)
    assert layer(report, "2") == (FC2, 0, 0)
    assert layer(report, "4") == (FC3, FC3, 0)
    assert report.total is not None and report.total.trainable_params == 512 * 10 + 10


def test_gpt_12_layers_at_1024_tokens_is_6NT_plus_attention() -> None:
    model = meta(GPT_FILE.GPT)  # GPT-2 small: L=12, d=768, V=50304, T=1024
    L, d, V, T = 12, 768, 50304, 1024
    report = step(model, x(1, T, dtype=torch.long), x(1, T, dtype=torch.long))
    # N: the weights each token is multiplied by — per layer c_attn (3d²), attn c_proj (d²),
    # mlp c_fc (4d²) and c_proj (4d²), then the tied head (d·V); biases, norms and embeddings
    # cost no MACs.
    n_matmul = L * 12 * d * d + d * V
    # Attention per layer: q·kᵀ and att·v, T·T·d each (the math kernel computes every score).
    attention_fwd = L * 2 * T * T * d
    forward = T * n_matmul + attention_fwd
    assert report.total is not None
    assert report.total.forward_macs == forward
    # Every matmul's two inputs need gradients (the embeddings train): backward = 2x forward.
    assert report.total.backward_macs == 2 * forward
    # In FLOPs: 6·N·T plus the attention terms, 6 · 2·L·T²·d.
    assert report.total.flops == 6 * n_matmul * T + 6 * 2 * L * T * T * d


def test_depthwise_conv_weight_gradient_by_hand() -> None:
    conv = meta(lambda: nn.Conv2d(96, 96, 7, padding=3, groups=96))
    forward = 96 * 16 * 16 * 49  # each output: 1 input channel x 7x7 taps
    assert forward == 1_204_224
    report = step(conv, x(1, 96, 16, 16))
    # The input needs no gradient: the weight gradient alone, as many MACs as the forward.
    assert report.total is not None
    assert (report.total.forward_macs, report.total.backward_macs) == (forward, forward)
    # torch 2.13's formula convolves every input channel with every grad_output channel.
    assert (
        torch_reference(conv, x(1, 96, 16, 16)) == forward + 96 * forward == 1_204_224 + 115_605_504
    )


def _grouped_conv_excess(model: nn.Module, *args: torch.Tensor) -> int:
    """What torch's formula adds for grouped convs: (groups - 1) x each weight gradient, by hand
    from the convs' output shapes (the weight gradient costs the forward's MACs)."""
    excess = 0

    def hook(conv: nn.Module, inputs: Any, out: torch.Tensor) -> None:
        nonlocal excess
        assert isinstance(conv, nn.Conv2d)
        if conv.groups > 1 and conv.weight.requires_grad:
            kh, kw = conv.kernel_size
            forward = out.numel() * (conv.in_channels // conv.groups) * kh * kw
            excess += (conv.groups - 1) * forward

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model(*args)
    for h in handles:
        h.remove()
    return excess


@pytest.mark.parametrize("name", ["mobilenet_v2", "resnext50_32x4d"])
def test_grouped_convnets_are_torch_less_its_grouped_overcount(name: str) -> None:
    model = meta(getattr(tvm, name))
    inp = x(1, 3, 64, 64)
    report = step(model, inp)
    excess = _grouped_conv_excess(model, inp)
    assert excess > 0
    assert report.total is not None
    assert report.total.macs == torch_reference(model, inp) - excess


def test_checkpoint_recomputes_only_up_to_the_last_tensor_the_backward_needs() -> None:
    module = _load(DATA / "mlp.py")
    model = meta(module.Checkpointed)
    rows = 8 * 16
    report = step(model, x(8, 16, 64))
    fc1, fc2 = rows * 64 * 256, rows * 256 * 64
    # LayerNorm -> Linear -> GELU -> Linear: the backward needs fc1's output (for GELU's
    # gradient) and the GELU's output (for fc2's weight gradient), both made by fc1: the
    # recompute stops after fc1.
    assert layer(report, "block.fc1") == (fc1, 2 * fc1, fc1)
    assert layer(report, "block.fc2") == (fc2, 2 * fc2, 0)
    assert layer(report, "inp") == (rows * 64 * 64, rows * 64 * 64, 0)
    assert report.total is not None and report.total.recompute_macs == fc1
    assert report.total.macs == torch_reference(model, x(8, 16, 64))


class Reentrant(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(64, 64)
        self.fc1 = nn.Linear(64, 256)
        self.fc2 = nn.Linear(256, 64)

    def segment(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return checkpoint(self.segment, self.inp(x), use_reentrant=True)


def test_reentrant_checkpoint_recomputes_the_whole_segment() -> None:
    model = meta(Reentrant)
    rows = 8 * 16
    report = step(model, x(8, 16, 64))
    fc1, fc2 = rows * 64 * 256, rows * 256 * 64
    # Reentrant checkpoint re-runs all of the segment, then differentiates what it rebuilt:
    # the backward still lands on the segment's layers.
    assert layer(report, "fc1") == (fc1, 2 * fc1, fc1)
    assert layer(report, "fc2") == (fc2, 2 * fc2, fc2)
    assert layer(report, "inp") == (rows * 64 * 64, rows * 64 * 64, 0)
    assert report.total is not None
    assert report.total.macs == torch_reference(model, x(8, 16, 64))


def test_real_batch_norm_statistics_are_left_as_they_were() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
    bn = model[1]
    assert isinstance(bn, nn.BatchNorm2d) and bn.running_mean is not None
    before = bn.running_mean.clone(), int(bn.num_batches_tracked)  # type: ignore[arg-type]
    model.eval()
    report = step(model, torch.randn(2, 3, 8, 8))
    assert torch.equal(bn.running_mean, before[0]) and int(bn.num_batches_tracked) == before[1]  # type: ignore[arg-type]
    # The count ran it in train() and gave it back in eval().
    assert not model.training and not bn.training
    # conv: 2·8·6·6 outputs x 27 taps forward; weight gradient only backward (input: no grad).
    assert layer(report, "0") == (2 * 8 * 6 * 6 * 27, 2 * 8 * 6 * 6 * 27, 0)


# --- per line and per convention ------------------------------------------------------------


def _count_file(path: Path, cls: str, *args: torch.Tensor, **kwargs: Any) -> ModelReport:
    module = _load(path)
    with record_construction(str(path)) as constructed_at:
        model, device = build_model(lambda: getattr(module, cls)(**kwargs))
    return count_model(
        model,
        args,
        source_file=str(path),
        constructed_at=constructed_at,
        device=device,
        mode="train",
    )


def _line_of(path: Path, text: str) -> int:
    [n] = [i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line]
    return n


def test_backward_is_charged_to_the_forward_lines() -> None:
    path = DATA / "gpt.py"
    B, T, d, L, V, H = 1, 64, 128, 2, 512, 4
    report = _count_file(
        path,
        "GPT",
        x(B, T, dtype=torch.long),
        x(B, T, dtype=torch.long),
        vocab=V,
        block=T,
        n_layer=L,
        n_head=H,
        n_embd=d,
    )
    lines = {c.line: c for c in report.lines}
    qkv = lines[_line_of(path, "q, k, v = self.c_attn(x).split(c, dim=2)")]
    # Runs once per layer: B·T·d·3d MACs each; backward twice that.
    assert (qkv.forward_macs, qkv.backward_macs) == (
        L * B * T * d * 3 * d,
        2 * L * B * T * d * 3 * d,
    )
    sdpa = lines[_line_of(path, "y = F.scaled_dot_product_attention(q, k, v, is_causal=True)")]
    attention = L * 2 * B * T * T * d
    assert (sdpa.forward_macs, sdpa.backward_macs) == (attention, 2 * attention)
    assert set(sdpa.ops) == {"attention"}
    head = lines[_line_of(path, "logits = self.lm_head(self.ln_f(x))")]
    assert (head.forward_macs, head.backward_macs) == (B * T * d * V, 2 * B * T * d * V)
    # Every MAC of the step is on a line of the file.
    assert report.total is not None
    assert sum(c.macs for c in report.lines) == report.total.macs
    assert sum(c.backward_macs or 0 for c in report.lines) == report.total.backward_macs
    # ... and the layer built on `self.c_attn = nn.Linear(...)` carries the same split.
    [c_attn] = [la for la in report.layers if la.path == "h.0.attn.c_attn"]
    assert c_attn.line == _line_of(path, "self.c_attn = nn.Linear(n_embd, 3 * n_embd)")
    assert (c_attn.forward_macs, c_attn.backward_macs) == (B * T * d * 3 * d, 2 * B * T * d * 3 * d)


def test_checkpoint_recompute_is_charged_to_its_lines() -> None:
    path = DATA / "mlp.py"
    report = _count_file(path, "Checkpointed", x(8, 16, 64))
    lines = {c.line: c for c in report.lines}
    rows = 8 * 16
    inner = lines[_line_of(path, "return self.fc2(self.act(self.fc1(self.ln(x))))")]
    assert inner.recompute_macs == rows * 64 * 256
    assert lines[_line_of(path, "x = self.inp(x)")].recompute_macs == 0


def test_count_in_reads_each_phase() -> None:
    report = step(_mlp(), x(1, 784))
    assert report.count_in("macs", "forward").macs == FC1 + FC2 + FC3
    assert report.count_in("macs", "backward").macs == FC1 + 2 * FC2 + 2 * FC3
    assert report.count_in("macs", "recompute").macs == 0
    assert report.count_in("macs", "backward").layers["4"].macs == 2 * FC3


def test_ptflops_has_no_backward_and_says_so() -> None:
    report = count(_mlp(), x(1, 784), mode="train", convention="ptflops")
    assert report.total is not None and report.total.forward_macs is None
    # ptflops' Linear: in x out + out (bias); its ReLU: one op per element.
    assert report.total.macs == (FC1 + 512) + 512 + (FC2 + 512) + 512 + (FC3 + 10)
    assert any("ptflops convention has no backward" in n for n in report.notes)


def test_inference_is_unchanged_by_the_mode_fields() -> None:
    report = count(_mlp(), x(1, 784))
    report.elapsed_ms = 1.0  # rounded in the JSON
    assert report.mode == "inference" and report.total is not None
    assert report.total.macs == FC1 + FC2 + FC3 and report.total.forward_macs is None
    assert "forward_macs" not in report.to_json()["total"]
    assert ModelReport.from_json(report.to_json()) == report


def test_json_round_trip_keeps_the_phases() -> None:
    report = step(_mlp(), x(1, 784))
    report.elapsed_ms = 1.0  # rounded in the JSON
    d = report.to_json()
    assert d["mode"] == "training" and d["total"]["backward_macs"] == FC1 + 2 * FC2 + 2 * FC3
    assert ModelReport.from_json(d) == report


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown mode 'fit': use 'inference' or 'train'"):
        count(_mlp(), x(1, 784), mode="fit")


# --- no backward (FS206) --------------------------------------------------------------------


class Argmax(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x).argmax(-1)


class NoGrad(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return F.relu(self.fc(x))


def _no_backward(model: nn.Module) -> ModelReport:
    report = count(model, x(1, 784), mode="train")
    assert report.total is not None and report.no_backward is not None
    # The forward's counts are kept.
    assert report.total.forward_macs == report.total.macs == 784 * 10
    assert report.total.backward_macs == 0
    return report


def test_no_floating_output() -> None:
    report = _no_backward(meta(Argmax))
    assert report.no_backward is not None
    assert "the output has no floating tensor to take as the loss (only int64 tensors)" in (
        report.no_backward
    )


def test_forward_under_no_grad() -> None:
    report = _no_backward(meta(NoGrad))
    assert report.no_backward is not None and "forward ran with gradients off" in report.no_backward


def test_loss_that_does_not_require_grad() -> None:
    model = meta(lambda: nn.Linear(784, 10))
    model.requires_grad_(False)
    report = _no_backward(model)
    assert report.no_backward is not None
    assert "does not require grad: no trainable parameter or input feeds it" in report.no_backward


class RaisingBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("no gradient for this op")


class FailingBackward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return RaisingBackward.apply(self.fc(x))  # type: ignore[no-any-return]


def test_backward_that_raises_keeps_the_forward() -> None:
    report = _no_backward(meta(FailingBackward))
    assert report.no_backward == "no backward: it raised RuntimeError: no gradient for this op"


def test_loss_choices() -> None:
    class Pair(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(8, 4)

        def forward(self, x: torch.Tensor) -> Any:
            out = self.fc(x)
            return {"logits": out, "loss": out.pow(2).mean()}

    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(8, 4)

        def forward(self, x: torch.Tensor) -> Any:
            return self.fc(x), self.fc(x)

    assert step(meta(Pair), x(2, 8)).loss == 'output["loss"]'
    two = step(meta(Two), x(2, 8))
    assert two.loss == "the sum of the floating outputs (2 tensors)"
    # Both calls of fc: forward 2 x 2·8·4, each backward its weight gradient only.
    assert two.total is not None
    assert (two.total.forward_macs, two.total.backward_macs) == (2 * 64, 2 * 64)
    assert math.isclose(
        two.total.macs,
        torch_reference(meta(Two), x(2, 8), loss_of=lambda o: o[0].sum() + o[1].sum()),
    )
