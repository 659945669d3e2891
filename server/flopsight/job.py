"""What a caller asks the counting engine for: one analysis of one buffer (no torch here).

The CLI builds one per file, the language server one per (document, model); the worker
passes it to ``flopsight.counting.runner.analyse_file`` in a child process and caches the
answer under ``AnalysisRequest.cache_key``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from flopsight.report.model import Convention, InputSpec, Mode


@dataclass
class MeasureOptions:
    """``flopsight measure``: time the models for real instead of only counting them."""

    # "cpu", "cuda", "cuda:1" or "mps".
    device: str = "cpu"
    # Parameters and floating inputs are cast to it; None keeps the model's own (float32).
    dtype: str | None = None
    warmup: int = 3
    iters: int = 20
    # The device's peak in GFLOP/s when the user knows it (else a table or a CPU probe).
    peak_gflops_per_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> MeasureOptions:
        return cls(**d)


@dataclass
class MemoryOptions:
    """Peak memory (issue 15): of inference or a training step, and ``flopsight fit``'s search."""

    # "train": forward, loss, backward and one optimizer step; "inference": forward only.
    mode: str = "train"
    optimizer: str = "adamw"
    precision: str = "fp32"
    # An accelerator of flopsight.gpus (its memory decides "fits"); None: no verdict.
    gpu: str | None = None
    # Set: search the largest value of this dimension that fits ``gpu`` (``flopsight fit``).
    fit_dim: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> MemoryOptions:
        return cls(**d)


@dataclass
class AnalysisRequest:
    # The text analysed: the editor's buffer, not the file on disk.
    text: str
    # Where the text lives (``__file__``; its folder goes on ``sys.path``). May not exist on disk.
    path: str
    # Workspace root, also put on ``sys.path`` (``from mypkg.blocks import Block``).
    root: str | None = None
    convention: Convention = "macs"
    dims: dict[str, int] = field(default_factory=lambda: {"batch": 1, "b": 1})
    # Names (class or variable names, or pragma ``name=`` labels) to analyse; None: every model.
    models: list[str] | None = None
    # CLI ``--input``: replaces the annotated shapes of the selected model(s), and lets an
    # unannotated class be counted.
    input_override: list[InputSpec] | None = None
    # CLI ``--dtype``: replaces every input's dtype.
    dtype_override: str | None = None
    # Set: the worker measures the selected models (flopsight.counting.measure) after counting
    # them; left out of the JSON when None, so counting requests keep their cache keys.
    measure: MeasureOptions | None = None
    # Conventions charged in the same pass besides ``convention`` (``ModelReport.counts``);
    # left out of the JSON when empty, so plain requests keep their cache keys and their cost.
    extra_conventions: list[Convention] = field(default_factory=list)
    # "training": count each model's training step (a pragma's ``mode=`` overrides it per
    # model); left out of the JSON when "inference", so plain requests keep their cache keys.
    mode: Mode = "inference"
    # Also count each model at other values of its symbolic dimensions (ModelReport.scaling);
    # left out of the JSON when False, so plain requests keep their cache keys.
    scaling: bool = False
    # Set: the worker also tracks peak memory (flopsight.counting.memory_job); left out of the
    # JSON when None, so counting requests keep their cache keys.
    memory: MemoryOptions | None = None
    # Other files of the workspace as the editor holds them (absolute path -> text): imports
    # of these read the buffer, not the disk. Left out of the JSON when empty.
    overlays: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        if self.input_override is not None:
            d["input_override"] = [i.to_json() for i in self.input_override]
        if self.measure is None:
            del d["measure"]
        if not self.extra_conventions:
            del d["extra_conventions"]
        if self.mode == "inference":
            del d["mode"]
        if not self.scaling:
            del d["scaling"]
        if self.memory is None:
            del d["memory"]
        if not self.overlays:
            del d["overlays"]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> AnalysisRequest:
        d = dict(d)
        if d.get("input_override") is not None:
            d["input_override"] = [InputSpec.from_json(i) for i in d["input_override"]]
        if d.get("measure") is not None:
            d["measure"] = MeasureOptions.from_json(d["measure"])
        if d.get("memory") is not None:
            d["memory"] = MemoryOptions.from_json(d["memory"])
        return cls(**d)

    def cache_key(self, *extra: str) -> str:
        """A digest of all that decides the report (``extra``: interpreter, torch version)."""
        payload = json.dumps([self.to_json(), list(extra)], sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()
