"""Ready-time estimates: a forward simulation of the kitchen with learned preparation times.

From the current state (who is cooking what since when, which units each waiting order still
needs, which favourites are missing) the estimator replays the kitchen's own rules with expected
durations instead of random ones: in-flight units finish at their expected time, missing units
are made in FIFO order of placement by the earliest free worker (favourite refills first under
FF.1), and each unit of an item goes to the oldest order waiting for that item. An order's
estimate is when its last missing unit is expected.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from mcburger.domain.kitchen import Kitchen
from mcburger.domain.menu import Menu
from mcburger.domain.ordering import Ordering


@dataclass
class ItemTimes:
    """Observed preparation times per item, shrunk towards the menu's time while data is thin.

    Kept in kitchen seconds (wall seconds x speed factor), so runs at different speeds share
    what they learned; ``expected`` answers in wall seconds at the current speed.
    """

    menu: Menu
    speed: float = 1.0
    prior_weight: float = 3.0

    def __post_init__(self) -> None:
        self.count: dict[str, int] = defaultdict(int)
        self.total: dict[str, float] = defaultdict(float)

    def observe(self, item: str, wall_seconds: float) -> None:
        self.count[item] += 1
        self.total[item] += wall_seconds * self.speed

    def expected(self, item: str) -> float:
        prior, weight = self.menu[item].prep_seconds, self.prior_weight
        blended = (prior * weight + self.total[item]) / (weight + self.count[item])
        return blended / self.speed

    def mean_observed(self, item: str) -> float | None:
        """Mean observed kitchen seconds (independent of the speed factor)."""
        return self.total[item] / self.count[item] if self.count[item] else None


def estimate_ready_times(now: datetime, ordering: Ordering, kitchen: Kitchen,
                         expected: Mapping[str, float] | ItemTimes,
                         unaccepted: Sequence[tuple[str, int]] = ()) -> dict[int, datetime]:
    """Expected ready time of every order still waiting for units, keyed by order number.

    ``unaccepted`` lists ``(item, quantity)`` requests ordering made that the kitchen has not
    queued yet (an observer a little behind the kitchen), in placement order.
    """
    def seconds(item: str) -> float:
        return expected.expected(item) if isinstance(expected, ItemTimes) else expected[item]

    supply: dict[str, list[float]] = defaultdict(list)  # per item: when units come out (s)
    free_at: list[float] = []
    working_items: dict[str, int] = defaultdict(int)
    for worker in kitchen.workers:
        prep = kitchen.working.get(worker)
        if prep is None:
            free_at.append(0.0)
            continue
        elapsed = (now - prep.started_at).total_seconds()
        done = max(0.0, seconds(prep.item) - elapsed)
        supply[prep.item].append(done)
        working_items[prep.item] += 1
        free_at.append(done)
    for item, count in kitchen.in_flight.items():
        # prepared, not yet handed on by ordering: available now
        supply[item].extend([0.0] * max(0, count - working_items[item]))
    if not free_at:
        free_at = [0.0]
    heapq.heapify(free_at)

    def make(item: str) -> None:
        start = heapq.heappop(free_at)
        heapq.heappush(free_at, start + seconds(item))
        supply[item].append(start + seconds(item))

    if kitchen.setup.favorites_first:
        for favourite in kitchen.menu.favorites:
            for _ in range(kitchen.refill_need(favourite.id)):
                make(favourite.id)
    # The kitchen makes its queue in order (even a unit a refill made redundant: it then goes to
    # stock), then whatever it has not queued yet.
    for unit in kitchen.queue:
        make(unit.item)
    for item, quantity in unaccepted:
        for _ in range(quantity):
            make(item)

    ready: dict[int, float] = {}
    for item, waiting in ordering.waiting.items():
        times = sorted(supply[item])
        for index, number in enumerate(waiting):
            # more owed than supplied can only be a view lagging behind: assume one more round
            offset = times[index] if index < len(times) else (
                (times[-1] if times else 0.0) + seconds(item) * (index - len(times) + 1))
            ready[number] = max(ready.get(number, 0.0), offset)
    return {number: now + timedelta(seconds=offset) for number, offset in ready.items()}
