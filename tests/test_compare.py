"""`flopsight report --compare` and the class line's hover: every convention from one pass.

The model (tests/data/compare/compare_net.py) is small enough to count by hand, and each
peer is run on it inside the test: torch's FlopCounterMode (macs), ptflops, fvcore, DeepSpeed.

By hand, input (1, 3, 32, 32), 16 x 32 x 32 = 16,384 conv outputs:
  conv 3x3, 3 -> 16: 16,384 x 27 = 442,368 MACs; its bias 16,384
  batch norm (eval, affine): 2 per element = 32,768; ReLU 16,384; adaptive pool 16,384
  fc 16 -> 10: 160 MACs, bias 10
  macs      = 442,368 + 160                                  = 442,528
  fvcore    = macs + norm 32,768 + pool 16,384               = 491,680
  ptflops   = macs + conv bias + norm + ReLU + pool + fc bias = 524,458
  deepspeed = 442,528 MACs; FLOPs 2 x 442,528 + conv bias + norm + ReLU + pool = 966,976
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from types import ModuleType

import jsonschema
import pytest_lsp
import torch
from deepspeed.profiling.flops_profiler import get_model_profile
from fvcore.nn import FlopCountAnalysis
from lsp_harness import SERVER, line_of, open_text, start
from lsprotocol import types
from ptflops import get_model_complexity_info
from pytest_lsp import LanguageClient
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parent.parent
NET = ROOT / "tests" / "data" / "compare" / "compare_net.py"
SCHEMA = json.loads((ROOT / "server" / "flopsight" / "schema" / "report.schema.json").read_text())

HAND = {"macs": 442_528, "fvcore": 491_680, "ptflops": 524_458, "deepspeed": 442_528}
DEEPSPEED_FLOPS = 966_976


def _net_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("compare_net", NET)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _peers() -> dict[str, int]:
    """Each convention's MACs as the tool it follows counts them, on the real model."""
    model = _net_module().CompareNet().eval()
    x = torch.randn(1, 3, 32, 32)
    with FlopCounterMode(display=False) as torch_counter:
        model(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fv = FlopCountAnalysis(model, (x,))
        fv.unsupported_ops_warnings(False)
        fvcore = int(fv.total())
    pt, _ = get_model_complexity_info(
        model,
        (3, 32, 32),
        as_strings=False,
        print_per_layer_stat=False,
        backend="pytorch",
        backend_specific_config={"count_functional": False},
    )
    ds_flops, ds_macs, _ = get_model_profile(
        model, args=[x], print_profile=False, as_string=False, warm_up=1
    )
    assert int(ds_flops) == DEEPSPEED_FLOPS
    return {
        "macs": torch_counter.get_total_flops() // 2,
        "ptflops": int(pt or 0),
        "fvcore": fvcore,
        "deepspeed": int(ds_macs),
    }


def _cli(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "FLOPSIGHT_IN_PROCESS"}
    done = subprocess.run(
        [sys.executable, "-m", "flopsight", "report", str(NET), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_peers_agree_with_the_hand_count() -> None:
    assert _peers() == HAND


def test_compare_prints_every_convention_and_the_families_behind_each_difference() -> None:
    out = _cli("--compare")
    rows = {line.split()[0]: line for line in out.splitlines()[3:7]}
    assert "torchvision" in rows["macs"] and "442.53 KMac" in rows["macs"]
    assert "885.06 KFLOPs" in rows["macs"]
    assert "524.46 KMac" in rows["ptflops"]
    assert "491.68 KMac" in rows["fvcore"] and "16.39 k" in rows["fvcore"]  # 16,384 + 10
    assert "442.53 KMac" in rows["deepspeed"] and "966.98 KFLOPs" in rows["deepspeed"]
    # fvcore − macs = 49,152 / 442,528 = 11.1 %: norm 32,768 (7.4 %), pool 16,384 (3.7 %).
    assert "  fvcore − macs = +11.1 %: norm +7.4 %, pool +3.7 %" in out
    # ptflops adds 81,930 (18.5 %): norm, then ReLU, pool and conv bias 16,384 each (3.7 %).
    assert "  ptflops − macs = +18.5 %: norm +7.4 %" in out
    assert "  deepspeed − macs = +0.0 %" in out
    # DeepSpeed's FLOPs: 966,976 − 885,056 = 81,920 (9.3 %): norm 32,768 (3.7 %) ...
    assert "  deepspeed FLOPs − 2 × macs MACs = +9.3 %: norm +3.7 %" in out


def test_compare_json_holds_every_convention_from_one_pass() -> None:
    report = json.loads(_cli("--compare", "--format", "json"))
    jsonschema.validate(report, SCHEMA)
    (model,) = report["models"]
    counts = {c["convention"]: c for c in model["counts"]}
    assert {k: c["macs"] for k, c in counts.items()} == HAND
    assert counts["deepspeed"]["flops"] == DEEPSPEED_FLOPS
    assert counts["fvcore"]["activations"] == 16_394  # conv outputs 16,384 + fc outputs 10
    assert model["total"]["macs"] == HAND["macs"]  # --convention macs fills the report


def test_convention_fvcore_from_the_command_line() -> None:
    report = json.loads(_cli("--convention", "fvcore", "--format", "json"))
    (model,) = report["models"]
    assert model["total"]["macs"] == HAND["fvcore"]
    assert model["total"]["activations"] == 16_394


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


async def test_the_class_line_hover_shows_every_convention(client: LanguageClient) -> None:
    recorder = await start(client, {"convention": "macs"})
    uri = open_text(client, NET)
    await recorder.analysed(uri)
    text = NET.read_text()
    row = line_of(text, "class CompareNet")
    result = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=row, character=text.splitlines()[row].index("Compare")),
        )
    )
    assert result is not None and isinstance(result.contents, types.MarkupContent)
    assert (
        "torchvision 442.53 · ptflops 524.46 · fvcore 491.68 · DeepSpeed 442.53 KMac"
        in result.contents.value
    )


async def test_compare_off_counts_only_the_convention(client: LanguageClient) -> None:
    recorder = await start(client, {"convention": "fvcore", "compare": False})
    uri = open_text(client, NET)
    await recorder.analysed(uri)
    text = NET.read_text()
    row = line_of(text, "class CompareNet")
    result = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=row, character=text.splitlines()[row].index("Compare")),
        )
    )
    assert result is not None and isinstance(result.contents, types.MarkupContent)
    assert "491.68 KMac" in result.contents.value
    assert "torchvision" not in result.contents.value
