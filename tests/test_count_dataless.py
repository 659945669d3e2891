"""Checks that only read values to validate or take a shortcut (``torch.distributions``'
argument validation, transformers' mask shortcuts) are skipped on meta, so such a model is
counted on meta, not rebuilt on the CPU with real weights, and its count is unchanged: each
equals torch's own counter run on the CPU with real tensors (the meta run of the plain model
raises, which the tests check first)."""

from __future__ import annotations

import pytest
import torch
from flopsight.counting.dataless import data_checks_skipped
from flopsight.counting.runner import analyse_file
from flopsight.job import AnalysisRequest
from flopsight.report.model import ModelReport
from torch import nn
from torch.distributions import Distribution
from torch.utils.flop_counter import FlopCounterMode

GATE = """\
import torch
from torch import nn


class Gate(nn.Module):  # flopsight: input=(4, 64)
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 32)

    def forward(self, x):
        # Gemma 3n's sparse gate: a quantile of N(0, 1), whose construction validates scale > 0.
        cut = torch.distributions.normal.Normal(0, 1).icdf(torch.tensor(0.95))
        return torch.relu(self.fc(x) - cut)
"""

BART = """\
from transformers import BartConfig, BartModel

config = BartConfig(
    vocab_size=500, d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
    decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128,
    max_position_embeddings=128,
)
# flopsight: input={"input_ids": (1, 40)}, dtype="long"
model = BartModel(config)
"""


def _count(text: str, tmp_path: object) -> ModelReport:
    path = f"{tmp_path}/model.py"
    report = analyse_file(AnalysisRequest(text=text, path=path, models=None))
    counted = [m for m in report.models if m.status != "skipped"]
    assert len(counted) == 1, [(m.name, m.status) for m in report.models]
    return counted[0]


def _cpu_reference(model: nn.Module, *args: torch.Tensor, **kwargs: torch.Tensor) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.eval()(*args, **kwargs)
    return int(counter.get_total_flops()) // 2


def test_distribution_validation_does_not_send_the_model_to_the_cpu(tmp_path: object) -> None:
    namespace: dict[str, object] = {}
    exec(GATE, namespace)
    gate = namespace["Gate"]
    assert isinstance(gate, type)
    with torch.device("meta"), pytest.raises(RuntimeError, match="meta"):
        gate()(torch.empty(4, 64))  # what sent it to the CPU before
    report = _count(GATE, tmp_path)
    assert report.status == "ok", report.error
    assert report.device == "meta"
    assert report.total.macs == _cpu_reference(gate(), torch.randn(4, 64)) == 4 * 64 * 32


def test_transformers_mask_shortcuts_do_not_send_bart_to_the_cpu(tmp_path: object) -> None:
    from transformers import BartConfig, BartModel

    config = BartConfig(
        vocab_size=500,
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_position_embeddings=128,
    )
    ids = torch.zeros(1, 40, dtype=torch.long)
    with torch.device("meta"), torch.no_grad(), pytest.raises(RuntimeError, match="meta"):
        BartModel(config).eval()(input_ids=ids.to("meta"))
    report = _count(BART, tmp_path)
    assert report.status == "ok", report.error
    assert report.device == "meta"
    # Eager attention on the CPU: torch's counter has no formula for the CPU's fused SDPA
    # kernel, but counts the eager path's two matmuls (the same Q·Kᵀ and A·V).
    config._attn_implementation = "eager"
    assert report.total.macs == _cpu_reference(BartModel(config), input_ids=ids)


def test_the_checks_come_back_after_the_count() -> None:
    import transformers.utils.import_utils as hf

    validate = Distribution._validate_args
    original = hf.is_fake_tensor
    meta = torch.empty(2, device="meta")
    with data_checks_skipped():
        assert hf.is_tracing(meta)
        assert not hf.is_tracing(torch.zeros(2))
        assert not Distribution._validate_args
    assert hf.is_fake_tensor is original
    assert not hf.is_tracing(meta)
    assert Distribution._validate_args == validate
