"""Keyword inputs: a dict of inputs goes to forward by keyword, checked against the built model's
real signature; positional inputs of an instance are named from that signature."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
import torch
from flopsight.cli import main
from flopsight.counting.runner import analyse_file
from flopsight.job import AnalysisRequest
from lsp_harness import SERVER, line_of, open_text, start
from pytest_lsp import LanguageClient
from torch.utils.flop_counter import FlopCounterMode

DATA = Path(__file__).parent / "data" / "inputs"


def analyse(name: str) -> Any:
    path = DATA / name
    (model,) = analyse_file(AnalysisRequest(text=path.read_text(), path=str(path))).models
    return model


def flop_counter_macs(model: torch.nn.Module, **inputs: torch.Tensor) -> int:
    """torch's own counter on the same model built on meta: the independent reference."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.eval()(**inputs)
    return int(counter.get_total_flops()) // 2


def test_t5_encoder_and_decoder_lengths_differ() -> None:
    from transformers import T5Config, T5ForConditionalGeneration

    report = analyse("t5_small.py")
    assert report.status == "ok", report.error
    assert [(i.name, i.shape) for i in report.inputs] == [
        ("input_ids", [1, 48]),
        ("decoder_input_ids", [1, 12]),
    ]
    config = T5Config(d_model=64, d_ff=128, d_kv=16, num_layers=2, num_heads=4, vocab_size=1000)
    with torch.device("meta"):
        t5 = T5ForConditionalGeneration(config)
        reference = flop_counter_macs(
            t5,
            input_ids=torch.zeros(1, 48, dtype=torch.long),
            decoder_input_ids=torch.zeros(1, 12, dtype=torch.long),
        )
    assert report.total.macs == reference
    # The decoder ran at its own length (the bug passed decoder_input_ids as attention_mask).
    decoder = next(layer for layer in report.layers if layer.path == "decoder")
    assert decoder.output_shape == [1, 12, 64]


def test_whisper_through_the_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    monkeypatch.setenv("FLOPSIGHT_IN_PROCESS", "1")
    assert main(["report", str(DATA / "whisper_small.py"), "--format", "json"]) == 0
    (model,) = json.loads(capsys.readouterr().out)["models"]
    assert model["status"] == "ok", model["error"]
    assert [i["name"] for i in model["inputs"]] == ["input_features", "decoder_input_ids"]
    config = WhisperConfig(
        num_mel_bins=80,
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_source_positions=50,
        max_target_positions=64,
    )
    with torch.device("meta"):
        whisper = WhisperForConditionalGeneration(config)
        reference = flop_counter_macs(
            whisper,
            input_features=torch.empty(1, 80, 100),
            decoder_input_ids=torch.zeros(1, 16, dtype=torch.long),
        )
    assert model["total"]["macs"] == reference


def test_cli_named_inputs_go_by_keyword(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLOPSIGHT_IN_PROCESS", "1")
    argv = ["report", str(DATA / "t5_small.py"), "--format", "json", "--dtype", "long"]
    argv += ["--input", "decoder_input_ids=1,5", "--input", "input_ids=1,20"]
    assert main(argv) == 0
    (model,) = json.loads(capsys.readouterr().out)["models"]
    assert model["status"] == "ok", model["error"]
    decoder = next(layer for layer in model["layers"] if layer["path"] == "decoder")
    encoder = next(layer for layer in model["layers"] if layer["path"] == "encoder")
    assert (encoder["output_shape"], decoder["output_shape"]) == ([1, 20, 64], [1, 5, 64])


def test_unknown_name_lists_the_real_parameters() -> None:
    report = analyse("unknown_name.py")
    assert report.status == "error"
    assert report.error.kind == "pragma"
    assert report.error.line == 4
    message = report.error.message
    assert "no parameter `decoder_ids`" in message
    assert "input_ids, attention_mask, decoder_input_ids" in message
    assert "did you mean `decoder_input_ids`?" in message


def test_instance_inputs_are_named_from_forward() -> None:
    # TinyGPT.forward(self, idx, targets=None) lives in gptlib.py; the file only builds it.
    report = analyse("imported_instance.py")
    assert report.status == "ok", report.error
    assert [i.name for i in report.inputs] == ["idx"]
    width, vocab, tokens = 32, 100, 16
    mlp = tokens * width * 4 * width * 2
    head = tokens * width * vocab
    assert report.total.macs == mlp + head


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    yield
    await lsp_client.shutdown_session()


async def test_unknown_name_is_fs104_on_the_pragma(client: LanguageClient) -> None:
    recorder = await start(client)
    path = DATA / "unknown_name.py"
    text = path.read_text()
    uri = open_text(client, path)
    await recorder.analysed(uri)
    [diag] = [d for d in client.diagnostics.get(uri, []) if d.code == "FS104"]
    row = line_of(text, "# flopsight:")
    assert diag.range.start.line == row == diag.range.end.line
    assert diag.range.start.character == text.splitlines()[row].index("# flopsight:")
    assert "decoder_ids" in diag.message and "decoder_input_ids" in diag.message
