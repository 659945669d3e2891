"""flopsight's settings: one set of names for the LSP configuration, the CLI and the worker.

The keys are those of the design's Settings table, read from the ``flopsight`` section
(camelCase, nested ``limits`` and ``inlayHints`` objects as VS Code sends them).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from typing import Any, Literal

Convention = Literal["macs", "ptflops"]
MeasureMode = Literal["never", "onSave", "onCommand"]
HINT_PARTS = ("macs", "flops", "params", "share", "shape")


def default_dims() -> dict[str, int]:
    return {"batch": 1, "b": 1}


@dataclass(frozen=True)
class Settings:
    convention: Convention = "macs"
    execute: bool = True
    python: str = field(default_factory=lambda: sys.executable)
    dims: dict[str, int] = field(default_factory=default_dims)
    timeout_seconds: float = 20.0
    memory_mb: int = 8192
    debounce_ms: int = 400
    inlay_hints_enabled: bool = True
    inlay_hints_show: tuple[str, ...] = ("macs", "params", "share", "shape")
    inlay_hints_min_share: float = 0.0
    measure: MeasureMode = "never"
    # The git revision the code lens compares each model with; "none": no comparison.
    compare_with: str = "HEAD"

    @classmethod
    def from_lsp(cls, section: dict[str, Any] | None, base: Settings | None = None) -> Settings:
        """Reads the ``flopsight`` section; unknown or ill-typed values keep their defaults."""
        s = base or cls()
        if not isinstance(section, dict):
            return s
        limits = section.get("limits") if isinstance(section.get("limits"), dict) else {}
        hints = section.get("inlayHints") if isinstance(section.get("inlayHints"), dict) else {}
        updates: dict[str, Any] = {}
        conv = section.get("convention")
        if conv in ("macs", "ptflops"):
            updates["convention"] = conv
        if isinstance(section.get("execute"), bool):
            updates["execute"] = section["execute"]
        if isinstance(section.get("python"), str) and section["python"].strip():
            updates["python"] = section["python"].strip()
        dims = section.get("dims")
        if isinstance(dims, dict):
            updates["dims"] = {str(k): int(v) for k, v in dims.items() if _is_int(v)}
        assert isinstance(limits, dict) and isinstance(hints, dict)
        if _is_number(limits.get("timeoutSeconds")) and limits["timeoutSeconds"] > 0:
            updates["timeout_seconds"] = float(limits["timeoutSeconds"])
        if _is_int(limits.get("memoryMB")) and limits["memoryMB"] > 0:
            updates["memory_mb"] = int(limits["memoryMB"])
        if _is_int(section.get("debounceMs")) and section["debounceMs"] >= 0:
            updates["debounce_ms"] = int(section["debounceMs"])
        if isinstance(hints.get("enabled"), bool):
            updates["inlay_hints_enabled"] = hints["enabled"]
        show = hints.get("show")
        if isinstance(show, list):
            updates["inlay_hints_show"] = tuple(p for p in show if p in HINT_PARTS)
        if _is_number(hints.get("minShare")):
            updates["inlay_hints_min_share"] = float(hints["minShare"])
        if section.get("measure") in ("never", "onSave", "onCommand"):
            updates["measure"] = section["measure"]
        if isinstance(section.get("compareWith"), str) and section["compareWith"].strip():
            updates["compare_with"] = section["compareWith"].strip()
        return replace(s, **updates)

    def to_lsp(self) -> dict[str, Any]:
        return {
            "convention": self.convention,
            "execute": self.execute,
            "python": self.python,
            "dims": dict(self.dims),
            "limits": {"timeoutSeconds": self.timeout_seconds, "memoryMB": self.memory_mb},
            "debounceMs": self.debounce_ms,
            "inlayHints": {
                "enabled": self.inlay_hints_enabled,
                "show": list(self.inlay_hints_show),
                "minShare": self.inlay_hints_min_share,
            },
            "measure": self.measure,
            "compareWith": self.compare_with,
        }


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)
