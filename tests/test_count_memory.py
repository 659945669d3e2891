"""Models larger than memory: the 70B Llama example counts on meta without its weights;
a constructor that needs real tensors (torchvision's RegNet) counts through meta-params."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import psutil
import pytest
import torch
import torchvision.models as tvm
from flopsight.counting.build import build_model, make_inputs, needs_real_tensors
from flopsight.counting.counter import count_model
from flopsight.report.model import InputSpec

LLAMA = Path(__file__).resolve().parent.parent / "examples" / "llama.py"


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _llama_params(vocab: int, d: int, layers: int, heads: int, kv_heads: int, ffn: int) -> int:
    head_dim = d // heads
    attention = d * d + 2 * d * kv_heads * head_dim + d * d  # wq, wk, wv, wo (no biases)
    mlp = 3 * d * ffn  # SwiGLU: w1, w3 up, w2 down
    norms = 2 * d  # RMSNorm weights
    return vocab * d + layers * (attention + mlp + norms) + d + d * vocab


def _llama_macs(
    vocab: int, d: int, layers: int, heads: int, kv_heads: int, ffn: int, tokens: int
) -> int:
    head_dim = d // heads
    projections = tokens * d * d * 2 + tokens * d * kv_heads * head_dim * 2  # q, o; k, v
    # q @ k^T and att @ v for every query head (the causal mask does not skip work).
    attention = 2 * heads * tokens * tokens * head_dim
    mlp = 3 * tokens * d * ffn
    return layers * (projections + attention + mlp) + tokens * d * vocab


def test_70b_llama_counts_on_meta_without_allocating_weights() -> None:
    llama = _load(LLAMA)
    process = psutil.Process()
    rss_before = process.memory_info().rss

    model, device = build_model(llama.Llama)
    (tokens,) = make_inputs([InputSpec("tokens", [1, 2048], "long")], device)
    report = count_model(model, (tokens,), device=device)

    rss_growth = process.memory_info().rss - rss_before
    assert device == "meta"
    assert rss_growth < 1 << 30, f"counting grew RSS by {rss_growth / 2**20:.0f} MiB"
    assert report.total is not None
    # 80 layers, d=8192, 64 heads, 8 KV heads, ffn 28672, vocab 32000: about 69 billion.
    expected_params = _llama_params(32000, 8192, 80, 64, 8, 28672)
    assert report.total.params == expected_params
    assert 68e9 < expected_params < 70e9
    assert report.total.macs == _llama_macs(32000, 8192, 80, 64, 8, 28672, 2048)
    assert report.total.param_bytes == 4 * expected_params


def test_small_llama_totals_match_the_hand_formula_on_meta_and_cpu() -> None:
    llama = _load(LLAMA)
    config = {"vocab_size": 100, "dim": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2}
    config |= {"ffn_dim": 160, "max_seq_len": 32}
    expected_macs = _llama_macs(100, 64, 2, 4, 2, 160, tokens=16)
    expected_params = _llama_params(100, 64, 2, 4, 2, 160)

    for device in ("meta", "cpu"):
        model = llama.Llama(**config).to(device)
        (tokens,) = make_inputs([InputSpec("tokens", [1, 16], "long")], device)
        report = count_model(model, (tokens,), device=device)
        assert report.total is not None
        assert report.total.macs == expected_macs, device
        assert report.total.params == expected_params
        assert report.ops["attention"] == 2 * 4 * 16 * 16 * (64 // 4) * 2
        assert report.uncounted_ops == []


def test_regnet_counts_through_the_meta_params_fallback() -> None:
    # RegNet's constructor calls .tolist() on tensors, which the meta device cannot do.
    weights = tvm.RegNet_Y_400MF_Weights.DEFAULT
    model, device = build_model(tvm.regnet_y_400mf)
    assert device == "meta-params"
    assert all(p.device.type == "meta" for p in model.parameters())
    assert all(b.device.type == "meta" for b in model.buffers())

    report = count_model(model, (torch.empty(1, 3, 224, 224, device="meta"),), device=device)
    assert report.device == "meta-params"
    assert report.total is not None
    assert round(report.total.macs / 1e9, 3) == weights.meta["_ops"]
    assert report.total.params == weights.meta["num_params"]


def test_cpu_inputs_are_valid_for_embeddings() -> None:
    ids, image = make_inputs(
        [InputSpec("ids", [2, 7], "long"), InputSpec("x", [1, 3], "float16")], "cpu"
    )
    assert ids.dtype == torch.int64 and int(ids.max()) == 0
    assert image.dtype == torch.float16 and image.device.type == "cpu"
    assert make_inputs([InputSpec("x", [4], "bfloat16")], "meta")[0].is_meta


class _ReadsData(torch.nn.Module):
    """A forward pass that looks at values: impossible on meta, fine on the CPU."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        return y if float(y.abs().sum()) >= 0 else -y


def test_a_forward_that_reads_data_falls_back_to_the_cpu() -> None:
    model, device = build_model(_ReadsData)
    assert device == "meta"
    (x,) = make_inputs([InputSpec("x", [2, 4])], device)
    with pytest.raises(RuntimeError) as failure:
        count_model(model, (x,), device=device)
    assert needs_real_tensors(failure.value)

    model, device = build_model(_ReadsData, start="cpu")
    assert device == "cpu"
    (x,) = make_inputs([InputSpec("x", [2, 4])], device)
    report = count_model(model, (x,), device=device)
    assert report.total is not None and report.total.macs == 2 * 4 * 4
    assert not needs_real_tensors(ValueError("a bug in the model"))


class _Positions(torch.nn.Module):
    """A forward that makes tensors without a device, as much model code does."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens = torch.nn.Embedding(100, 8)
        self.positions = torch.nn.Embedding(16, 8)
        self.head = torch.nn.Linear(8, 100)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        where = torch.arange(ids.shape[1])
        mask = torch.ones(ids.shape[1], ids.shape[1]).tril()
        h = self.tokens(ids) + self.positions(where)
        return self.head(mask @ h)


def test_tensors_made_in_forward_land_on_meta_too() -> None:
    model, device = build_model(_Positions)
    (ids,) = make_inputs([InputSpec("ids", [1, 16], "long")], device)
    report = count_model(model, (ids,), device=device)
    assert report.device == "meta"
    # mask @ h: 16 x 16 @ 16 x 8; head: 16 rows x 8 x 100.
    assert report.total is not None and report.total.macs == 16 * 16 * 8 + 16 * 8 * 100
