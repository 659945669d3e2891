"""Mixture-of-Experts: grouped matmuls on meta in any dtype, routing by data under balanced
routing, and active parameters; against hand counts and the models' published sizes."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import flopsight
import jsonschema
import pytest
import pytest_lsp
import torch
from flopsight.cli import main
from flopsight.counting.runner import analyse_file
from flopsight.job import AnalysisRequest
from flopsight.report.model import FileReport
from lsp_harness import SERVER, line_of, open_text, start
from lsprotocol import types
from pytest_lsp import LanguageClient

ROOT = Path(__file__).parent.parent
DATA = ROOT / "tests" / "data" / "moe"
SCHEMA = json.loads((ROOT / "server" / "flopsight" / "schema" / "report.schema.json").read_text())


def analyse(name: str) -> FileReport:
    path = DATA / name
    return analyse_file(AnalysisRequest(text=path.read_text(), path=str(path)))


class Grouped(torch.nn.Module):
    def __init__(self, b: torch.Tensor, offs: torch.Tensor | None) -> None:
        super().__init__()
        self.b = b
        self.offs = offs

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return torch._grouped_mm(a, self.b, offs=self.offs)


# (a, b, offs as group ends) for each layout: rows split (MoE), batched, K split, N split.
LAYOUTS = [
    ((12, 8), (3, 8, 4), [4, 8, 12]),
    ((3, 4, 8), (3, 8, 4), None),
    ((4, 12), (12, 4), [4, 8, 12]),
    ((3, 4, 8), (8, 12), [4, 8, 12]),
]


def _hand_macs(a: tuple[int, ...], b: tuple[int, ...], ends: list[int] | None) -> int:
    """Σ over groups of rows × K × N, group by group."""
    starts = [0, *ends[:-1]] if ends else []
    if len(a) == 2 and len(b) == 3:  # group g: rows [start, end) of a times b[g] (K × N)
        return sum((e - s) * a[1] * b[2] for s, e in zip(starts, ends or [], strict=True))
    if len(a) == 3 and len(b) == 3:
        return a[0] * a[1] * a[2] * b[2]
    if len(a) == 2:  # K split: a[:, s:e] @ b[s:e, :]
        return sum(a[0] * (e - s) * b[1] for s, e in zip(starts, ends or [], strict=True))
    return sum(a[1] * a[2] * (e - s) for s, e in zip(starts, ends or [], strict=True))


@pytest.mark.parametrize(("a", "b", "ends"), LAYOUTS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_grouped_mm_on_meta_in_any_dtype(
    a: tuple[int, ...], b: tuple[int, ...], ends: list[int] | None, dtype: torch.dtype
) -> None:
    offs = torch.tensor(ends, dtype=torch.int32) if ends else None
    # The CPU kernel (float32) gives the reference output shape.
    cpu = torch._grouped_mm(torch.randn(a), torch.randn(b), offs=offs)
    meta_offs = offs.to("meta") if offs is not None else None
    model = Grouped(torch.empty(b, dtype=dtype, device="meta"), meta_offs)
    report = flopsight.count(model, torch.empty(a, dtype=dtype, device="meta"))
    assert report.uncounted_ops == []
    assert report.total.macs == _hand_macs(a, b, ends)
    assert report.layers[0].output_shape == list(cpu.shape)


def test_scaled_grouped_mm_on_meta() -> None:
    a = torch.empty(64, 32, dtype=torch.float8_e4m3fn, device="meta")
    b = torch.empty(4, 32, 16, dtype=torch.float8_e4m3fn, device="meta")
    offs = torch.empty(4, dtype=torch.int32, device="meta")
    scale_a = torch.empty(64, dtype=torch.float32, device="meta")
    scale_b = torch.empty(4, 16, dtype=torch.float32, device="meta")

    class Scaled(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch._scaled_grouped_mm(x, b, scale_a, scale_b, offs=offs)

    report = flopsight.count(Scaled(), a)
    assert report.total.macs == 64 * 32 * 16
    assert report.layers[0].output_shape == [64, 16]


def test_small_mixtral_hand_count() -> None:
    (mixtral,) = analyse("mixtral_small.py").models
    assert mixtral.status == "ok", mixtral.error
    assert mixtral.device == "meta"
    t, h, inter, layers, experts, top_k, vocab = 512, 1024, 3584, 4, 8, 2, 32000
    heads, kv_heads = 32, 8
    head_dim = h // heads
    q = t * h * heads * head_dim
    kv = 2 * t * h * kv_heads * head_dim
    o = t * heads * head_dim * h
    attention = 2 * heads * t * t * head_dim  # q @ k^T and attention @ v, full square
    router = t * h * experts
    # Balanced or not, the t × top_k token-expert pairs each run one SwiGLU expert.
    routed = t * top_k * 3 * h * inter
    lm_head = t * h * vocab
    hand = layers * (q + kv + o + attention + router + routed) + lm_head
    assert hand == 69_407_342_592  # 4 × 13,157,531,648 + 16,777,216,000
    assert mixtral.total.macs == hand
    # The figure, 70.48 GMac, is 1.07 G (4 × 512² × 1024) above this count: its
    # experts (70.48 − 25.38 = 45.10 G) agree with `routed` above; see docs/conventions.md.
    assert round(layers * routed / 1e9, 2) == 45.10
    assert mixtral.uncounted_ops == []


def test_small_deepseek_v3_hand_count() -> None:
    (deepseek,) = analyse("deepseek_small.py").models
    assert deepseek.status == "ok", deepseek.error
    t, h, dense_inter, moe_inter, vocab = 64, 256, 512, 128, 1000
    experts, shared, top_k, heads = 16, 1, 4, 4
    q_rank, kv_rank, nope, rope, v = 64, 32, 32, 16, 32
    # Multi-head latent attention: low-rank q and kv, the rope part of k shared by the heads.
    mla = (
        t * h * q_rank  # q_a_proj
        + t * q_rank * heads * (nope + rope)  # q_b_proj
        + t * h * (kv_rank + rope)  # kv_a_proj_with_mqa
        + t * kv_rank * heads * (nope + v)  # kv_b_proj
        + heads * t * t * (nope + rope)  # q @ k^T
        + heads * t * t * v  # attention @ v
        + t * heads * v * h  # o_proj
    )
    dense_mlp = 3 * t * h * dense_inter  # first_k_dense_replace=1
    moe = t * h * experts + t * top_k * 3 * h * moe_inter + 3 * t * h * moe_inter * shared
    hand = 3 * mla + dense_mlp + 2 * moe + t * h * vocab
    assert deepseek.total.macs == hand
    # Active: all but the routed experts, plus their top_k / n_experts share.
    routed_params = 2 * experts * 3 * h * moe_inter
    assert deepseek.total.active_params == (
        deepseek.total.params - routed_params + routed_params * top_k // experts
    )


def _published(value: float, figure: float, digits: int) -> bool:
    """Whether a published figure states ``value`` to its digits, rounded or truncated (Mistral
    rounds 12.88 B to 12.9 B; DeepSeek and Qwen truncate 37.55 B and 3.35 B to 37 B and 3.3 B)."""
    scale = 10**digits
    return figure in (round(value, digits), math.floor(value * scale) / scale)


def test_published_sizes() -> None:
    report = analyse("published.py")
    sizes = {
        m.name: (m.total.params / 1e9, m.total.active_params / 1e9)
        for m in report.models
        if m.total is not None and m.total.active_params is not None
    }
    # Mixtral-8x7B 46.7 B / 12.9 B; DeepSeek-V3 671 B / 37 B; Qwen3-30B-A3B 30.5 B / 3.3 B.
    published = {"mixtral": (46.7, 12.9, 1), "deepseek": (671, 37, 0), "qwen": (30.5, 3.3, 1)}
    for name, (total, active, digits) in published.items():
        assert _published(sizes[name][0], total, digits), (name, sizes[name])
        assert _published(sizes[name][1], active, digits), (name, sizes[name])


@pytest.mark.parametrize("name", ["WhereMoE", "CountedMoE", "SortedMoE"])
def test_routing_by_data_runs_on_meta_balanced(name: str) -> None:
    model = analyse("routed_by_hand.py").model(name)
    assert model.status == "ok", model.error
    assert model.device == "meta"
    t, d, f, experts, top_k = 64, 32, 64, 8, 2
    gate = t * d * experts
    per_expert_rows = t * top_k // experts  # balanced: 16 rows each
    routed = experts * per_expert_rows * 3 * d * f
    shared = t * 3 * d * f
    assert model.total.macs == gate + routed + shared
    [note] = [n for n in model.notes if "balanced routing" in n]
    assert "each of 8 experts receives 64 tokens × 2 / 8 = 16 rows" in note
    expert = 3 * d * f
    assert model.total.params == d * experts + experts * expert + expert
    assert model.total.active_params == d * experts + expert * top_k + expert


def test_dense_models_have_no_active_params() -> None:
    report = flopsight.count(torch.nn.Linear(4, 4), torch.randn(1, 4))
    assert report.total.active_params is None
    assert "active_params" not in report.total.to_json()


def test_cli_table_and_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLOPSIGHT_IN_PROCESS", "1")
    path = str(DATA / "published.py")
    assert main(["report", path, "--model", "mixtral", "--depth", "0"]) == 0
    assert "Number of parameters: 46.70 B · 12.88 B active" in capsys.readouterr().out
    assert main(["report", path, "--model", "mixtral", "--format", "json"]) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    jsonschema.validate(data, SCHEMA)
    assert data["schema"] == "flopsight.report/3"
    assert round(data["models"][0]["total"]["active_params"] / 1e9, 1) == 12.9


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


async def test_lens_and_hover_show_active_params(client: LanguageClient) -> None:
    recorder = await start(client)
    path = DATA / "published.py"
    text = path.read_text()
    uri = open_text(client, path)
    await recorder.analysed(uri)
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    row = line_of(text, "mixtral = ")
    [lens] = [x for x in lenses or [] if x.range.start.line == row]
    assert lens.command is not None
    assert "46.70 B params · 12.88 B active" in lens.command.title
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=row, character=1),
        )
    )
    assert hover is not None
    assert isinstance(hover.contents, types.MarkupContent)
    assert "46.70 B params · 12.88 B active" in hover.contents.value


def test_a_topk_that_is_no_router_fakes_nothing() -> None:
    # An RPN's topk(1000) over 5000 anchors: its masks stay data-dependent (meta cannot run
    # them, so the runner goes to the CPU) instead of being shaped by a routing assumption.
    class Proposals(torch.nn.Module):
        def forward(self, scores: torch.Tensor) -> torch.Tensor:
            top, _ = scores.topk(1000, dim=-1)
            return torch.where(top > 0.5)[0]

    with pytest.raises(NotImplementedError):
        flopsight.count(Proposals(), torch.empty(1, 5000, device="meta"))
