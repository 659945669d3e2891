"""flopsight's settings: one set of names for the LSP configuration, the CLI and the worker.

The keys are those of the README's Settings table, read from the ``flopsight`` section
(camelCase, nested ``limits`` and ``inlayHints`` objects as VS Code sends them). Every value
is checked: one of the wrong type or out of range keeps the previous value and comes back as a
problem that names the setting (the server shows it; the CLI checks its flags with the same
ranges). ``execute`` fails closed: anything but ``true`` turns execution off.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args

from flopsight.gpus import OPTIMIZERS, PRECISIONS, UnknownAccelerator, accelerator
from flopsight.report.model import Convention

MeasureMode = Literal["never", "onSave", "onCommand"]
SandboxMode = Literal["auto", "off"]
# "training": count a training step (forward + backward); a pragma's mode= sets one model's.
Mode = Literal["inference", "training"]
HINT_PARTS = ("macs", "flops", "params", "share", "shape")

# Ranges, shared by the settings and the CLI's flags. The time limit must fit the worker's
# waits (epoll takes at most 2**31 - 1 ms, about 24.8 days): a day is far below that.
MAX_TIMEOUT_S = 86_400.0
# RLIMIT_AS takes bytes in 64 bits; 16 TiB is beyond any machine and far below the overflow.
MAX_MEMORY_MB = 16 * 1024 * 1024
MAX_DEBOUNCE_MS = 60_000
# Larger than this is surely not a model file (1 GB of text).
MAX_FILE_SIZE_KB = 1024 * 1024


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
    # Larger documents are not analysed (one info diagnostic, FS402).
    max_file_size_kb: int = 1024
    # "auto": each job in the strongest sandbox the kernel allows (worker/sandbox.py); "off".
    sandbox: SandboxMode = "auto"
    mode: Mode = "inference"
    # Count every convention in the same pass, for the class line's hover (one line).
    compare: bool = True
    # The git revision the code lens compares each model with; "none": no comparison.
    compare_with: str = "HEAD"
    # Peak memory (issue 15): tracked in the editor when ``train.memory`` is on or a GPU is set.
    train_memory: bool = False
    train_optimizer: str = "adamw"
    train_precision: str = "fp32"
    # An accelerator of flopsight.gpus: the hover and lens say whether the peak fits it.
    gpu: str | None = None

    @property
    def tracks_memory(self) -> bool:
        return self.train_memory or self.gpu is not None

    @classmethod
    def from_lsp(cls, section: dict[str, Any] | None, base: Settings | None = None) -> Settings:
        """Reads the ``flopsight`` section; wrong values keep ``base``'s (see ``read``)."""
        return cls.read(section, base)[0]

    @classmethod
    def read(
        cls, section: object, base: Settings | None = None
    ) -> tuple[Settings, list[SettingProblem]]:
        """The settings of the ``flopsight`` section over ``base``, and what was wrong in it."""
        s = base or cls()
        if section is None:
            return s, []
        reader = _Reader()
        if not isinstance(section, dict):
            reader.wrong("", section, "an object of settings")
            return s, reader.problems
        limits = reader.group(section, "limits")
        hints = reader.group(section, "inlayHints")
        train = reader.group(section, "train")
        updates: dict[str, Any] = {}

        def take(name: str, value: object) -> None:
            if value is not _MISSING:
                updates[name] = value

        take("convention", reader.choice(section, "convention", get_args(Convention)))
        if "execute" in section:
            # Fails closed: only true runs code; anything else is off (and a warning).
            value = section["execute"]
            if not isinstance(value, bool):
                reader.wrong("execute", value, "true or false", "execution is off until it is true")
            updates["execute"] = value is True
        take("python", reader.text(section, "python"))
        reader.text(section, "serverPython")  # read by the VS Code client; checked here too
        take("dims", reader.dims(section))
        take(
            "timeout_seconds",
            reader.number(limits, "limits.timeoutSeconds", timeout_problem, float),
        )
        take("memory_mb", reader.number(limits, "limits.memoryMB", memory_problem, int))
        take("debounce_ms", reader.number(section, "debounceMs", debounce_problem, int))
        take("inlay_hints_enabled", reader.flag(hints, "inlayHints.enabled"))
        take("inlay_hints_show", reader.parts(hints))
        take(
            "inlay_hints_min_share",
            reader.number(hints, "inlayHints.minShare", min_share_problem, float),
        )
        take("measure", reader.choice(section, "measure", ("never", "onSave", "onCommand")))
        take("sandbox", reader.choice(section, "sandbox", ("auto", "off")))
        take("mode", reader.choice(section, "mode", ("inference", "training")))
        take(
            "max_file_size_kb",
            reader.number(section, "maxFileSizeKB", max_file_size_problem, int),
        )
        take("compare", reader.flag(section, "compare"))
        if "compareWith" in section:
            value = section["compareWith"]
            if not isinstance(value, str):
                reader.wrong("compareWith", value, 'a git revision, or "none"')
            elif value.strip():  # "" is how VS Code leaves it unset: the default stays
                updates["compare_with"] = value.strip()
        take("train_memory", reader.flag(train, "train.memory"))
        take("train_optimizer", reader.choice(train, "optimizer", OPTIMIZERS, "train.optimizer"))
        take("train_precision", reader.choice(train, "precision", PRECISIONS, "train.precision"))
        if "gpu" in section:
            take("gpu", reader.gpu(section["gpu"]))
        return replace(s, **updates), reader.problems

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
            "maxFileSizeKB": self.max_file_size_kb,
            "sandbox": self.sandbox,
            "mode": self.mode,
            "compare": self.compare,
            "compareWith": self.compare_with,
            "train": {
                "memory": self.train_memory,
                "optimizer": self.train_optimizer,
                "precision": self.train_precision,
            },
            "gpu": self.gpu,
        }


@dataclass(frozen=True)
class SettingProblem:
    """A setting whose value was not used: which (``limits.timeoutSeconds``) and why."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"flopsight.{self.key}: {self.message}" if self.key else f"flopsight: {self.message}"


# ----------------------------------------------------------------------------- ranges


def timeout_problem(seconds: float) -> str | None:
    """What is wrong with a time limit (None: nothing); the CLI's --timeout says the same."""
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_TIMEOUT_S:
        return f"give a number of seconds above 0 and at most {MAX_TIMEOUT_S:g} (a day)"
    return None


def memory_problem(megabytes: float) -> str | None:
    if not 0 < megabytes <= MAX_MEMORY_MB:
        return f"give a number of megabytes above 0 and at most {MAX_MEMORY_MB} (16 TiB)"
    return None


def debounce_problem(ms: float) -> str | None:
    if not 0 <= ms <= MAX_DEBOUNCE_MS:
        return f"give a number of milliseconds from 0 to {MAX_DEBOUNCE_MS}"
    return None


def max_file_size_problem(kb: float) -> str | None:
    if not 0 < kb <= MAX_FILE_SIZE_KB:
        return f"give a number of kilobytes above 0 and at most {MAX_FILE_SIZE_KB}"
    return None


def min_share_problem(share: float) -> str | None:
    if not math.isfinite(share) or not 0 <= share <= 100:
        return "give a fraction from 0 to 1 (0.01: lines under 1% get no hint), or a percentage"
    return None


# ----------------------------------------------------------------------------- reading

_MISSING = object()
_TYPES = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}


def _shown(value: object) -> str:
    kind = _TYPES.get(type(value), "an array" if isinstance(value, list) else "an object")
    if value is None:
        kind = "null"
    text = repr(value) if isinstance(value, str) else str(value).lower()
    text = text if len(text) <= 40 else text[:39] + "…"
    return f"{text} ({kind})" if value is not None else "null"


class _Reader:
    """Reads values by key; each value of the wrong type or range is a problem, not a value."""

    def __init__(self) -> None:
        self.problems: list[SettingProblem] = []

    def wrong(self, key: str, value: object, expected: str, then: str = "") -> None:
        then = then or "the previous value stays"
        self.problems.append(
            SettingProblem(key, f"expected {expected}, got {_shown(value)}; {then}")
        )

    def group(self, section: dict[str, Any], key: str) -> dict[str, Any]:
        value = section.get(key, {})
        if isinstance(value, dict):
            return value
        self.wrong(key, value, "an object")
        return {}

    def choice(
        self, section: dict[str, Any], key: str, allowed: tuple[str, ...], shown: str = ""
    ) -> object:
        if key not in section:
            return _MISSING
        value = section[key]
        if value in allowed and isinstance(value, str):
            return value
        self.wrong(shown or key, value, " or ".join(f'"{a}"' for a in allowed))
        return _MISSING

    def gpu(self, value: object) -> object:
        """A name of the accelerator table; null or "" is none (no verdict)."""
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            self.wrong("gpu", value, 'the name of a GPU, e.g. "h100"')
            return _MISSING
        try:
            accelerator(value)
        except UnknownAccelerator as e:
            self.problems.append(SettingProblem("gpu", f"{e}; the previous value stays"))
            return _MISSING
        return value

    def flag(self, section: dict[str, Any], key: str) -> object:
        name = key.rsplit(".", 1)[-1]
        if name not in section:
            return _MISSING
        value = section[name]
        if isinstance(value, bool):
            return value
        self.wrong(key, value, "true or false")
        return _MISSING

    def text(self, section: dict[str, Any], key: str) -> object:
        if key not in section:
            return _MISSING
        value = section[key]
        if isinstance(value, str):
            # "" is how VS Code leaves it unset: the default stays, no warning.
            return value.strip() or _MISSING
        self.wrong(key, value, "a path to a Python interpreter")
        return _MISSING

    def number(
        self,
        section: dict[str, Any],
        key: str,
        problem: Callable[[float], str | None],
        kind: type[int] | type[float],
    ) -> object:
        name = key.rsplit(".", 1)[-1]
        if name not in section:
            return _MISSING
        value = section[name]
        whole = kind is int
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not is_number or (whole and isinstance(value, float) and not value.is_integer()):
            self.wrong(key, value, "a whole number" if whole else "a number")
            return _MISSING
        why = problem(float(value))
        if why is not None:
            self.problems.append(
                SettingProblem(
                    key, f"{_shown(value)} is out of range: {why}; the previous value stays"
                )
            )
            return _MISSING
        return int(value) if whole else float(value)

    def dims(self, section: dict[str, Any]) -> object:
        if "dims" not in section:
            return _MISSING
        value = section["dims"]
        if not isinstance(value, dict):
            self.wrong("dims", value, 'an object of names and sizes, e.g. {"batch": 1}')
            return _MISSING
        out: dict[str, int] = {}
        for name, size in value.items():
            if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
                out[str(name)] = size
            else:
                self.wrong(f"dims.{name}", size, "a size (a whole number, 0 or more)", "ignored")
        return out

    def parts(self, section: dict[str, Any]) -> object:
        if "show" not in section:
            return _MISSING
        value = section["show"]
        if not isinstance(value, list):
            self.wrong("inlayHints.show", value, f"a list of parts from {', '.join(HINT_PARTS)}")
            return _MISSING
        unknown = [p for p in value if p not in HINT_PARTS]
        if unknown:
            self.problems.append(
                SettingProblem(
                    "inlayHints.show",
                    f"unknown part(s) {', '.join(map(repr, unknown))} left out; the parts are "
                    f"{', '.join(HINT_PARTS)}",
                )
            )
        return tuple(p for p in value if p in HINT_PARTS)
