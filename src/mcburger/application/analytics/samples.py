"""Samples of durations and what analytics reports of them: mean, p50, p90 and max.

Figures are rounded to milliseconds (``rounded``) before they go into a document.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fastdigest import TDigest

from mcburger.application.ports import JSON

# Centroids a t-digest keeps: percentiles are exact (numpy's linear interpolation) up to
# about this many samples, and within a fraction of a percent beyond, in bounded memory.
DIGEST_CENTROIDS = 1000


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
    """Durations in a t-digest (``fastdigest``): count, sum and max exact, percentiles exact up
    to ``DIGEST_CENTROIDS`` samples and close beyond, memory bounded whatever the history."""

    def __init__(self, digest: TDigest | None = None) -> None:
        self.digest = digest or TDigest(max_centroids=DIGEST_CENTROIDS)

    @property
    def count(self) -> int:
        return int(self.digest.n_values)

    def add(self, value: float) -> None:
        self.digest.update(value)

    @property
    def size(self) -> int:
        """Centroids held: what the digest costs to write down (at most ``DIGEST_CENTROIDS``)."""
        return int(self.digest.n_centroids)

    def stats(self, suffix: str = "seconds") -> JSON:
        """``mean_``, ``p50_``, ``p90_`` and ``max_<suffix>`` (None without samples)."""
        if not self.count:
            return {f"{name}_{suffix}": None for name in ("mean", "p50", "p90", "max")}
        digest = self.digest
        return {f"mean_{suffix}": rounded(digest.sum() / self.count),
                f"p50_{suffix}": rounded(digest.quantile(0.5)),
                f"p90_{suffix}": rounded(digest.quantile(0.9)),
                f"max_{suffix}": rounded(digest.max())}

    def state(self) -> dict[str, Any]:
        # An empty digest's min and max are infinite, which JSON cannot hold.
        return dict(self.digest.to_dict()) if self.count else {}

    @classmethod
    def restored(cls, state: dict[str, Any]) -> Samples:
        return cls(TDigest.from_dict(state)) if state else cls()


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
        return {"count": self.kitchen.count, **self.kitchen.stats(f"{kind}seconds"),
                **self.wall.stats(f"{kind}wall_seconds")}

    @property
    def size(self) -> int:
        return self.kitchen.size + self.wall.size

    def state(self) -> dict[str, Any]:
        return {"kitchen": self.kitchen.state(), "wall": self.wall.state()}

    @classmethod
    def restored(cls, state: dict[str, Any]) -> Durations:
        return cls(Samples.restored(state["kitchen"]), Samples.restored(state["wall"]))
