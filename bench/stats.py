"""Percentiles and Markdown tables."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass


def percentile(samples: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100), like numpy's default."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass(frozen=True)
class Summary:
    n: int
    p50: float
    p99: float
    lo: float
    hi: float

    @classmethod
    def of(cls, samples: list[float]) -> Summary:
        if not samples:
            return cls(0, math.nan, math.nan, math.nan, math.nan)
        return cls(
            len(samples),
            statistics.median(samples),
            percentile(samples, 99),
            min(samples),
            max(samples),
        )

    def spread(self, unit: str = "ms", digits: int = 1) -> str:
        return f"{self.lo:.{digits}f}–{self.hi:.{digits}f} {unit}"


def ms(seconds: list[float]) -> list[float]:
    return [s * 1000 for s in seconds]


def fmt(value: float, digits: int = 1, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    text = f"{value:,.{digits}f}"
    return f"{text} {unit}".strip()


def met(ok: bool | None) -> str:
    if ok is None:
        return "n/a"
    return "yes" if ok else "**no**"


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]
    notes: list[str]

    def markdown(self) -> str:
        lines = [f"### {self.title}", ""]
        lines.append("| " + " | ".join(self.header) + " |")
        lines.append("|" + "|".join("---" for _ in self.header) + "|")
        lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in self.rows]
        if self.notes:
            lines.append("")
            lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"
