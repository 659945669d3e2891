"""How cost grows: for each symbolic dimension of a model's input, the exact polynomial of its
MACs (checked at a value the fit did not use), or a table where none fits; in
``report --format json`` (``scaling``) and in the class line's hover, after the first hints.

Reference, by hand, for the GPT-2 block of tests/data/scaling/gpt_block.py (C = 768, batch B,
sequence length T), macs convention (matmuls and attention; norms, GELU, bias are free):
  c_attn  Linear(C, 3C)  3C²·B·T      c_proj    Linear(C, C)   C²·B·T
  c_fc    Linear(C, 4C)  4C²·B·T      mlp_proj  Linear(4C, C)  4C²·B·T
  attention (12 heads of C/12): Q·Kᵀ B·T·T·C, softmax·V B·T·T·C        (is_causal: counted full)
  MACs = 12C²·B·T + 2C·B·T²
so in T (B = 1): 12·768² = 7,077,888 per T and 2·768 = 1,536 per T²; attention passes half the
cost where 1,536·T² = 7,077,888·T, at T = 4,608. In B (T = 1024): one term,
12·768²·1024 + 2·768·1024² = 7,247,757,312 + 1,610,612,736 = 8,858,370,048 per B.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import jsonschema
import pytest
import pytest_lsp
from flopsight.cli import main
from flopsight.report.scaling import fit, sample_values
from lsp_harness import SERVER, line_of, open_text, start
from lsprotocol import types
from pytest_lsp import LanguageClient

ROOT = Path(__file__).parent.parent
GPT = ROOT / "tests" / "data" / "scaling" / "gpt_block.py"
SCHEMA = json.loads((ROOT / "server" / "flopsight" / "schema" / "report.schema.json").read_text())
C = 768


def hand_macs(b: int, t: int) -> int:
    return 12 * C * C * b * t + 2 * C * b * t * t


def patches_macs(h: int) -> int:
    """Conv2d(3, 8, 7, stride 3) on (1, 3, H, H): out = ⌊(H − 7) / 3⌋ + 1; 8·3·7·7 per output."""
    out = (h - 7) // 3 + 1
    return 8 * 3 * 7 * 7 * out * out


@pytest.fixture(autouse=True)
def in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOPSIGHT_IN_PROCESS", "1")


def test_exact_fit_of_a_cubic() -> None:
    cubic = [(x, 3 * x**3 + x * x // 1 + 7) for x in (2, 5, 6, 9)]
    assert fit(cubic) == {3: 3, 2: 1, 0: 7}
    assert fit([(1, 1), (3, 2)]) == {0: Fraction(1, 2), 1: Fraction(1, 2)}
    assert sample_values(1024) == [512, 640, 768, 896, 1024]  # multiples of 128, ending at 1024
    assert sample_values(1) == [1, 2, 3, 4, 5]


def test_report_json_scaling(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(GPT), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    jsonschema.validate(report, SCHEMA)
    block = next(m for m in report["models"] if m["name"] == "Block")
    assert block["total"]["macs"] == hand_macs(1, 1024)
    batch, t = block["scaling"]
    assert batch["dim"] == "batch" and t["dim"] == "T"

    assert t["polynomial"] == [
        {"degree": 1, "numerator": 12 * C * C, "denominator": 1},
        {"degree": 2, "numerator": 2 * C, "denominator": 1},
    ]
    assert t["verified_at"] == 1024  # the report's own count, not one of the four fitted
    assert [p["macs"] for p in t["points"]] == [hand_macs(1, x) for x in (512, 640, 768, 896, 1024)]
    assert t["crossover"] == pytest.approx(12 * C * C / (2 * C))  # 4,608
    assert t["text"] == "MACs = 7.08 M·T + 1.54 k·T² · attention passes half the cost at T = 4.6 k"

    assert batch["polynomial"] == [{"degree": 1, "numerator": hand_macs(1, 1024), "denominator": 1}]
    assert batch["text"] == "MACs = 8.86 G·batch"


def test_no_polynomial_gives_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    """A strided convolution rounds down: no polynomial through the counts, a table instead."""
    assert main(["report", str(GPT), "--model", "Patches", "--format", "json"]) == 0
    [patches] = json.loads(capsys.readouterr().out)["models"]
    [h] = patches["scaling"]
    assert h["polynomial"] is None and h["verified_at"] is None
    points = [(p["value"], p["macs"]) for p in h["points"]]
    assert points == [(x, patches_macs(x)) for x in (96, 128, 160, 192, 224)]
    assert h["text"].startswith("MACs by H: 96: 1.06 M, 128: 1.98 M")  # 1176·30² = 1,058,400


def test_table_report_pays_for_no_extra_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(GPT), "--format", "markdown"]) == 0
    assert "passes half the cost" not in capsys.readouterr().out


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


async def test_class_line_hover_after_the_first_hints(client: LanguageClient) -> None:
    recorder = await start(client)
    text = GPT.read_text()
    uri = open_text(client, GPT)
    await recorder.until(lambda: recorder.count("flopsight/scaled", uri) >= 2)  # both models
    names = [
        e for e, p in recorder.events if e in ("flopsight/analysisFinished", "flopsight/scaled")
    ]
    assert names[0] == "flopsight/analysisFinished"  # the hints were out before the extra counts
    row = line_of(text, "class Block")
    result = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=row, character=len("class B")),
        )
    )
    assert result is not None and isinstance(result.contents, types.MarkupContent)
    card = result.contents.value
    assert (
        "MACs = 7.08 M·T + 1.54 k·T² · attention passes half the cost at T = 4.6 k "
        "(exact; checked at T = 1024)" in card
    )
    assert "MACs = 8.86 G·batch (exact; checked at batch = 1)" in card

    row = line_of(text, "class Patches")
    result = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=row, character=len("class P")),
        )
    )
    assert result is not None and isinstance(result.contents, types.MarkupContent)
    assert "| H | 96 | 128 | 160 | 192 | 224 |" in result.contents.value
