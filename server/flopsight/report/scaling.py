"""How a model's cost grows with one symbolic dimension of its input (no torch here).

MACs are polynomials in sizes for most models (linear in the batch, quadratic in the sequence
length where attention is): counted at a few values, the exact polynomial through them (with
rational coefficients) is checked at a value the fit did not use. Where it does not hold
(strided convolutions round down), the counts stay as a small table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from flopsight.report.units import _scaled

# Highest degree fitted: four points determine a cubic, the fifth checks it.
MAX_DEGREE = 3
POINTS = MAX_DEGREE + 2
_PREFIXES = ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k"))
_SUPERSCRIPTS = {2: "²", 3: "³"}


def sample_values(value: int, count: int = POINTS) -> list[int]:
    """Values to count at, ending at ``value``: multiples of the largest divisor of ``value``
    that leaves ``count`` of them (so sizes a stride or patch divides stay divisible);
    1, 2, … when ``value`` is too small for that."""
    if value >= count:
        step = max(d for d in range(1, value // count + 1) if value % d == 0)
        return [value - step * i for i in range(count - 1, -1, -1)]
    return list(range(1, count + 1))


def fit(points: list[tuple[int, int]]) -> dict[int, Fraction]:
    """The polynomial of degree < len(points) through them (Lagrange, exactly), by degree;
    zero coefficients left out."""
    n = len(points)
    coefficients = [Fraction(0)] * n
    for i, (xi, yi) in enumerate(points):
        # The basis polynomial of point i: prod over j != i of (x - xj) / (xi - xj).
        basis = [Fraction(1)]
        denominator = Fraction(1)
        for j, (xj, _) in enumerate(points):
            if j == i:
                continue
            basis = [Fraction(0), *basis]
            for k in range(len(basis) - 1):
                basis[k] -= xj * basis[k + 1]
            denominator *= xi - xj
        for k, b in enumerate(basis):
            coefficients[k] += yi * b / denominator
    return {k: c for k, c in enumerate(coefficients) if c != 0}


def evaluate(polynomial: dict[int, Fraction], x: float) -> float:
    return float(sum(c * Fraction(x) ** k for k, c in polynomial.items()))


@dataclass
class DimScaling:
    """One symbolic dimension: the counts at several values and, when one fits, the polynomial."""

    dim: str
    value: int  # the dimension's value in the report's own count
    points: list[tuple[int, int]]  # (value, MACs), ascending
    # MACs by degree, exact; None when no polynomial of degree <= MAX_DEGREE fits every point.
    polynomial: dict[int, Fraction] | None = None
    verified_at: int | None = None
    # The value where the top-degree term passes half the cost, and what that term is.
    crossover: float | None = None
    crossover_term: str | None = None
    # MACs per op family at each point (same order), for naming the top term.
    ops: list[dict[str, int]] = field(default_factory=list)

    @property
    def text(self) -> str:
        """``MACs = 84.93 M·T + 18.43 k·T² · attention passes half the cost at T = 4.6 k``."""
        if self.polynomial is None:
            return f"MACs by {self.dim}: " + ", ".join(
                f"{x}: {_number(Fraction(y))}" for x, y in self.points
            )
        text = "MACs = " + _polynomial_text(self.polynomial, self.dim)
        if self.crossover is not None and self.crossover_term is not None:
            where = " ".join(_scaled(self.crossover, _PREFIXES, 1)).strip()
            text += f" · {self.crossover_term} passes half the cost at {self.dim} = {where}"
        return text

    def to_json(self) -> dict[str, Any]:
        poly = None
        if self.polynomial is not None:
            poly = [
                {"degree": k, "numerator": c.numerator, "denominator": c.denominator}
                for k, c in sorted(self.polynomial.items())
            ]
        return {
            "dim": self.dim,
            "value": self.value,
            "points": [{"value": x, "macs": y} for x, y in self.points],
            "polynomial": poly,
            "verified_at": self.verified_at,
            "crossover": self.crossover,
            "crossover_term": self.crossover_term,
            "text": self.text,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DimScaling:
        poly = d.get("polynomial")
        return cls(
            dim=d["dim"],
            value=d["value"],
            points=[(p["value"], p["macs"]) for p in d["points"]],
            polynomial=(
                {p["degree"]: Fraction(p["numerator"], p["denominator"]) for p in poly}
                if poly is not None
                else None
            ),
            verified_at=d.get("verified_at"),
            crossover=d.get("crossover"),
            crossover_term=d.get("crossover_term"),
        )


def scaling_of(
    dim: str, value: int, points: list[tuple[int, int]], ops: list[dict[str, int]]
) -> DimScaling:
    """Fits the points other than ``value``'s and checks the polynomial at ``value``."""
    points = sorted(points)
    out = DimScaling(dim, value, points, ops=ops)
    held = [p for p in points if p[0] == value][:1] or points[-1:]
    used = [p for p in points if p not in held]
    if len(used) < 2 or not held:
        return out
    polynomial = fit(used)
    if any(sum(c * x**k for k, c in polynomial.items()) != y for x, y in held):
        return out
    out.polynomial, out.verified_at = polynomial, held[0][0]
    _set_crossover(out, used, [ops[points.index(p)] for p in used] if ops else [])
    return out


def _set_crossover(s: DimScaling, used: list[tuple[int, int]], ops: list[dict[str, int]]) -> None:
    assert s.polynomial is not None
    top = max(s.polynomial)
    if top < 2 or len(s.polynomial) < 2 or any(c < 0 for c in s.polynomial.values()):
        return
    top_c = s.polynomial[top]
    rest = {k: c for k, c in s.polynomial.items() if k != top}

    # The top term passes half the cost where it passes everything else: bisection on x > 0.
    def ahead(x: float) -> bool:
        return float(top_c) * x**top >= evaluate(rest, x)

    lo, hi = 0.0, 1.0
    while not ahead(hi):
        lo, hi = hi, hi * 2
        if hi > 1e15:
            return
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if ahead(mid) else (mid, hi)
    s.crossover = hi
    s.crossover_term = f"the {s.dim}{_SUPERSCRIPTS.get(top, f'^{top}')} term"
    # Named after the op family holding most of the top term (attention, where it is).
    families = sorted({f for o in ops for f in o})
    for family in families:
        points = [(x, o.get(family, 0)) for (x, _), o in zip(used, ops, strict=True)]
        share = fit(points).get(top, Fraction(0))
        if share * 2 > top_c and family == "attention":
            s.crossover_term = "attention"


def _number(c: Fraction) -> str:
    if c.denominator == 1 and abs(c) < 1000:
        return str(c.numerator)
    if abs(c) < 1000:
        return f"{float(c):.4g}"
    return " ".join(_scaled(float(c), _PREFIXES, 2))


def _polynomial_text(polynomial: dict[int, Fraction], dim: str) -> str:
    parts = []
    for k, c in sorted(polynomial.items()):
        power = "" if k == 0 else dim + _SUPERSCRIPTS.get(k, f"^{k}" if k > 1 else "")
        number = _number(abs(c))
        term = number if k == 0 else (power if number == "1" else f"{number}·{power}")
        parts.append(("- " if c < 0 else "+ ") + term)
    text = " ".join(parts)
    return text[2:] if text.startswith("+ ") else "-" + text[2:]
