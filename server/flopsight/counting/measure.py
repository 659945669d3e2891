"""``flopsight measure``: time the models for real, inside the worker (issue 7).

Each selected model is first counted on the meta device (cheap: the runner's ``analyse_model``).
The count's parameter and activation bytes are the memory estimate: a model that would not fit
the memory there is (the address-space limit, the machine's free memory, the GPU's free memory)
is refused with an error naming both figures, before anything is built. Otherwise the model is
built on the device with random weights, fed random inputs of the annotated shape, run
``warmup`` times, then timed ``iters`` times end to end (no hooks), then ``iters`` times more
with forward pre/post hooks on every module, each synchronising the device, so a layer is not
charged for the work queued before it. Every figure is a median over the timed runs.

GFLOP/s is a layer's counted FLOPs over its median time; utilisation is achieved over peak,
the peak coming from the request, a table of common GPUs, or on the CPU a short matmul probe.

The CUDA and MPS paths follow the same code with CUDA events / ``torch.mps.synchronize``; they
have not been run on a GPU yet (no GPU where this was written).
"""

from __future__ import annotations

import ast
import os
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from flopsight.counting.build import make_inputs, torch_dtype
from flopsight.counting.calls import call_arguments
from flopsight.counting.runner import (
    _factory,
    analyse_model,
    model_error,
    run_file,
)
from flopsight.counting.spellings import source_spellings
from flopsight.job import AnalysisRequest, MeasureOptions
from flopsight.report.model import ErrorSetting, FileReport, ModelError, ModelReport
from flopsight.report.units import format_bytes
from flopsight.source import ModelSpec

# Dense peak throughput in GFLOP/s (vendor data sheets, no sparsity), by a substring of
# ``torch.cuda.get_device_name`` (first match wins, so "H100 PCIe" precedes "H100") and the
# math the dtype runs on: "tf32" is float32 with TF32 matmuls allowed.
GPU_PEAKS: tuple[tuple[str, dict[str, float]], ...] = (
    ("H100 PCIe", {"fp32": 51_200, "tf32": 378_000, "bf16": 756_000, "fp16": 756_000}),
    ("H100", {"fp32": 66_900, "tf32": 494_700, "bf16": 989_400, "fp16": 989_400}),
    ("H200", {"fp32": 66_900, "tf32": 494_700, "bf16": 989_400, "fp16": 989_400}),
    ("A100", {"fp32": 19_500, "tf32": 156_000, "bf16": 312_000, "fp16": 312_000}),
    ("L40S", {"fp32": 91_600, "tf32": 183_000, "bf16": 362_000, "fp16": 362_000}),
    ("L4", {"fp32": 30_300, "tf32": 60_000, "bf16": 121_000, "fp16": 121_000}),
    ("A10", {"fp32": 31_200, "tf32": 62_500, "bf16": 125_000, "fp16": 125_000}),
    ("T4", {"fp32": 8_100, "fp16": 65_000}),
    ("V100", {"fp32": 15_700, "fp16": 125_000}),
    ("RTX 4090", {"fp32": 82_600, "tf32": 82_600, "bf16": 165_200, "fp16": 165_200}),
    ("RTX 3090", {"fp32": 35_600, "tf32": 35_600, "bf16": 71_000, "fp16": 71_000}),
)
PROBE_SIZE = 1024
PROBE_SECONDS = 0.2


class InsufficientMemory(Exception):
    """The model's estimate exceeds the memory available for it; nothing was built."""

    def __init__(self, message: str, *, by_limit: bool) -> None:
        super().__init__(message)
        # The worker's address-space limit (flopsight.limits.memoryMB), not the machine, bound it.
        self.by_limit = by_limit


class DeviceUnavailable(Exception):
    """The requested device does not exist here."""


# ----------------------------------------------------------------------------- the device


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:1``, ``mps`` -> a device that exists here (DeviceUnavailable)."""
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise DeviceUnavailable(f"{name!r} is not a device: use cpu, cuda, cuda:N or mps") from e
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailable(
                f"CUDA is not available to torch {torch.__version__} here; "
                "measure with --device cpu, or use an interpreter whose torch has CUDA"
            )
        index = device.index if device.index is not None else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise DeviceUnavailable(
                f"no CUDA device {index}: there are {torch.cuda.device_count()}"
            )
        return torch.device("cuda", index)
    if device.type == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceUnavailable("MPS is not available here; measure with --device cpu")
        return device
    if device.type != "cpu":
        raise DeviceUnavailable(f"cannot measure on {name!r}: use cpu, cuda or mps")
    return device


class Clock:
    """Timestamps that mean something on the device: CUDA events after a synchronise on CUDA,
    ``perf_counter`` after a synchronise elsewhere (a no-op on the CPU)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        elif self.device.type == "mps":
            torch.mps.synchronize()

    def start(self) -> Any:
        """Wait for the work queued so far, then mark the start."""
        self.sync()
        if self.device.type == "cuda":
            event = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
            event.record()
            return event
        return time.perf_counter()

    def stop(self) -> Any:
        """Mark the end of the work queued since ``start`` and wait for it."""
        if self.device.type == "cuda":
            event = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
            event.record()
            event.synchronize()
            return event
        self.sync()
        return time.perf_counter()

    def ms(self, start: Any, stop: Any) -> float:
        if self.device.type == "cuda":
            return float(start.elapsed_time(stop))
        return float(stop - start) * 1000.0


# ----------------------------------------------------------------------------- memory


def _is_float(dtype: torch.dtype | None) -> bool:
    return dtype is not None and (dtype.is_floating_point or dtype.is_complex)


def memory_estimate(report: ModelReport, dtype: torch.dtype | None) -> tuple[int, int, int]:
    """(parameter, activation, input) bytes the real model needs, from the meta count.

    Activations are every leaf module's output added up (the count's ``activation_bytes``), an
    upper bound of what a forward without gradients holds at once. With ``dtype`` the float
    figures scale from the float32 the model was counted in.
    """
    total = report.total
    if total is None:
        return 0, 0, 0
    params, activations = total.param_bytes, total.activation_bytes
    if _is_float(dtype):
        assert dtype is not None
        size = torch.empty((), dtype=dtype).element_size()
        params = total.params * size
        activations = activations * size // 4
    inputs = 0
    for spec in report.inputs:
        input_dtype = torch_dtype(spec.dtype)
        if dtype is not None and _is_float(dtype) and _is_float(input_dtype):
            input_dtype = dtype
        numel = 1
        for d in spec.shape:
            numel *= d
        inputs += numel * torch.empty((), dtype=input_dtype).element_size()
    return params, activations, inputs


_LIMIT_BOUND = "address-space limit"


def available_memory(device: torch.device) -> tuple[int | None, str]:
    """Bytes the model may still take on ``device``, and what bounds them (for the message)."""
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
        return int(free), f"free on {torch.cuda.get_device_name(device)} ({format_bytes(total)})"
    bounds: list[tuple[int, str]] = []
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    used = _address_space_used()
    if soft != resource.RLIM_INFINITY and used is not None:
        limit_mb = soft // (1024 * 1024)
        bounds.append(
            (max(0, soft - used), f"left under the worker's {limit_mb} MB {_LIMIT_BOUND}")
        )
    machine = _mem_available()
    if machine is not None:
        bounds.append((machine, "available on this machine"))
    if not bounds:
        return None, "unknown"
    return min(bounds)


def _address_space_used() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _mem_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(report: ModelReport, device: torch.device, dtype: torch.dtype | None) -> None:
    """Raises InsufficientMemory when the estimate exceeds what ``available_memory`` says."""
    params, activations, inputs = memory_estimate(report, dtype)
    needed = params + activations + inputs
    free, what = available_memory(device)
    if free is None or needed <= free:
        return
    raise InsufficientMemory(
        f"measuring it needs about {format_bytes(needed)} (parameters {format_bytes(params)}"
        f" + activations {format_bytes(activations)} + inputs {format_bytes(inputs)}), more "
        f"than the {format_bytes(free)} {what}; it was not built. Measure a smaller "
        "configuration, input or dtype",
        by_limit=what.endswith(_LIMIT_BOUND),
    )


def _lift_address_limit() -> None:
    """CUDA maps far more address space than it uses: the worker's RLIMIT_AS would make its
    initialisation fail, so a CUDA measurement runs under the hard limit only (its memory
    check is against the GPU's free memory instead)."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))


# ----------------------------------------------------------------------------- peak


def _math(device: torch.device, dtype: torch.dtype) -> str:
    if dtype == torch.float16:
        return "fp16"
    if dtype == torch.bfloat16:
        return "bf16"
    if dtype == torch.float32 and device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32:
        return "tf32"
    if dtype == torch.float32:
        return "fp32"
    return str(dtype).removeprefix("torch.")


def gpu_peak(device_name: str, math: str) -> float | None:
    """Dense peak GFLOP/s of a known GPU for ``math`` (fp32/tf32/bf16/fp16); None if unknown."""
    for key, peaks in GPU_PEAKS:
        if key.lower() in device_name.lower():
            return peaks.get(math)
    return None


def cpu_probe(dtype: torch.dtype = torch.float32, seconds: float = PROBE_SECONDS) -> float:
    """GFLOP/s of back-to-back ``PROBE_SIZE``² matmuls on this CPU for about ``seconds``."""
    n = PROBE_SIZE
    a = torch.randn(n, n, dtype=dtype)
    b = torch.randn(n, n, dtype=dtype)
    torch.mm(a, b)
    runs = 0
    started = time.perf_counter()
    elapsed = 0.0
    while elapsed < seconds or runs < 2:
        torch.mm(a, b)
        runs += 1
        elapsed = time.perf_counter() - started
    return 2.0 * n**3 * runs / elapsed / 1e9


def device_peak(
    device: torch.device, dtype: torch.dtype, given: float | None
) -> tuple[float | None, str]:
    """The peak GFLOP/s to compare with, and where it comes from."""
    if given is not None:
        return given, "given"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        math = _math(device, dtype)
        peak = gpu_peak(name, math)
        if peak is None:
            return None, f"no peak known for {name} in {math}; pass --peak GFLOPS"
        return peak, f"data sheet: {name}, {math}, dense"
    if device.type == "cpu":
        probe_dtype = dtype if dtype in (torch.float32, torch.float64, torch.bfloat16) else None
        probe_dtype = probe_dtype or torch.float32
        peak = cpu_probe(probe_dtype)
        name = str(probe_dtype).removeprefix("torch.")
        return peak, (
            f"probe: {PROBE_SIZE}x{PROBE_SIZE} {name} matmuls, "
            f"{torch.get_num_threads()} threads, {PROBE_SECONDS:g} s"
        )
    return None, "no peak known for this device; pass --peak GFLOPS"


# ----------------------------------------------------------------------------- timing


def time_forward(
    model: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], clock: Clock
) -> float:
    """Milliseconds of one end-to-end forward pass (no hooks)."""
    start = clock.start()
    model(*args, **kwargs)
    return clock.ms(start, clock.stop())


class LayerTimer:
    """Forward pre/post hooks on every module (``named_modules()`` paths); each synchronises
    the device, so a layer's time holds its own work only. A module called twice in a forward
    is charged both calls."""

    def __init__(self, model: nn.Module, clock: Clock) -> None:
        self.clock = clock
        self.modules = dict(model.named_modules())
        self._marks: list[tuple[str, Any, Any]] = []
        self._open: dict[str, list[Any]] = {}
        self._handles: list[Any] = []

    def __enter__(self) -> LayerTimer:
        for path, module in self.modules.items():
            self._handles.append(module.register_forward_pre_hook(self._pre(path)))
            self._handles.append(module.register_forward_hook(self._post(path)))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _pre(self, path: str) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: Any) -> None:
            self._open.setdefault(path, []).append(self.clock.start())

        return hook

    def _post(self, path: str) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            stop = self.clock.stop()
            starts = self._open.get(path)
            if starts:
                self._marks.append((path, starts.pop(), stop))

        return hook

    def run(
        self, model: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> dict[str, float]:
        """One hooked forward: milliseconds per module path that ran."""
        self._marks.clear()
        self._open.clear()
        model(*args, **kwargs)
        self.clock.sync()
        out: dict[str, float] = {}
        for path, start, stop in self._marks:
            out[path] = out.get(path, 0.0) + self.clock.ms(start, stop)
        return out


def time_runs(
    model: nn.Module,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    clock: Clock,
    iters: int,
) -> tuple[list[float], dict[str, list[float]]]:
    """``iters`` end-to-end times and ``iters`` per-layer times per module path.

    The un-hooked and the hooked runs alternate, so a drift of the machine's speed (another
    process, the CPU's clock) reaches both alike. One hooked run comes first, untimed."""
    end_to_end: list[float] = []
    timer = LayerTimer(model, clock)
    per_layer: dict[str, list[float]] = {path: [] for path in timer.modules}
    with timer:
        timer.run(model, args, kwargs)
    for _ in range(iters):
        end_to_end.append(time_forward(model, args, kwargs, clock))
        with timer:
            for path, ms in timer.run(model, args, kwargs).items():
                per_layer[path].append(ms)
    return end_to_end, per_layer


def _gflops_per_s(flops: int, ms: float | None) -> float | None:
    """Counted FLOPs over the time; None for no time or no counted work (a ReLU)."""
    if ms is None or ms <= 0 or flops <= 0:
        return None
    return flops / (ms / 1000.0) / 1e9


def measure_model(
    model: nn.Module,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    report: ModelReport,
    options: MeasureOptions,
    device: torch.device,
    dtype: torch.dtype,
) -> ModelReport:
    """Time ``model`` (built on ``device``) and write the measured fields into ``report``."""
    clock = Clock(device)
    iters = max(1, options.iters)
    model.eval()
    with torch.no_grad():
        for _ in range(max(0, options.warmup)):
            model(*args, **kwargs)
        clock.sync()
        end_to_end, per_layer = time_runs(model, args, kwargs, clock, iters)
    latency = statistics.median(end_to_end)
    paths = [layer.path for layer in report.layers]
    parents = {p.rsplit(".", 1)[0] if "." in p else "" for p in paths if p}
    leaf_sum = 0.0
    for layer in report.layers:
        times = per_layer.get(layer.path)
        if not times:
            continue
        layer.latency_ms = statistics.median(times)
        layer.gflops_per_s = _gflops_per_s(layer.flops, layer.latency_ms)
        layer.time_share = layer.latency_ms / latency if latency > 0 else None
        if layer.path not in parents:
            leaf_sum += layer.latency_ms
    for layer in report.layers:
        if layer.path == "":  # the model's own row: its end-to-end figures, as the footer's
            layer.latency_ms = latency
            layer.gflops_per_s = _gflops_per_s(layer.flops, latency)
            layer.time_share = 1.0
    report.latency_ms = latency
    flops = report.total.flops if report.total else 0
    report.gflops_per_s = _gflops_per_s(flops, latency)
    report.layers_latency_ms_sum = leaf_sum
    peak, source = device_peak(device, dtype, options.peak_gflops_per_s)
    report.peak_gflops_per_s = peak
    if peak and report.gflops_per_s is not None:
        report.utilisation = report.gflops_per_s / peak
    report.measure = {
        "device": str(device),
        "device_name": _device_name(device),
        "dtype": str(dtype).removeprefix("torch."),
        "warmup": max(0, options.warmup),
        "iters": iters,
        "threads": torch.get_num_threads(),
        "peak_source": source,
    }
    return report


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return _cpu_name()


def _cpu_name() -> str:
    """``AMD EPYC 7B13`` from /proc/cpuinfo on Linux; else what ``platform`` knows."""
    import platform

    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip() or "CPU"
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


# ----------------------------------------------------------------------------- the file


def _not_measured(report: ModelReport, error: ModelError) -> ModelReport:
    # The count stands (status "ok"); why there is no measurement is the report's own field.
    report.measure_error = error
    return report


def measure_spec(
    spec: ModelSpec,
    request: AnalysisRequest,
    namespace: dict[str, Any],
    tree: ast.Module,
    flags: int,
    override: bool,
    options: MeasureOptions,
) -> ModelReport:
    """Count ``spec`` on meta, check memory, build it on the device and time it."""
    report = analyse_model(spec, request, namespace, tree, flags, override)
    report.label = spec.label
    if report.status != "ok":
        return report
    if options.device.startswith("cuda"):
        _lift_address_limit()  # before anything initialises CUDA
    try:
        device = resolve_device(options.device)
        dtype = torch_dtype(options.dtype) if options.dtype else torch.float32
    except (DeviceUnavailable, ValueError) as e:
        return _not_measured(report, ModelError(str(e), type(e).__name__, "device", spec.line))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    try:
        check_memory(report, device, dtype if options.dtype else None)
    except InsufficientMemory as e:
        setting: ErrorSetting | None = "limits.memoryMB" if e.by_limit else None
        refused = ModelError(str(e), type(e).__name__, "memory", spec.line, setting=setting)
        return _not_measured(report, refused)
    files = source_spellings(request.path)
    try:
        factory = _factory(spec, namespace, tree, request.path, flags)
        with torch.device(device):
            model = factory()
        model.to(device)
        if options.dtype:
            model.to(dtype)
    except (Exception, SystemExit) as e:
        return _not_measured(report, model_error(e, "build", files))
    try:
        tensors = make_inputs(report.inputs, str(device))
        if options.dtype:
            tensors = [t.to(dtype) if _is_float(t.dtype) else t for t in tensors]
        args, kwargs = call_arguments(model, tensors, report.inputs, spec.label or spec.name)
        measure_model(model, args, kwargs, report, options, device, dtype)
    except (Exception, SystemExit) as e:
        return _not_measured(report, model_error(e, "forward", files))
    finally:
        del model
    report.device = "cuda" if device.type == "cuda" else "mps" if device.type == "mps" else "cpu"
    return report


def measure_file(request: AnalysisRequest) -> FileReport:
    """``analyse_file`` plus the measurement of each counted model (``request.measure``)."""
    options = request.measure or MeasureOptions()

    def measure_one(
        spec: ModelSpec, namespace: dict[str, Any], tree: ast.Module, flags: int, override: bool
    ) -> ModelReport:
        return measure_spec(spec, request, namespace, tree, flags, override, options)

    return run_file(request, measure_one)
