"""Config objects in `init`: values may be expressions, evaluated by the worker in the file's
namespace after its definitions ran; the source side keeps their text and evaluates nothing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest_lsp
import torch
from flopsight.counting.runner import analyse_file
from flopsight.job import AnalysisRequest
from flopsight.report.model import ModelReport
from flopsight.source import analyse_source
from flopsight.source.model import InitExpression
from lsp_harness import SERVER, line_of, open_text, start
from pytest_lsp import LanguageClient
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).parent / "data"
NANOGPT = ROOT / "zoo" / "nanogpt_model.py"
RAISES = ROOT / "inputs" / "init_raises.py"


def analyse(path: Path) -> ModelReport:
    report = analyse_file(AnalysisRequest(text=path.read_text(), path=str(path)))
    return report.model("GPT" if path == NANOGPT else "Net")


def test_source_side_keeps_the_text_and_evaluates_nothing() -> None:
    text = (
        "from torch import nn\n"
        "class Net(nn.Module):  # flopsight: input=(1, 8), "
        'init={"config": open("/nonexistent/x", "w"), "width": 8}\n'
        "    def forward(self, x):\n"
        "        return x\n"
    )
    analysis = analyse_source(text, "net.py")
    assert not [d for d in analysis.diagnostics if d.code in ("FS102", "FS104")]
    (net,) = analysis.models
    assert net.init["width"] == 8
    expression = net.init["config"]
    assert isinstance(expression, InitExpression)
    assert expression.text == 'open("/nonexistent/x", "w")'
    row = text.splitlines()[1]
    assert row[expression.span.col : expression.span.end_col] == expression.text


def test_init_that_is_not_a_dict_is_still_refused() -> None:
    text = (
        "from torch import nn\n"
        "class Net(nn.Module):  # flopsight: input=(1, 8), init=make_init()\n"
        "    def forward(self, x):\n"
        "        return x\n"
    )
    [bad] = [d for d in analyse_source(text, "net.py").diagnostics if d.code == "FS102"]
    assert "init={" in bad.message


def test_nanogpt_from_its_config_matches_a_hand_count() -> None:
    report = analyse(NANOGPT)
    assert report.status == "ok", report.error
    assert report.inputs[0].name == "idx"
    # GPTConfig(n_layer=2): T=1024 tokens, C=768, vocab 50304, 12 heads, biases on.
    t, c, vocab, layers = 1024, 768, 50304, 2
    qkv = t * c * 3 * c
    scores = t * t * c  # q @ k^T over all 12 heads (is_causal counts the full square)
    mix = t * t * c  # attention @ v
    out = t * c * c
    mlp = t * c * 4 * c + t * 4 * c * c
    lm_head = 1 * c * vocab  # nanoGPT's inference path: the last position only
    hand = layers * (qkv + scores + mix + out + mlp) + lm_head
    assert hand == 17_755_373_568
    assert report.total.macs == hand
    # Parameters: the tied wte/lm_head once, wpe, per block two LayerNorms, attention, MLP.
    block = 2 * (2 * c) + (c * 3 * c + 3 * c) + (c * c + c) + (c * 4 * c + 4 * c) + (4 * c * c + c)
    assert report.total.params == vocab * c + 1024 * c + layers * block + 2 * c


def test_nanogpt_matches_torch_flop_counter_on_meta() -> None:
    spec = importlib.util.spec_from_file_location("nanogpt_reference", NANOGPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with torch.device("meta"):
        gpt = module.GPT(module.GPTConfig(n_layer=2)).eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            gpt(torch.zeros(1, 1024, dtype=torch.long))
    assert analyse(NANOGPT).total.macs == counter.get_total_flops() // 2


def test_expression_that_raises_is_fs104_with_the_exception() -> None:
    report = analyse(RAISES)
    assert report.status == "error"
    assert report.error.kind == "pragma"
    assert report.error.line == line_of(RAISES.read_text(), "# flopsight:") + 1
    assert "ZeroDivisionError" in report.error.message
    assert "Config(width=8 // 0)" in report.error.message


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


async def test_raising_init_is_fs104_on_the_pragma(client: LanguageClient) -> None:
    recorder = await start(client)
    text = RAISES.read_text()
    uri = open_text(client, RAISES)
    await recorder.analysed(uri)
    [diag] = [d for d in client.diagnostics.get(uri, []) if d.code == "FS104"]
    row = line_of(text, "# flopsight:")
    assert diag.range.start.line == row
    assert diag.range.start.character == text.splitlines()[row].index("# flopsight:")
    assert "ZeroDivisionError" in diag.message


async def test_nothing_is_evaluated_with_execution_off(client: LanguageClient) -> None:
    recorder = await start(client, {"execute": False})
    uri = open_text(client, RAISES)
    await recorder.until(lambda: any(d.code == "FS401" for d in client.diagnostics.get(uri, [])))
    assert not [d for d in client.diagnostics.get(uri, []) if d.code == "FS104"]
