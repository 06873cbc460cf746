"""Preparation-time statistics per menu item: every unit, and the most recent ones.

Not to be confused with the domain's ``ItemTimes``, the learned means the estimator uses.
"""

from __future__ import annotations

from collections import defaultdict, deque

from mcburger.application.analytics.samples import Samples
from mcburger.application.ports import JSON
from mcburger.domain.menu import MenuItem

RECENT_UNITS = 20  # the "recent" window of item statistics


class PreparationStats:
    """Kitchen seconds each unit took to prepare, per item."""

    def __init__(self) -> None:
        self.times: dict[str, Samples] = defaultdict(Samples)
        self.recent: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=RECENT_UNITS))

    def add(self, item: str, kitchen_seconds: float) -> None:
        self.times[item].add(kitchen_seconds)
        self.recent[item].append(kitchen_seconds)

    @property
    def size(self) -> int:
        return sum(samples.size for samples in self.times.values())

    def state(self) -> JSON:
        return {"times": {item: samples.state() for item, samples in self.times.items()},
                "recent": {item: list(values) for item, values in self.recent.items()}}

    def restore(self, state: JSON) -> None:
        for item, samples in state["times"].items():
            self.times[str(item)] = Samples.restored(samples)
        for item, values in state["recent"].items():
            self.recent[str(item)].extend(float(v) for v in values)

    def document(self, item: MenuItem) -> JSON:
        """The item's ``item_stats`` document: count, mean, p50, p90 and max, overall and
        over the last ``RECENT_UNITS`` units (``recent_*``)."""
        samples = self.times[item.id]
        recent = Samples()
        for value in self.recent[item.id]:
            recent.add(value)
        return {"item": item.id, "name": item.name, "menu_seconds": item.prep_seconds,
                "count": samples.count,
                **samples.stats(), "window": RECENT_UNITS, "recent_count": recent.count,
                **{f"recent_{name}": value for name, value in recent.stats().items()}}


def empty_item_stats(item: MenuItem) -> JSON:
    """An item's statistics before its first unit was prepared."""
    return PreparationStats().document(item)
