"""Units as ptflops prints them: ``670.73 KMac``, ``7.82 GMac``, ``15.64 GFLOPs``, ``28.68 M``.

GMac = MACs / 10⁹ and 1 GMac = 2 GFLOPs (the seed article); two decimals, SI prefixes.
"""

from __future__ import annotations

import re

_MAC_PREFIXES = ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K"))
_PARAM_PREFIXES = ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "k"))


def _scaled(value: float, prefixes: tuple[tuple[int, str], ...], precision: int) -> tuple[str, str]:
    for scale, prefix in prefixes:
        if abs(value) >= scale:
            return f"{value / scale:.{precision}f}", prefix
    if float(value).is_integer():
        return str(int(value)), ""
    return f"{value:.{precision}f}", ""


def format_macs(macs: float, precision: int = 2) -> str:
    """``670730`` → ``670.73 KMac`` (ptflops' ``flops_to_string``)."""
    number, prefix = _scaled(macs, _MAC_PREFIXES, precision)
    return f"{number} {prefix}Mac"


def format_step(forward: float, backward: float, recompute: float = 0) -> str:
    """A training step's split as fwd + bwd (+ recompute): ``262.14 + 524.29 KMac``, one unit
    when the parts share it, ``5.12 KMac + 10.24 KMac`` when they don't."""
    parts = [forward, backward] + ([recompute] if recompute else [])
    scaled = [_scaled(p, _MAC_PREFIXES, 2) for p in parts]
    if len({prefix for _, prefix in scaled}) == 1:
        return " + ".join(number for number, _ in scaled) + f" {scaled[0][1]}Mac"
    return " + ".join(format_macs(p) for p in parts)


def step_title(total: float, forward: float, backward: float, recompute: float = 0) -> str:
    """``train step 1.60 MMac (fwd 0.67 · bwd 0.94)``: the split in the total's unit."""
    _, prefix = _scaled(total, _MAC_PREFIXES, 2)
    scale = dict((p, s) for s, p in _MAC_PREFIXES).get(prefix, 1)
    split = f"fwd {forward / scale:.2f} · bwd {backward / scale:.2f}"
    if recompute:
        split += f" · recompute {recompute / scale:.2f}"
    return f"train step {format_macs(total)} ({split})"


def format_flops(flops: float, precision: int = 2) -> str:
    """``1341460`` → ``1.34 MFLOPs``."""
    number, prefix = _scaled(flops, _MAC_PREFIXES, precision)
    return f"{number} {prefix}FLOPs"


def format_params(params: float, precision: int = 2) -> str:
    """``28681000`` → ``28.68 M``; ``669706`` → ``669.71 k`` (ptflops' ``params_to_string``)."""
    number, prefix = _scaled(params, _PARAM_PREFIXES, precision)
    return f"{number} {prefix}".rstrip()


def format_bytes(n: float, precision: int = 2) -> str:
    for scale, unit in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= scale:
            return f"{n / scale:.{precision}f} {unit}"
    return f"{int(n)} B"


def format_share(part: float, whole: float) -> str:
    """A share of the total as ``12.3%``; ``0.0%`` for an empty total."""
    return f"{(100.0 * part / whole) if whole else 0.0:.1f}%"


def format_shape(shape: object) -> str:
    """``[1, 64, 56, 56]``; a tuple of outputs as ``[1, 4] [1, 8]``; nothing known as ``—``."""
    if shape is None:
        return "—"
    if isinstance(shape, list) and shape and all(isinstance(s, list) for s in shape):
        return " ".join(format_shape(s) for s in shape)
    if isinstance(shape, list):
        return "[" + ", ".join(str(d) for d in shape) + "]"
    return str(shape)


_QUANTITY = re.compile(
    r"^\s*([0-9]*\.?[0-9]+)\s*([kKmMgGtTbB]?)\s*(?:mac|macs|flops|params)?\s*$", re.I
)
_SCALE = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "b": 10**9, "t": 10**12}


def parse_quantity(text: str) -> int:
    """``10G`` → 10⁹·10, ``50M`` → 5·10⁷, ``1.5k`` → 1500 (the CLI's budgets)."""
    m = _QUANTITY.match(text)
    if not m:
        raise ValueError(
            f"not a quantity: {text!r} (expected a number with an optional K/M/G/T suffix: 10G)"
        )
    return round(float(m.group(1)) * _SCALE[m.group(2).lower()])
