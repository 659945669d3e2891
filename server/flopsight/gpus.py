"""Accelerator memory sizes for ``flopsight fit`` and ``flopsight.gpu`` (no torch here).

Capacities are what the framework sees as the device's total memory (``nvidia-smi``'s
"Total", ``torch.cuda.get_device_properties().total_memory``) where known, else the
datasheet's figure; both are listed. The CUDA context (a few hundred MiB) and the caching
allocator's fragmentation are not subtracted: a peak within ~5 % of the capacity is tight.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MIB = 1024**2
GIB = 1024**3


@dataclass(frozen=True)
class Accelerator:
    key: str
    name: str
    bytes: int
    # The datasheet's own words, and where they are.
    datasheet: str
    source: str


ACCELERATORS: tuple[Accelerator, ...] = (
    Accelerator(
        "t4",
        "T4",
        15360 * MIB,
        "16 GB GDDR6 (15360 MiB visible)",
        "https://www.nvidia.com/en-us/data-center/tesla-t4/",
    ),
    Accelerator(
        "rtx4090",
        "RTX 4090",
        24564 * MIB,
        "24 GB GDDR6X (24564 MiB visible)",
        "https://www.nvidia.com/en-us/geforce/graphics-cards/40-series/rtx-4090/",
    ),
    Accelerator(
        "a100-40",
        "A100 40GB",
        40960 * MIB,
        "40 GB HBM2 (40960 MiB visible)",
        "https://www.nvidia.com/en-us/data-center/a100/",
    ),
    Accelerator(
        "a100-80",
        "A100 80GB",
        81920 * MIB,
        "80 GB HBM2e (81920 MiB visible)",
        "https://www.nvidia.com/en-us/data-center/a100/",
    ),
    Accelerator(
        "l40s",
        "L40S",
        46068 * MIB,
        "48 GB GDDR6 with ECC (46068 MiB visible)",
        "https://www.nvidia.com/en-us/data-center/l40s/",
    ),
    Accelerator(
        "h100",
        "H100 80GB",
        81559 * MIB,
        "80 GB HBM3 (81559 MiB visible, SXM5)",
        "https://www.nvidia.com/en-us/data-center/h100/",
    ),
    Accelerator(
        "h200",
        "H200",
        143771 * MIB,
        "141 GB HBM3e (143771 MiB visible)",
        "https://www.nvidia.com/en-us/data-center/h200/",
    ),
    Accelerator(
        "mi300x",
        "MI300X",
        192 * GIB,
        "192 GB HBM3",
        "https://www.amd.com/en/products/accelerators/instinct/mi300/mi300x.html",
    ),
)
ALIASES = {
    "4090": "rtx4090",
    "rtx-4090": "rtx4090",
    "a100": "a100-80",
    "a100-80gb": "a100-80",
    "a100-40gb": "a100-40",
    "h100-80": "h100",
    "h100-80gb": "h100",
}
# Apple's unified memory: the GPU may use about 75 % of it by default (Metal's
# recommendedMaxWorkingSetSize); sizes as configured, e.g. "m3-max-48" or "apple-36".
APPLE_SHARE = 0.75
APPLE_SOURCE = (
    "https://developer.apple.com/documentation/metal/mtldevice/recommendedmaxworkingsetsize"
)
_APPLE = re.compile(r"(?:apple|m[1-9](?:-(?:pro|max|ultra))?)[-:]?(\d{1,4})(?:gb)?")


# The settings' names as the user reads them (torch-free copies of counting.memory's lists).
OPTIMIZERS = ("none", "sgd", "sgd-momentum", "adam", "adamw")
PRECISIONS = ("fp32", "bf16", "fp16", "bf16-mixed", "fp16-mixed")
OPTIMIZER_LABELS = {
    "none": "no optimizer",
    "sgd": "SGD",
    "sgd-momentum": "SGD momentum",
    "adam": "Adam",
    "adamw": "AdamW",
}


class UnknownAccelerator(ValueError):
    """A name not in the table; the message lists the known ones."""


def known_names() -> str:
    names = [a.key for a in ACCELERATORS] + ["apple-<GB> (e.g. m3-max-48)"]
    return ", ".join(names)


def accelerator(name: str) -> Accelerator:
    """The accelerator ``name`` names (case and spaces ignored)."""
    key = re.sub(r"[\s_]+", "-", name.strip().lower())
    key = ALIASES.get(key, key)
    for a in ACCELERATORS:
        if a.key == key or a.key == key.replace("-", ""):
            return a
    apple = _APPLE.fullmatch(key)
    if apple is not None:
        gb = int(apple.group(1))
        return Accelerator(
            key,
            f"Apple {key.upper()} ({gb} GB unified)",
            int(gb * GIB * APPLE_SHARE),
            f"{gb} GB unified memory, about 75 % usable by the GPU",
            APPLE_SOURCE,
        )
    raise UnknownAccelerator(f"unknown GPU {name!r}; known: {known_names()}")


def format_bytes(n: int) -> str:
    """``18.3 GiB``, ``512.0 MiB``, ``12.0 KiB``, ``100 B`` (binary units, as nvidia-smi)."""
    for unit, size in (("GiB", GIB), ("MiB", MIB), ("KiB", 1024)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def memory_summary(memory: dict[str, object]) -> str:
    """``peak 18.3 GiB training (AdamW, bf16-mixed, batch 8) · fits RTX 4090`` of a report's
    ``memory`` (the hover's and the lens's text)."""
    peak = memory.get("peak_bytes")
    if not isinstance(peak, int):
        return ""
    mode = memory.get("mode")
    parts = [str(memory.get("precision", "fp32"))]
    if mode == "train":
        parts.insert(0, OPTIMIZER_LABELS.get(str(memory.get("optimizer")), "no optimizer"))
    batch = memory.get("batch")
    if isinstance(batch, int):
        parts.append(f"batch {batch}")
    what = "training" if mode == "train" else "inference"
    text = f"peak {format_bytes(peak)} {what} ({', '.join(parts)})"
    gpu = memory.get("gpu")
    if isinstance(gpu, dict):
        verdict = "fits" if memory.get("fits") else "does not fit"
        text += f" · {verdict} {gpu.get('name')}"
    return text
