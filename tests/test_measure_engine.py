"""``flopsight.counting.measure``: real forward passes on the CPU, timed per model and per layer.

No timing thresholds: latencies are positive, ordered with the work where the work differs by
100x, and every derived figure (GFLOP/s, share, utilisation) is checked by hand against the
same report's FLOPs and times. The FLOPs themselves are checked by hand (2 x batch x in x out).
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import psutil
import pytest
from flopsight.counting.measure import check_memory, gpu_peak, measure_file, memory_estimate
from flopsight.job import AnalysisRequest, MeasureOptions
from flopsight.report.model import FileReport, ModelReport

ROOT = Path(__file__).parent.parent
SCHEMA = json.loads((ROOT / "server" / "flopsight" / "schema" / "report.schema.json").read_text())

# big: 256 x 2048 x 2048 MACs; small: 256 x 2048 x 20, a hundredth of it (1.0 %).
TWO_LINEARS = """\
import torch
from torch import nn


class Two(nn.Module):  # flopsight: input=(256, 2048)
    def __init__(self):
        super().__init__()
        self.small = nn.Linear(2048, 20)
        self.big = nn.Linear(2048, 2048)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.big(x)).sum() + self.small(x).sum()
"""


def _measure(
    tmp_path: Path, text: str, iters: int = 5, peak: float | None = None, **kw: object
) -> FileReport:
    path = tmp_path / "model.py"
    path.write_text(text)
    options = MeasureOptions(device="cpu", warmup=1, iters=iters, peak_gflops_per_s=peak)
    request = AnalysisRequest(text=text, path=str(path), measure=options, **kw)  # type: ignore[arg-type]
    return measure_file(request)


def test_latency_is_positive_and_ordered_with_the_work(tmp_path: Path) -> None:
    report = _measure(tmp_path, TWO_LINEARS, iters=7)
    (model,) = report.models
    assert model.status == "ok", model.error
    layers = {layer.path: layer for layer in model.layers}
    big, small = layers["big"], layers["small"]
    # Hand count: a Linear is batch x in x out MACs, FLOPs twice that.
    assert big.flops == 2 * 256 * 2048 * 2048
    assert small.flops == 2 * 256 * 2048 * 20
    assert big.flops == 2048 * small.flops // 20
    for layer in model.layers:
        assert layer.latency_ms is not None and layer.latency_ms > 0, layer.path
    assert model.latency_ms is not None and model.latency_ms > 0
    # ~100x the work: slower, by the medians of 7 runs.
    assert big.latency_ms is not None and small.latency_ms is not None
    assert big.latency_ms > small.latency_ms
    assert model.device == "cpu"
    assert model.measure is not None
    assert model.measure["device"] == "cpu"
    assert model.measure["iters"] == 7
    assert model.measure["warmup"] == 1
    assert model.measure["dtype"] == "float32"


def test_gflops_share_and_utilisation_follow_from_the_same_report(tmp_path: Path) -> None:
    report = _measure(tmp_path, TWO_LINEARS, peak=1000.0)
    (model,) = report.models
    assert model.status == "ok", model.error
    assert model.latency_ms is not None and model.total is not None
    for layer in model.layers:
        assert layer.latency_ms is not None
        if layer.flops:
            seconds = layer.latency_ms / 1000.0
            assert layer.gflops_per_s == pytest.approx(layer.flops / seconds / 1e9, rel=1e-12)
        else:
            assert layer.gflops_per_s is None  # the ReLU: no counted work, no throughput
        assert layer.time_share == pytest.approx(layer.latency_ms / model.latency_ms, rel=1e-12)
    seconds = model.latency_ms / 1000.0
    assert model.gflops_per_s == pytest.approx(model.total.flops / seconds / 1e9, rel=1e-12)
    # The given peak is used as is; utilisation is achieved over peak.
    assert model.peak_gflops_per_s == 1000.0
    assert model.utilisation == pytest.approx(model.gflops_per_s / 1000.0, rel=1e-12)
    assert model.measure is not None and model.measure["peak_source"] == "given"
    # The sum stands beside the end-to-end time: the leaves' medians added up.
    leaves = [x.latency_ms for x in model.layers if x.path in ("small", "big", "act")]
    assert model.layers_latency_ms_sum == pytest.approx(
        sum(t for t in leaves if t is not None), rel=1e-12
    )


def test_cpu_peak_comes_from_a_matmul_probe(tmp_path: Path) -> None:
    report = _measure(tmp_path, TWO_LINEARS, iters=2)
    (model,) = report.models
    assert model.peak_gflops_per_s is not None and model.peak_gflops_per_s > 0
    assert model.measure is not None
    assert model.measure["peak_source"].startswith("probe: 1024x1024 float32 matmuls")
    assert model.utilisation == pytest.approx(model.gflops_per_s / model.peak_gflops_per_s)


def test_a_layer_called_twice_is_charged_both_calls(tmp_path: Path) -> None:
    text = """\
from torch import nn


class Twice(nn.Module):  # flopsight: input=(8, 64)
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 64)

    def forward(self, x):
        return self.fc(self.fc(x))
"""
    (model,) = _measure(tmp_path, text).models
    assert model.status == "ok", model.error
    fc = next(layer for layer in model.layers if layer.path == "fc")
    assert fc.calls == 2
    assert fc.flops == 2 * 2 * 8 * 64 * 64  # two calls, counted by hand
    assert fc.latency_ms is not None and fc.latency_ms > 0
    assert fc.gflops_per_s == pytest.approx(fc.flops / (fc.latency_ms / 1000) / 1e9)


def test_measured_json_round_trips_and_stays_valid(tmp_path: Path) -> None:
    report = _measure(tmp_path, TWO_LINEARS, iters=2)
    data = report.to_json()
    jsonschema.validate(data, SCHEMA)
    again = FileReport.from_json(json.loads(json.dumps(data)))
    assert again.to_json() == data
    model = data["models"][0]
    for key in ("latency_ms", "gflops_per_s", "peak_gflops_per_s", "utilisation"):
        assert key in model
    assert {"latency_ms", "gflops_per_s", "time_share"} <= set(model["layers"][1])


def test_a_counted_report_has_no_measured_fields() -> None:
    model = ModelReport(name="M", kind="class", line=1)
    data = model.to_json()
    assert "latency_ms" not in data and "measure" not in data
    request = AnalysisRequest(text="", path="x.py")
    assert "measure" not in request.to_json()  # cache keys of counting requests unchanged
    measured = AnalysisRequest(text="", path="x.py", measure=MeasureOptions(iters=4))
    assert AnalysisRequest.from_json(measured.to_json()).measure == MeasureOptions(iters=4)
    assert measured.cache_key() != request.cache_key()


def test_a_model_too_large_for_memory_is_refused_before_it_is_built(tmp_path: Path) -> None:
    # Parameters alone twice the machine's RAM: n x n float32 weights of a Linear.
    n = int((2 * psutil.virtual_memory().total / 4) ** 0.5) + 1
    text = f"""\
from torch import nn


class Huge(nn.Module):  # flopsight: input=(1, {n})
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear({n}, {n}, bias=False)

    def forward(self, x):
        return self.fc(x)
"""
    _measure(tmp_path, TWO_LINEARS.replace("2048", "64"), iters=1)  # imports, caches: warm
    process = psutil.Process()
    before = process.memory_info().rss
    (model,) = _measure(tmp_path, text, iters=1).models
    grown = process.memory_info().rss - before
    # Counted (status "ok"), not measured: the refusal is the report's measure_error.
    assert model.status == "ok" and model.error is None
    refused = model.measure_error
    assert refused is not None
    assert refused.kind == "memory" and refused.code.value == "FS302"
    assert refused.type == "InsufficientMemory"
    message = refused.message
    assert "parameters" in message and "it was not built" in message
    assert "available on this machine" in message
    assert refused.setting is None  # the machine bounds it here, not flopsight.limits.memoryMB
    # The estimate names the weights' size: n*n float32 in GiB, two decimals, by hand.
    assert f"parameters {n * n * 4 / 2**30:.2f} GiB" in message
    assert model.latency_ms is None
    assert grown < 200 * 2**20, f"RSS grew by {grown / 2**20:.0f} MiB"
    # The count itself is still there (it ran on meta).
    assert model.total is not None and model.total.params == n * n


def test_the_estimate_scales_with_the_dtype(tmp_path: Path) -> None:
    report = _measure(tmp_path, TWO_LINEARS, iters=1)
    (model,) = report.models
    import torch

    assert model.total is not None
    params32, act32, inputs32 = memory_estimate(model, None)
    assert params32 == model.total.params * 4
    assert inputs32 == 256 * 2048 * 4
    params16, act16, inputs16 = memory_estimate(model, torch.float16)
    assert (params16, act16, inputs16) == (params32 // 2, act32 // 2, inputs32 // 2)
    check_memory(model, torch.device("cpu"), None)  # a few MB fit


def test_gpu_peaks_by_name_and_math() -> None:
    # Data-sheet figures (dense): H100 SXM bf16 989.4 TFLOP/s, A100 TF32 156, T4 fp16 65.
    assert gpu_peak("NVIDIA H100 80GB HBM3", "bf16") == 989_400
    assert gpu_peak("NVIDIA H100 PCIe", "fp32") == 51_200
    assert gpu_peak("NVIDIA A100-SXM4-80GB", "tf32") == 156_000
    assert gpu_peak("NVIDIA L40S", "fp32") == 91_600
    assert gpu_peak("NVIDIA L4", "fp16") == 121_000
    assert gpu_peak("Tesla T4", "fp16") == 65_000
    assert gpu_peak("Tesla T4", "bf16") is None
    assert gpu_peak("Some Future GPU", "fp32") is None


def test_every_run_times_every_module(tmp_path: Path) -> None:
    import torch
    from flopsight.counting.measure import Clock, time_runs
    from torch import nn

    model = nn.Sequential(nn.Linear(16, 16), nn.ReLU())
    e2e, per_layer = time_runs(model, (torch.randn(4, 16),), {}, Clock(torch.device("cpu")), 3)
    assert len(e2e) == 3 and all(t > 0 for t in e2e)
    assert set(per_layer) == {"", "0", "1"}
    assert all(len(v) == 3 and all(t > 0 for t in v) for v in per_layer.values())
