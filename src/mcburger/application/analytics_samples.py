"""Samples of durations and what analytics reports of them: mean, p50, p90 and max.

Figures are rounded to milliseconds (``rounded``) before they go into a document.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from mcburger.application.ports import JSON


def percentile(ordered: Sequence[float], fraction: float) -> float | None:
    """Linear interpolation between the closest ranks of sorted samples (numpy's default)."""
    if not ordered:
        return None
    rank = fraction * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def rounded(value: float | None) -> float | None:
    """A figure as documents hold it (None stays None)."""
    # Milliseconds: enough for a chart, and stable under float noise.
    return None if value is None else round(value, 3)


class Samples:
    """Durations kept sorted (a day is thousands of samples), for means and percentiles."""

    def __init__(self) -> None:
        self.ordered: list[float] = []
        self.total = 0.0

    def add(self, value: float) -> None:
        bisect.insort(self.ordered, value)
        self.total += value

    def stats(self, suffix: str = "seconds") -> JSON:
        """``mean_``, ``p50_``, ``p90_`` and ``max_<suffix>`` (None without samples)."""
        count = len(self.ordered)
        return {f"mean_{suffix}": rounded(self.total / count) if count else None,
                f"p50_{suffix}": rounded(percentile(self.ordered, 0.5)),
                f"p90_{suffix}": rounded(percentile(self.ordered, 0.9)),
                f"max_{suffix}": rounded(self.ordered[-1]) if count else None}


@dataclass
class Durations:
    """One kind of wait, measured both in kitchen seconds and in wall seconds."""

    kitchen: Samples = field(default_factory=Samples)
    wall: Samples = field(default_factory=Samples)

    def add(self, kitchen_seconds: float, wall_seconds: float) -> None:
        self.kitchen.add(kitchen_seconds)
        self.wall.add(wall_seconds)

    def stats(self, kind: str = "") -> JSON:
        """The count, then the kitchen figures (``<kind>seconds``) and the wall ones
        (``<kind>wall_seconds``)."""
        return {"count": len(self.kitchen.ordered), **self.kitchen.stats(f"{kind}seconds"),
                **self.wall.stats(f"{kind}wall_seconds")}
