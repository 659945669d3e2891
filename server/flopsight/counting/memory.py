"""Peak memory of inference or of one training step, on meta (issue 15).

``track_memory`` runs the model's forward (inference, under ``no_grad``) or a whole training
step (forward → loss → backward → ``optimizer.step()``) on the meta device and follows every
tensor storage's life: a storage is born when an op first returns it (a dispatch mode sees
every output) and dies when its last reference goes (a weakref callback on the untyped
storage, which PyTorch keeps one Python object per storage for). Views share their storage,
so a storage counts once however many views it has. Each storage has one category at a time:

- ``params`` / ``buffers``: the module's own, present from the start;
- ``inputs``: the example inputs;
- ``activations``: saved for backward (``saved_tensors_hooks`` sees every save);
- ``grads``: a parameter's ``.grad`` (``register_post_accumulate_grad_hook``);
- ``optimizer``: the optimizer's states (momentum, Adam's two moments);
- ``temporaries``: everything else (outputs nobody saves, gradients of activations, the
  optimizer step's scratch tensors).

The optimizer's states exist before the tracked step (a warm-up step on zero gradients,
outside the tracking): the steady state of training, the second step and every later one.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from flopsight.gpus import OPTIMIZERS, PRECISIONS

Category = Literal[
    "params", "buffers", "inputs", "activations", "grads", "optimizer", "temporaries"
]
CATEGORIES: tuple[Category, ...] = (
    "params",
    "buffers",
    "inputs",
    "activations",
    "grads",
    "optimizer",
    "temporaries",
)
Phase = Literal["setup", "forward", "loss", "backward", "optimizer"]
TIMELINE_POINTS = 400


@dataclass
class LayerMemory:
    """One module's memory: its subtree's parameters, gradients and optimizer states, the
    activations its ops saved for backward, and the live total's high-water mark while it ran."""

    path: str
    params_bytes: int = 0
    grads_bytes: int = 0
    optimizer_bytes: int = 0
    activations_bytes: int = 0
    peak_bytes: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "params_bytes": self.params_bytes,
            "grads_bytes": self.grads_bytes,
            "optimizer_bytes": self.optimizer_bytes,
            "activations_bytes": self.activations_bytes,
            "peak_bytes": self.peak_bytes,
        }


@dataclass
class MemoryReport:
    """What one tracked run held: the peak, where it was, the live bytes by category there."""

    mode: Literal["inference", "train"]
    optimizer: str
    precision: str
    batch: int | None
    peak_bytes: int = 0
    peak_path: str = ""
    peak_phase: Phase = "forward"
    # The live bytes by category at the peak.
    at_peak: dict[str, int] = field(default_factory=dict)
    # Each category's own high-water mark over the run (activations peak before backward).
    totals: dict[str, int] = field(default_factory=dict)
    layers: list[LayerMemory] = field(default_factory=list)
    # (event index, live bytes, phase) at each allocation or release, downsampled.
    timeline: list[tuple[int, int, str]] = field(default_factory=list)
    events: int = 0
    # The high-water mark of each phase (forward, backward, optimizer, ...).
    phase_peaks: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "optimizer": self.optimizer,
            "precision": self.precision,
            "batch": self.batch,
            "peak_bytes": self.peak_bytes,
            "peak_at": {"path": self.peak_path, "phase": self.peak_phase},
            "params_bytes": self.totals.get("params", 0),
            "buffers_bytes": self.totals.get("buffers", 0),
            "inputs_bytes": self.totals.get("inputs", 0),
            "grads_bytes": self.totals.get("grads", 0),
            "optimizer_bytes": self.totals.get("optimizer", 0),
            "activations_bytes": self.totals.get("activations", 0),
            "temporaries_bytes": self.totals.get("temporaries", 0),
            "at_peak": dict(self.at_peak),
            "phase_peaks": dict(self.phase_peaks),
            "layers": [layer.to_json() for layer in self.layers],
        }

    def timeline_json(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "points": [{"step": i, "bytes": b, "phase": p} for i, b, p in self.timeline],
        }


@dataclass
class _Storage:
    nbytes: int
    category: Category
    layer: str | None = None


class _Tracker(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """Sees every op's outputs; registers each new storage with a release callback."""

    def __init__(self, device: torch.device) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.device = device
        self.storages: dict[int, _Storage] = {}
        self.refs: dict[int, weakref.ref[torch.UntypedStorage]] = {}
        self.live = 0
        self.by_category: dict[str, int] = dict.fromkeys(CATEGORIES, 0)
        self.high: dict[str, int] = dict.fromkeys(CATEGORIES, 0)
        self.peak = 0
        self.peak_at: tuple[str, Phase] = ("", "setup")
        self.peak_categories: dict[str, int] = {}
        self.phase_peaks: dict[str, int] = {}
        self.phase: Phase = "setup"
        self.running: list[str] = []  # module paths running now, outermost first
        self.layer_peak: dict[str, int] = {}
        self.events = 0
        self.timeline: list[tuple[int, int, str]] = []

    # -- storages
    def add(self, t: torch.Tensor, category: Category) -> _Storage | None:
        if t.device != self.device or type(t).__name__ == "FunctionalTensor":
            return None
        st = t.untyped_storage()
        key = id(st)
        known = self.storages.get(key)
        if known is not None:
            return known
        record = _Storage(st.nbytes(), category)
        self.storages[key] = record
        self.refs[key] = weakref.ref(st, self._releaser(key))
        self._change(record.category, record.nbytes)
        return record

    def lookup(self, t: torch.Tensor) -> _Storage | None:
        if t.device != self.device:
            return None
        return self.storages.get(id(t.untyped_storage()))

    def recategorise(self, record: _Storage, category: Category) -> None:
        self.by_category[record.category] -= record.nbytes
        record.category = category
        self.by_category[category] += record.nbytes
        self.high[category] = max(self.high[category], self.by_category[category])

    def _releaser(self, key: int) -> Callable[[weakref.ref[torch.UntypedStorage]], None]:
        def release(_ref: weakref.ref[torch.UntypedStorage]) -> None:
            self._release(key)

        return release

    def _release(self, key: int) -> None:
        record = self.storages.pop(key, None)
        self.refs.pop(key, None)
        if record is not None:
            self._change(record.category, -record.nbytes)

    def _change(self, category: Category, delta: int) -> None:
        self.live += delta
        self.by_category[category] += delta
        self.high[category] = max(self.high[category], self.by_category[category])
        self.events += 1
        self.timeline.append((self.events, self.live, self.phase))
        if delta <= 0:
            return
        if self.live > self.phase_peaks.get(self.phase, 0):
            self.phase_peaks[self.phase] = self.live
        for path in self.running:
            if self.live > self.layer_peak.get(path, 0):
                self.layer_peak[path] = self.live
        if self.live > self.peak:
            self.peak = self.live
            self.peak_at = (self.running[-1] if self.running else "", self.phase)
            self.peak_categories = dict(self.by_category)

    # -- the dispatch mode
    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> Any:
        out = func(*args, **(kwargs or {}))
        flat, _ = tree_flatten(out)
        for t in flat:
            if isinstance(t, torch.Tensor):
                self.add(t, "temporaries")
        return out


# ----------------------------------------------------------------------------- precision

# Ops autocast runs in the lower precision, and ops it runs in float32 (CUDA's lists; autocast
# has no meta backend, so flopsight applies them itself, above autograd as autocast does).
_LOW_PRECISION = {
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "matmul",
    "__matmul__",
    "__rmatmul__",
    "mm",
    "bmm",
    "baddbmm",
    "addmm",
    "addbmm",
    "addmv",
    "mv",
    "einsum",
    "prelu",
    "scaled_dot_product_attention",
    "chain_matmul",
    "multi_dot",
}
_FLOAT32 = {
    "softmax",
    "log_softmax",
    "layer_norm",
    "group_norm",
    "cross_entropy",
    "nll_loss",
    "mse_loss",
    "l1_loss",
    "binary_cross_entropy_with_logits",
    "cosine_similarity",
    "pow",
    "exp",
    "log",
    "norm",
    "rms_norm",
    "cumsum",
    "sum",
    "prod",
}


class _Autocast(TorchFunctionMode):
    """autocast's casts on meta: floating inputs of matmul-like ops go to ``dtype``, of
    reductions and norms to float32; a leaf parameter is cast once per forward (autocast's
    weight cache), so its low-precision copy is what backward saves."""

    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.dtype = dtype
        self.cache: dict[int, torch.Tensor] = {}

    def _cast(self, value: Any, dtype: torch.dtype) -> Any:
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            return value
        if value.dtype == dtype:
            return value
        if value.is_leaf and value.requires_grad:
            cached = self.cache.get(id(value))
            if cached is None or cached.dtype != dtype:
                cached = self.cache[id(value)] = value.to(dtype)
            return cached
        return value.to(dtype)

    def __torch_function__(
        self,
        func: Any,
        types: Any,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> Any:
        kwargs = dict(kwargs or {})
        name = getattr(func, "__name__", "")
        target: torch.dtype | None = None
        if name in _LOW_PRECISION:
            target = self.dtype
        elif name in _FLOAT32 and _any_low(args, self.dtype):
            target = torch.float32
        if target is not None:
            dtype = target

            def cast(v: Any) -> Any:
                return self._cast(v, dtype)

            args = [_map(a, cast) for a in args]
            kwargs = {k: _map(v, cast) for k, v in kwargs.items()}
        return func(*args, **kwargs)


class _FusedAttention(TorchFunctionMode):
    """``scaled_dot_product_attention`` as the fused kernels of a GPU run it (flash /
    memory-efficient: the output and a logsumexp saved, no t × t matrix); meta alone would
    take the math path, which materialises the attention weights."""

    def __torch_function__(
        self,
        func: Any,
        types: Any,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> Any:
        kwargs = dict(kwargs or {})
        if getattr(func, "__name__", "") == "scaled_dot_product_attention" and len(args) >= 3:
            fused = _fused_attention(list(args), kwargs)
            if fused is not None:
                return fused
        return func(*args, **kwargs)


def _fused_attention(args: list[Any], kwargs: dict[str, Any]) -> torch.Tensor | None:
    q, k, v = args[:3]
    names = ("attn_mask", "dropout_p", "is_causal", "scale")
    given = dict(zip(names, args[3:], strict=False)) | kwargs
    if not isinstance(q, torch.Tensor) or q.device.type != "meta" or given.get("enable_gqa"):
        return None
    if q.dim() != 4 or k.shape[1] != q.shape[1]:
        return None
    try:
        out = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            q,
            k,
            v,
            float(given.get("dropout_p", 0.0)),
            bool(given.get("is_causal", False)),
            attn_mask=given.get("attn_mask"),
            scale=given.get("scale"),
        )
    except (RuntimeError, TypeError, ValueError):
        return None
    result: torch.Tensor = out[0]
    return result


def _map(value: Any, fn: Callable[[Any], Any]) -> Any:
    if isinstance(value, list | tuple):
        return type(value)(fn(v) for v in value)
    return fn(value)


def _any_low(args: Sequence[Any], dtype: torch.dtype) -> bool:
    flat, _ = tree_flatten(list(args))
    return any(isinstance(t, torch.Tensor) and t.dtype == dtype for t in flat)


def low_dtype(precision: str) -> torch.dtype | None:
    """The compute dtype of a precision setting (None: float32)."""
    if precision.startswith("bf16"):
        return torch.bfloat16
    if precision.startswith("fp16"):
        return torch.float16
    return None


# ----------------------------------------------------------------------------- training step


def make_optimizer(params: Iterable[nn.Parameter], name: str) -> torch.optim.Optimizer | None:
    """The optimizer a setting names, with the defaults a training script would use."""
    trainable = [p for p in params if p.requires_grad]
    if name == "none" or not trainable:
        return None
    # foreach=True: CUDA's default, whose scratch (Adam's sqrt of every second moment at once)
    # is larger than the per-tensor loop's; it is what a GPU's step peaks at.
    if name == "sgd":
        return torch.optim.SGD(trainable, lr=0.01, foreach=True)
    if name == "sgd-momentum":
        return torch.optim.SGD(trainable, lr=0.01, momentum=0.9, foreach=True)
    if name == "adam":
        return torch.optim.Adam(trainable, foreach=True)
    if name == "adamw":
        return torch.optim.AdamW(trainable, foreach=True)
    raise ValueError(f"unknown optimizer {name!r}: use one of {', '.join(OPTIMIZERS)}")


def _optimizer_name(optimizer: str | torch.optim.Optimizer) -> str:
    if isinstance(optimizer, torch.optim.Optimizer):
        kind = type(optimizer).__name__.lower()
        if kind == "sgd" and optimizer.defaults.get("momentum"):
            return "sgd-momentum"
        return kind if kind in OPTIMIZERS else "adamw"
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}: use one of {', '.join(OPTIMIZERS)}")
    return optimizer


def warm_optimizer(optimizer: torch.optim.Optimizer) -> None:
    """Allocates the optimizer's states (one step on zero gradients, then no gradients)."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for p in params:
        p.grad = torch.zeros_like(p)
    optimizer.step()
    for p in params:
        p.grad = None


def pick_loss(output: Any) -> torch.Tensor:
    """The loss of a forward's output: a 0-d floating tensor (``.loss``, ``["loss"]``, a 0-d
    element of a tuple), else the sum of every floating output that requires grad."""
    if isinstance(output, torch.Tensor) and output.dim() == 0 and output.is_floating_point():
        return output
    named = getattr(output, "loss", None)
    if named is None and isinstance(output, Mapping):
        named = output.get("loss")
    if isinstance(named, torch.Tensor) and named.dim() == 0 and named.is_floating_point():
        return named
    if isinstance(output, tuple | list):
        for item in output:
            if isinstance(item, torch.Tensor) and item.dim() == 0 and item.is_floating_point():
                return item
    flat, _ = tree_flatten(dict(output) if isinstance(output, Mapping) else output)
    floats = [t for t in flat if isinstance(t, torch.Tensor) and t.is_floating_point()]
    grads = [t for t in floats if t.requires_grad]
    if not grads:
        raise ValueError(
            "the forward returned no floating tensor that requires grad: nothing to "
            "backpropagate (are all parameters frozen?)"
        )
    loss = grads[0].float().sum()
    for t in grads[1:]:
        loss = loss + t.float().sum()
    return loss


def training_step(
    model: nn.Module,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    optimizer: torch.optim.Optimizer | None,
    phase: Callable[[Phase], None],
    forward: Callable[[], Any] | None = None,
) -> None:
    """forward → loss → backward → ``optimizer.step()``: the one place the step is spelled
    (the training mode's own driver can replace it)."""
    phase("forward")
    output = forward() if forward is not None else model(*args, **kwargs)
    phase("loss")
    loss = pick_loss(output)
    del output
    phase("backward")
    loss.backward()  # type: ignore[no-untyped-call]
    del loss
    if optimizer is not None:
        phase("optimizer")
        optimizer.step()


# ----------------------------------------------------------------------------- tracking


def _tensors(values: Any) -> Iterator[torch.Tensor]:
    flat, _ = tree_flatten(values)
    for t in flat:
        if isinstance(t, torch.Tensor):
            yield t


def _device_of(model: nn.Module, args: Sequence[Any], kwargs: Mapping[str, Any]) -> torch.device:
    for p in model.parameters():
        return p.device
    for t in _tensors((list(args), dict(kwargs))):
        return t.device
    return torch.device("meta")


def cast_for_precision(
    model: nn.Module, args: Sequence[Any], kwargs: Mapping[str, Any], precision: str
) -> tuple[list[Any], dict[str, Any]]:
    """Pure bf16/fp16: the model and its floating inputs in that dtype (mixed keeps both)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    dtype = low_dtype(precision)
    if dtype is None or precision.endswith("-mixed"):
        return list(args), dict(kwargs)
    model.to(dtype)

    def cast(v: Any) -> Any:
        if isinstance(v, torch.Tensor) and v.is_floating_point():
            return v.to(dtype)
        return v

    return [cast(a) for a in args], {k: cast(v) for k, v in kwargs.items()}


def track_memory(
    model: nn.Module,
    args: Sequence[Any],
    kwargs: Mapping[str, Any] | None = None,
    *,
    mode: Literal["inference", "train"] = "train",
    optimizer: str | torch.optim.Optimizer = "adamw",
    precision: str = "fp32",
    batch: int | None = None,
    step: Callable[..., None] | None = None,
) -> MemoryReport:
    """The peak memory of ``model(*args, **kwargs)`` (inference) or of one training step.

    The model and inputs should be on meta (nothing is allocated); pure ``bf16``/``fp16``
    casts the model in place. ``step`` replaces ``training_step`` (same signature).
    ``optimizer`` is a name of ``OPTIMIZERS`` or an optimizer of ``make_optimizer`` already
    warmed (``warm_optimizer``): runs that vary only the inputs share it (``flopsight fit``).
    """
    kwargs = dict(kwargs or {})
    given = optimizer if isinstance(optimizer, torch.optim.Optimizer) else None
    name = _optimizer_name(optimizer)
    args, kwargs = cast_for_precision(model, args, kwargs, precision)
    device = _device_of(model, args, kwargs)
    paths = {id(m): name for name, m in model.named_modules()}
    opt: torch.optim.Optimizer | None = None
    if mode == "train":
        opt = given if given is not None else make_optimizer(model.parameters(), name)
        if opt is not None and given is None:
            warm_optimizer(opt)
    for p in model.parameters():
        p.grad = None
    tracker = _Tracker(device)
    for p in model.parameters():
        tracker.add(p, "params")
    for b in model.buffers():
        tracker.add(b, "buffers")
    if opt is not None:
        for state in opt.state.values():
            for t in _tensors(dict(state)):
                tracker.add(t, "optimizer")
    for t in _tensors((list(args), kwargs)):
        tracker.add(t, "inputs")
    saved_by: dict[str, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        record = tracker.lookup(t)
        if record is not None and record.category in ("temporaries", "inputs"):
            tracker.recategorise(record, "activations")
            record.layer = tracker.running[-1] if tracker.running else ""
            saved_by[record.layer] = saved_by.get(record.layer, 0) + record.nbytes
        # detach: the saved tensor must not hold its own grad_fn (a reference cycle).
        return t.detach()

    def unpack(t: torch.Tensor) -> torch.Tensor:
        return t

    def on_grad(p: torch.Tensor) -> None:
        if p.grad is not None:
            record = tracker.lookup(p.grad)
            if record is not None and record.category == "temporaries":
                tracker.recategorise(record, "grads")

    def set_phase(phase: Phase) -> None:
        tracker.phase = phase
        # A module whose inputs need no gradient never sees its backward end: none is left.
        tracker.running.clear()

    from torch.distributed._tools.mod_tracker import ModTracker

    modules = ModTracker()  # type: ignore[no-untyped-call]

    def enter(module: nn.Module, *_: Any) -> None:
        path = paths.get(id(module))
        if path is not None:
            tracker.running.append(path)

    def leave(module: nn.Module, *_: Any) -> None:
        path = paths.get(id(module))
        if path is not None and path in tracker.running:
            # The last occurrence: a module called twice is nested in itself only by re-entry.
            index = len(tracker.running) - 1 - tracker.running[::-1].index(path)
            del tracker.running[index]

    modules.register_user_hooks(enter, leave, enter, leave)
    handles = [
        p.register_post_accumulate_grad_hook(on_grad)  # type: ignore[no-untyped-call]
        for p in model.parameters()
        if p.requires_grad and mode == "train"
    ]
    low = low_dtype(precision) if precision.endswith("-mixed") else None
    try:
        with ExitStack() as stack:
            stack.enter_context(modules)
            if mode == "train":
                stack.enter_context(torch.autograd.graph.saved_tensors_hooks(pack, unpack))
            else:
                stack.enter_context(torch.no_grad())
            stack.enter_context(tracker)
            stack.enter_context(_FusedAttention())

            def forward() -> Any:
                if low is None:
                    return model(*args, **kwargs)
                with _Autocast(low) as autocast:
                    out = model(*args, **kwargs)
                autocast.cache.clear()
                return out

            if mode == "train":
                (step or training_step)(model, args, kwargs, opt, set_phase, forward)
            else:
                set_phase("forward")
                out = forward()
                del out
    finally:
        for h in handles:
            h.remove()
        modules.clear_user_hooks()  # type: ignore[no-untyped-call]
    report = MemoryReport(mode, name if mode == "train" else "none", precision, batch)
    report.peak_bytes = tracker.peak
    report.peak_path, report.peak_phase = tracker.peak_at
    report.at_peak = {k: v for k, v in tracker.peak_categories.items()}
    report.totals = dict(tracker.high)
    report.events = tracker.events
    report.phase_peaks = dict(tracker.phase_peaks)
    report.timeline = downsample(tracker.timeline, TIMELINE_POINTS)
    report.layers = _layers(model, opt, saved_by, tracker.layer_peak, mode == "train")
    for p in model.parameters():
        p.grad = None
    return report


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def _layers(
    model: nn.Module,
    opt: torch.optim.Optimizer | None,
    saved_by: Mapping[str, int],
    layer_peak: Mapping[str, int],
    train: bool,
) -> list[LayerMemory]:
    """Per module (``named_modules`` order), subtree sums: a parameter shared by two modules
    counts in the first, as ``named_parameters`` lists it."""
    state_bytes: dict[int, int] = {}
    if opt is not None:
        for p, state in opt.state.items():
            state_bytes[id(p)] = sum(
                _nbytes(t) for t in _tensors(dict(state)) if t.device == p.device
            )
    owner: dict[int, str] = {}
    for name, p in model.named_parameters():
        owner.setdefault(id(p), name.rpartition(".")[0])
    out: list[LayerMemory] = []
    for path, module in model.named_modules():
        layer = LayerMemory(path, peak_bytes=layer_peak.get(path, 0))
        prefix = f"{path}." if path else ""
        seen: set[int] = set()
        for p in module.parameters():
            if id(p) in seen or not owner.get(id(p), "").startswith(path):
                continue
            seen.add(id(p))
            layer.params_bytes += _nbytes(p)
            if p.requires_grad and train:
                layer.grads_bytes += _nbytes(p)
            layer.optimizer_bytes += state_bytes.get(id(p), 0)
        layer.activations_bytes = sum(
            b for where, b in saved_by.items() if where == path or where.startswith(prefix)
        )
        out.append(layer)
    return out


def downsample(points: Sequence[tuple[int, int, str]], limit: int) -> list[tuple[int, int, str]]:
    """At most ``limit`` points; each bucket keeps its highest point, so the peak survives."""
    if len(points) <= limit:
        return list(points)
    size = -(-len(points) // limit)
    out = []
    for start in range(0, len(points), size):
        bucket = points[start : start + size]
        out.append(max(bucket, key=lambda p: p[1]))
    return out
