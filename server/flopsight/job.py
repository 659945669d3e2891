"""What a caller asks the counting engine for: one analysis of one buffer (no torch here).

The CLI builds one per file, the language server one per (document, model); the worker
passes it to ``flopsight.count.runner.analyse_file`` in a child process and caches the
answer under ``AnalysisRequest.cache_key``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from flopsight.report.model import Convention, InputSpec


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

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        if self.input_override is not None:
            d["input_override"] = [i.to_json() for i in self.input_override]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> AnalysisRequest:
        d = dict(d)
        if d.get("input_override") is not None:
            d["input_override"] = [InputSpec.from_json(i) for i in d["input_override"]]
        return cls(**d)

    def cache_key(self, *extra: str) -> str:
        """A digest of everything that decides the report (``extra``: interpreter, torch version)."""
        payload = json.dumps([self.to_json(), list(extra)], sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()
