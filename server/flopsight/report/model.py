"""The report every part of flopsight exchanges (design: The report).

Plain dataclasses with no torch import: the worker builds them, the CLI and the language
server read them. ``to_json``/``from_json`` round-trip the schema in
``flopsight/schema/report.schema.json``; fields the schema does not name are extras that
the editor uses (op breakdowns, warnings, notes) and the schema allows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from flopsight.codes import ERROR_KINDS, KIND_CODES, Code, ErrorKind
from flopsight.report.scaling import DimScaling

SCHEMA_ID = "flopsight.report/3"
# Older reports still read: /2 only adds fields.
READABLE_SCHEMAS = ("flopsight.report/1", "flopsight.report/2", SCHEMA_ID)

# Names of ``flopsight.counting.conventions``' registry (a test keeps the two equal).
Convention = Literal["macs", "ptflops", "fvcore", "deepspeed"]
# The pass a convention's figures come from: the forward, and in training mode the backward
# and the forward segments activation checkpointing re-runs during it.
Phase = Literal["forward", "backward", "recompute"]
# What is counted: one forward (eval, no grad), or a training step (forward + backward).
Mode = Literal["inference", "training"]
ModelKind = Literal["class", "instance"]
ModelStatus = Literal["ok", "error", "skipped"]
Device = Literal["meta", "meta-params", "cpu", "cuda", "mps"]
# The settings an error can be about (keys of the ``flopsight`` section).
ErrorSetting = Literal["limits.timeoutSeconds", "limits.memoryMB", "python", "dims"]
Shape = list[int]
OutputShape = Shape | list[Shape] | None


def _schema_shape(shape: OutputShape) -> OutputShape:
    # The schema's output_shape is a oneOf in which a scalar's [] matches two branches, so a
    # 0-d output is written as null (no shape to show) rather than as an invalid [].
    return None if shape == [] else shape


# The measured fields (``flopsight measure``): written only when set.
LAYER_MEASURED = ("latency_ms", "gflops_per_s", "time_share")
MODEL_MEASURED = (
    "latency_ms",
    "gflops_per_s",
    "peak_gflops_per_s",
    "utilisation",
    "layers_latency_ms_sum",
    "measure",
)


# A training step's split of ``macs`` (total, layers, lines): written only in training mode.
PHASE_MACS = ("forward_macs", "backward_macs", "recompute_macs")


def _phases_of(d: dict[str, Any]) -> dict[str, int | None]:
    return {name: d.get(name) for name in PHASE_MACS}


def _measured(obj: object, names: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(obj, name)
        if value is not None:
            out[name] = dict(value) if isinstance(value, dict) else value
    return out


@dataclass
class InputSpec:
    name: str
    shape: Shape
    dtype: str = "float32"
    # Passed to forward by keyword (the pragma's dict, ``--input name=...``), else by position.
    keyword: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}
        if self.keyword:
            out["keyword"] = True
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> InputSpec:
        return cls(
            name=d["name"],
            shape=list(d["shape"]),
            dtype=d["dtype"],
            keyword=bool(d.get("keyword", False)),
        )


@dataclass
class Totals:
    macs: int = 0
    flops: int = 0
    params: int = 0
    trainable_params: int = 0
    param_bytes: int = 0
    activation_bytes: int = 0
    # Mixture-of-Experts: the parameters one token uses (routed experts × k / E); else None.
    active_params: int | None = None
    # Training mode: ``macs`` = forward + backward + recompute (None in inference mode).
    forward_macs: int | None = None
    backward_macs: int | None = None
    recompute_macs: int | None = None
    # Output elements of convolutions and matmuls (fvcore's ActivationCountAnalysis, timm's
    # infer_macts) when the convention counts them; None otherwise.
    activations: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "macs": self.macs,
            "flops": self.flops,
            "params": self.params,
            "trainable_params": self.trainable_params,
            "param_bytes": self.param_bytes,
            "activation_bytes": self.activation_bytes,
            **_measured(self, PHASE_MACS),
        }
        if self.active_params is not None:
            out["active_params"] = self.active_params
        if self.activations is not None:
            out["activations"] = self.activations
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Totals:
        totals = cls(**{k: int(d[k]) for k in cls().to_json()})
        if d.get("active_params") is not None:
            totals.active_params = int(d["active_params"])
        totals.forward_macs, totals.backward_macs, totals.recompute_macs = _phases_of(d).values()
        if d.get("activations") is not None:
            totals.activations = int(d["activations"])
        return totals


@dataclass
class LayerCost:
    """A module of the hierarchy, in ``named_modules()`` order; containers carry subtree totals.

    ``line`` is the line that built it: in the analysed file when ``file`` is None, else in
    ``file`` (another file of the workspace, relative to its root).
    """

    path: str
    type: str
    line: int | None
    calls: int
    macs: int
    flops: int
    params: int
    output_shape: OutputShape = None
    depth: int = 0
    file: str | None = None
    # MACs per op family ("conv", "matmul", "attention", "norm", ...), for the hover's breakdown.
    ops: dict[str, int] = field(default_factory=dict)
    # Measured (``flopsight measure``); None when not measured. Median over the timed runs.
    latency_ms: float | None = None
    gflops_per_s: float | None = None
    # The layer's latency over the model's end-to-end latency.
    time_share: float | None = None
    # Training mode: ``macs`` = forward + backward + recompute (None in inference mode).
    forward_macs: int | None = None
    backward_macs: int | None = None
    recompute_macs: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "type": self.type,
            "line": self.line,
            **_file(self.file),
            "calls": self.calls,
            "macs": self.macs,
            "flops": self.flops,
            "params": self.params,
            "output_shape": _schema_shape(self.output_shape),
            "depth": self.depth,
            "ops": dict(self.ops),
            **_measured(self, LAYER_MEASURED),
            **_measured(self, PHASE_MACS),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LayerCost:
        return cls(
            path=d["path"],
            type=d["type"],
            line=d["line"],
            calls=d["calls"],
            macs=d["macs"],
            flops=d["flops"],
            params=d["params"],
            output_shape=d.get("output_shape"),
            depth=d.get("depth", d["path"].count(".") + 1 if d["path"] else 0),
            file=d.get("file"),
            ops=dict(d.get("ops", {})),
            latency_ms=d.get("latency_ms"),
            gflops_per_s=d.get("gflops_per_s"),
            time_share=d.get("time_share"),
            **_phases_of(d),
        )


@dataclass
class LineCost:
    """Work charged to one source line, the innermost of the workspace's code on the stack: of
    the analysed file when ``file`` is None, else of ``file`` (relative to the workspace root)."""

    line: int
    macs: int
    flops: int
    output_shape: OutputShape = None
    calls: int = 1
    ops: dict[str, int] = field(default_factory=dict)
    file: str | None = None
    # Training mode: ``macs`` = forward + backward + recompute (None in inference mode).
    forward_macs: int | None = None
    backward_macs: int | None = None
    recompute_macs: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            **_file(self.file),
            "macs": self.macs,
            "flops": self.flops,
            "output_shape": _schema_shape(self.output_shape),
            "calls": self.calls,
            "ops": dict(self.ops),
            **_measured(self, PHASE_MACS),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LineCost:
        return cls(
            line=d["line"],
            macs=d["macs"],
            flops=d["flops"],
            output_shape=d.get("output_shape"),
            calls=d.get("calls", 1),
            ops=dict(d.get("ops", {})),
            file=d.get("file"),
            **_phases_of(d),
        )


def _file(file: str | None) -> dict[str, str]:
    """``{"file": ...}`` for a line in another file; nothing for the analysed file's."""
    return {} if file is None else {"file": file}


# What to do about an error, by the setting that governs it; ``{name}`` is the setting as the
# reader knows it (``flopsight.limits.timeoutSeconds`` in the editor, ``--timeout`` in a shell).
SETTING_ADVICE: dict[ErrorSetting, str] = {
    "limits.timeoutSeconds": "raise the limit with {name}",
    "limits.memoryMB": "raise the limit with {name}",
    "python": "point {name} to a Python interpreter that has torch installed",
    "dims": "give it a value in the pragma's dims= or with {name}",
}


def editor_setting(key: ErrorSetting) -> str:
    """A setting as the editor's configuration names it."""
    return f"flopsight.{key}"


@dataclass
class ModelError:
    """Why a model has no count: its kind (which decides its code), flopsight's sentence, the
    setting involved, and the raw text it came from. Each reader renders the setting its way."""

    # Flopsight's own sentence; names no setting (``text`` adds the setting as its reader's).
    message: str
    type: str
    kind: ErrorKind
    line: int | None = None
    setting: ErrorSetting | None = None
    # The raw text below flopsight's sentence: the exception's text, the exit status.
    detail: str | None = None
    # The input shapes with which forward runs, when the given ones lack the batch dimension.
    suggested_input: list[Shape] | None = None

    @property
    def code(self) -> Code:
        return KIND_CODES[self.kind]

    def text(self, setting_name: Callable[[ErrorSetting], str] = editor_setting) -> str:
        """The message, then what to do, naming the setting with ``setting_name``."""
        if self.setting is None:
            return self.message
        advice = SETTING_ADVICE[self.setting].format(name=setting_name(self.setting))
        return f"{self.message}; {advice}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "message": self.message,
            "type": self.type,
            "line": self.line,
            "kind": self.kind,
            "code": self.code.value,
            "setting": self.setting,
            "detail": self.detail,
        }
        if self.suggested_input is not None:
            out["suggested_input"] = [list(s) for s in self.suggested_input]
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ModelError:
        kind, setting = d.get("kind"), d.get("setting")
        suggested = d.get("suggested_input")
        if kind not in ERROR_KINDS:
            raise ValueError(f"not a flopsight error kind: {kind!r}")
        if setting is not None and setting not in SETTING_ADVICE:
            raise ValueError(f"not a setting an error can name: {setting!r}")
        return cls(
            message=d["message"],
            type=d["type"],
            kind=cast(ErrorKind, kind),
            line=d.get("line"),
            setting=cast("ErrorSetting | None", setting),
            detail=d.get("detail"),
            suggested_input=[list(s) for s in suggested] if suggested is not None else None,
        )


@dataclass
class UncountedOp:
    op: str
    count: int

    def to_json(self) -> dict[str, Any]:
        return {"op": self.op, "count": self.count}


@dataclass
class Charge:
    """MACs charged to one layer (its subtree) or one line under one convention, per family."""

    macs: int = 0
    ops: dict[str, int] = field(default_factory=dict)
    # FLOPs (2 x MACs unless the convention says otherwise, as DeepSpeed's) per family.
    flops: int | None = None
    flop_ops: dict[str, int] | None = None
    activations: int = 0

    @property
    def total_flops(self) -> int:
        return 2 * self.macs if self.flops is None else self.flops

    def to_json(self, key: str, where: object) -> dict[str, Any]:
        out: dict[str, Any] = {key: where, "macs": self.macs, "ops": dict(self.ops)}
        if self.flops is not None and self.flops != 2 * self.macs:
            out["flops"] = self.flops
            out["flop_ops"] = dict(self.flop_ops or {})
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Charge:
        flop_ops = d.get("flop_ops")
        return cls(
            d["macs"],
            dict(d["ops"]),
            d.get("flops", 2 * d["macs"]),
            dict(flop_ops) if flop_ops is not None else {k: 2 * v for k, v in d["ops"].items()},
        )


@dataclass
class ConventionCount:
    """One convention's figures from the pass that made the report (``ModelReport.counts``)."""

    convention: str
    phase: Phase = "forward"
    macs: int = 0
    ops: dict[str, int] = field(default_factory=dict)
    # By layer path (every layer of ``ModelReport.layers``) and by line (those of ``lines``).
    layers: dict[str, Charge] = field(default_factory=dict)
    # Lines are keyed (file, line) as ``LineCost``: file None for the analysed file.
    lines: dict[tuple[str | None, int], Charge] = field(default_factory=dict)
    uncounted_ops: list[UncountedOp] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # FLOPs and their families: 2 x MACs except where the convention counts otherwise.
    flops: int = -1
    flop_ops: dict[str, int] = field(default_factory=dict)
    # fvcore's activation count (output elements of convolutions and matmuls); None if not counted.
    activations: int | None = None

    def __post_init__(self) -> None:
        if self.flops < 0:
            self.flops = 2 * self.macs
            self.flop_ops = self.flop_ops or {k: 2 * v for k, v in self.ops.items()}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "convention": self.convention,
            "phase": self.phase,
            "macs": self.macs,
            "flops": self.flops,
            "ops": dict(self.ops),
            "layers": [c.to_json("path", k) for k, c in self.layers.items()],
            "lines": [{**c.to_json("line", k[1]), **_file(k[0])} for k, c in self.lines.items()],
            "uncounted_ops": [u.to_json() for u in self.uncounted_ops],
            "notes": list(self.notes),
        }
        if self.flops != 2 * self.macs:
            out["flop_ops"] = dict(self.flop_ops)
        if self.activations is not None:
            out["activations"] = self.activations
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ConventionCount:
        return cls(
            convention=d["convention"],
            phase=d.get("phase", "forward"),
            macs=d["macs"],
            ops=dict(d.get("ops", {})),
            flops=d.get("flops", 2 * d["macs"]),
            flop_ops=dict(d["flop_ops"])
            if "flop_ops" in d
            else {k: 2 * v for k, v in d.get("ops", {}).items()},
            activations=d.get("activations"),
            layers={x["path"]: Charge.from_json(x) for x in d.get("layers", [])},
            lines={(x.get("file"), x["line"]): Charge.from_json(x) for x in d.get("lines", [])},
            uncounted_ops=[UncountedOp(u["op"], u["count"]) for u in d.get("uncounted_ops", [])],
            notes=list(d.get("notes", [])),
        )


@dataclass
class SourceWarning:
    """A top-level statement that failed while the file's definitions ran; counting went on."""

    message: str
    line: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"message": self.message, "line": self.line}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SourceWarning:
        return cls(message=d["message"], line=d.get("line"))


@dataclass
class ModelReport:
    name: str
    kind: ModelKind
    line: int
    inputs: list[InputSpec] = field(default_factory=list)
    status: ModelStatus = "ok"
    error: ModelError | None = None
    device: Device | None = None
    total: Totals | None = None
    layers: list[LayerCost] = field(default_factory=list)
    lines: list[LineCost] = field(default_factory=list)
    uncounted_ops: list[UncountedOp] = field(default_factory=list)
    elapsed_ms: float = 0.0
    # Label from the pragma's ``name=`` (the UI shows it instead of ``name`` when set).
    label: str | None = None
    # MACs per op family for the whole model.
    ops: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # Measured (``flopsight measure``); None when not measured. ``latency_ms`` is the median
    # end-to-end forward (runs without per-layer hooks), ``layers_latency_ms_sum`` the sum of
    # the leaf layers' medians (hooked runs): the gap is what the layers don't account for.
    latency_ms: float | None = None
    gflops_per_s: float | None = None
    peak_gflops_per_s: float | None = None
    utilisation: float | None = None
    layers_latency_ms_sum: float | None = None
    # How it was measured: device, device_name, dtype, warmup, iters, peak_source.
    measure: dict[str, Any] | None = None
    # Asked for several conventions: each one's figures from the same pass, the main one (whose
    # figures the fields above hold) first; empty otherwise, and then left out of the JSON.
    counts: list[ConventionCount] = field(default_factory=list)
    # Counted (status "ok"), then not measured: why (refused for memory, no such device).
    measure_error: ModelError | None = None
    mode: Mode = "inference"
    # Training mode: which output the backward differentiates ("output[1] (a 0-d tensor)").
    loss: str | None = None
    # Training mode without a backward: why (no floating output, no grad ...); FS206.
    no_backward: str | None = None

    @property
    def training(self) -> bool:
        return self.mode == "training"

    # How MACs grow with each symbolic dimension of the input (asked with scaling=True); empty
    # otherwise, and then left out of the JSON.
    scaling: list[DimScaling] = field(default_factory=list)
    # Peak memory (flopsight.counting.memory, issue 15): MemoryReport.to_json(), and the live
    # total over the step, downsampled; None when not tracked, and then left out of the JSON.
    memory: dict[str, Any] | None = None
    memory_timeline: dict[str, Any] | None = None

    @property
    def display_name(self) -> str:
        return self.label or self.name

    def count_in(self, convention: str, phase: Phase = "forward") -> ConventionCount:
        """The figures of ``convention`` from this report's pass (asked with ``conventions=``)."""
        for count in self.counts:
            if count.convention == convention and count.phase == phase:
                return count
        counted = ", ".join(c.convention for c in self.counts) or "only the main convention"
        raise KeyError(f"{convention!r} ({phase}) was not counted: counted {counted}")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "line": self.line,
            "inputs": [i.to_json() for i in self.inputs],
            "status": self.status,
            "error": self.error.to_json() if self.error else None,
            "device": self.device,
            "total": self.total.to_json() if self.total else None,
            "layers": [layer.to_json() for layer in self.layers],
            "lines": [line.to_json() for line in self.lines],
            "uncounted_ops": [u.to_json() for u in self.uncounted_ops],
            "elapsed_ms": round(self.elapsed_ms, 3),
            "label": self.label,
            "ops": dict(self.ops),
            "notes": list(self.notes),
            **_measured(self, MODEL_MEASURED),
            **({"counts": [c.to_json() for c in self.counts]} if self.counts else {}),
            **({"measure_error": self.measure_error.to_json()} if self.measure_error else {}),
            "mode": self.mode,
            **_measured(self, ("loss", "no_backward")),
            **({"scaling": [x.to_json() for x in self.scaling]} if self.scaling else {}),
            **({"memory": self.memory} if self.memory is not None else {}),
            **({"memory_timeline": self.memory_timeline} if self.memory_timeline else {}),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ModelReport:
        return cls(
            name=d["name"],
            kind=d["kind"],
            line=d["line"],
            inputs=[InputSpec.from_json(i) for i in d["inputs"]],
            status=d["status"],
            error=ModelError.from_json(d["error"]) if d.get("error") else None,
            device=d.get("device"),
            total=Totals.from_json(d["total"]) if d.get("total") else None,
            layers=[LayerCost.from_json(x) for x in d["layers"]],
            lines=[LineCost.from_json(x) for x in d["lines"]],
            uncounted_ops=[UncountedOp(u["op"], u["count"]) for u in d.get("uncounted_ops", [])],
            elapsed_ms=float(d.get("elapsed_ms", 0.0)),
            label=d.get("label"),
            ops=dict(d.get("ops", {})),
            notes=list(d.get("notes", [])),
            latency_ms=d.get("latency_ms"),
            gflops_per_s=d.get("gflops_per_s"),
            peak_gflops_per_s=d.get("peak_gflops_per_s"),
            utilisation=d.get("utilisation"),
            layers_latency_ms_sum=d.get("layers_latency_ms_sum"),
            measure=dict(d["measure"]) if d.get("measure") is not None else None,
            counts=[ConventionCount.from_json(c) for c in d.get("counts", [])],
            measure_error=(
                ModelError.from_json(d["measure_error"]) if d.get("measure_error") else None
            ),
            mode=d.get("mode", "inference"),
            loss=d.get("loss"),
            no_backward=d.get("no_backward"),
            scaling=[DimScaling.from_json(x) for x in d.get("scaling", [])],
            memory=d.get("memory"),
            memory_timeline=d.get("memory_timeline"),
        )


@dataclass
class FileReport:
    file: str
    convention: Convention
    models: list[ModelReport] = field(default_factory=list)
    # Top-level statements that failed while the definitions ran.
    warnings: list[SourceWarning] = field(default_factory=list)
    # Facts about the run the user should know (e.g. the torchvision import fix was applied).
    notes: list[str] = field(default_factory=list)
    # What the file's code printed (captured, truncated); never reaches the protocol stream.
    output: str = ""
    environment: dict[str, str] = field(default_factory=dict)
    # What the job's sandbox held (worker/sandbox.py); None where no worker ran the file.
    sandbox: dict[str, Any] | None = None
    # The mode asked for (``flopsight.mode``, ``--mode``); a pragma may set one model's.
    mode: Mode = "inference"
    # The workspace's other files the run read: relative path -> sha256 of the text it ran.
    sources: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": SCHEMA_ID,
            "file": self.file,
            "convention": self.convention,
            "mode": self.mode,
            "models": [m.to_json() for m in self.models],
            "warnings": [w.to_json() for w in self.warnings],
            "notes": list(self.notes),
            "output": self.output,
            "environment": dict(self.environment),
        }
        if self.sandbox is not None:
            out["sandbox"] = dict(self.sandbox)
        if self.sources:
            out["sources"] = dict(self.sources)
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FileReport:
        if d.get("schema") not in READABLE_SCHEMAS:
            raise ValueError(f"not a {SCHEMA_ID} report: schema={d.get('schema')!r}")
        return cls(
            file=d["file"],
            convention=d["convention"],
            models=[ModelReport.from_json(m) for m in d["models"]],
            warnings=[SourceWarning.from_json(w) for w in d.get("warnings", [])],
            notes=list(d.get("notes", [])),
            output=d.get("output", ""),
            environment=dict(d.get("environment", {})),
            sandbox=dict(d["sandbox"]) if isinstance(d.get("sandbox"), dict) else None,
            mode=d.get("mode", "inference"),
            sources=dict(d.get("sources", {})),
        )

    def model(self, name: str) -> ModelReport:
        for m in self.models:
            if m.name == name or m.label == name:
                return m
        raise KeyError(name)
