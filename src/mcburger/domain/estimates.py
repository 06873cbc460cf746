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
import math
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
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
    return dict(Forecast().estimate(now, ordering, kitchen, expected, unaccepted))


class Estimates(Mapping[int, datetime]):
    """Ready times by order number, computed from the forecast's offsets when asked."""

    def __init__(self, origin: datetime, offsets: dict[int, float]) -> None:
        self._origin, self._offsets = origin, offsets

    def __getitem__(self, number: int) -> datetime:
        return self._origin + timedelta(seconds=self._offsets[number])

    def __iter__(self) -> Iterator[int]:
        return iter(self._offsets)

    def __len__(self) -> int:
        return len(self._offsets)


class Forecast:
    """The forward simulation, kept between events.

    ``estimate`` simulates the whole kitchen (O(queue)) only when something other than a new
    request changed since the last time: a preparation started or finished, a unit was handed
    on, times were learned, the refill plan moved (FF.1), or time moved on while the plan
    depended on "now" (a worker idle, a unit running over its expected time, a prepared unit
    not handed on yet). Otherwise every planned time is absolute and still holds exactly, and
    the result does not depend on when it was asked. A new request only
    *extends* it: under FIFO the units already planned keep their times (every worker's next
    start only grows, and one item's units all take the same expected time), so the new units
    are planned after them from the kept worker heap, O(units x log workers). ``stale`` is set
    by whoever mirrors the events; ``requested`` is told of each new request.
    """

    def __init__(self) -> None:
        self.stale = True
        self.simulations = 0  # whole-kitchen simulations run (what a test can count)
        self.changed: set[int] | None = None  # orders the last estimate moved (None: all)
        self._origin: datetime | None = None
        self._valid_until: datetime | None = None
        self._refills: tuple[int, ...] = ()
        self._seconds: dict[str, float] = {}
        self._free_at: list[float] = []
        self._supply: dict[str, list[float]] = {}
        self._ready: dict[int, float] = {}
        self._appended: list[tuple[int, str, int, int]] = []  # (number, item, first, quantity)

    def requested(self, number: int, item: str, first: int, quantity: int) -> None:
        """Ordering asked the kitchen for ``quantity`` units of ``item`` for order ``number``;
        they wait at ``first``.. of ``ordering.waiting[item]``."""
        self._appended.append((number, item, first, quantity))

    def estimate(self, now: datetime, ordering: Ordering, kitchen: Kitchen,
                 expected: Mapping[str, float] | ItemTimes,
                 unaccepted: Sequence[tuple[str, int]]
                 | Callable[[], Sequence[tuple[str, int]]] = ()) -> Estimates:
        """Every waiting order's expected ready time as of ``now`` (``changed`` tells which
        ones moved since the previous call: all after a whole simulation). ``unaccepted``
        (or a function giving it, asked only for a whole simulation): as for
        ``estimate_ready_times``."""
        refills = tuple(kitchen.refill_need(f.id) for f in kitchen.menu.favorites
                        ) if kitchen.setup.favorites_first else ()
        if (self.stale or self._origin is None or self._valid_until is None
                or now > self._valid_until or refills != self._refills):
            self._simulate(now, ordering, kitchen, expected,
                           unaccepted() if callable(unaccepted) else unaccepted, refills)
            self.changed = None
        else:
            self.changed = self._extend()
        assert self._origin is not None
        return Estimates(self._origin, self._ready)

    def _simulate(self, now: datetime, ordering: Ordering, kitchen: Kitchen,
                  expected: Mapping[str, float] | ItemTimes,
                  unaccepted: Sequence[tuple[str, int]], refills: tuple[int, ...]) -> None:
        self.simulations += 1
        self.stale, self._appended, self._origin, self._refills = False, [], now, refills
        self._seconds = ({item.id: expected.expected(item.id) for item in kitchen.menu}
                         if isinstance(expected, ItemTimes) else dict(expected))
        supply: dict[str, list[float]] = defaultdict(list)  # per item: when units come out (s)
        free_at: list[float] = []
        working_items: dict[str, int] = defaultdict(int)
        valid = math.inf  # seconds from now during which the plan holds as it is
        for worker in kitchen.workers:
            prep = kitchen.working.get(worker)
            if prep is None:
                free_at.append(0.0)
                valid = 0.0  # an idle worker starts "now": good for this instant only
                continue
            elapsed = (now - prep.started_at).total_seconds()
            remaining = self._seconds[prep.item] - elapsed
            # Overdue: it finishes "now", which moves on.
            valid = min(valid, max(0.0, remaining))
            done = max(0.0, remaining)
            supply[prep.item].append(done)
            working_items[prep.item] += 1
            free_at.append(done)
        for item, count in kitchen.in_flight.items():
            # prepared, not yet handed on by ordering: available now
            supply[item].extend([0.0] * max(0, count - working_items[item]))
            if count > working_items[item]:
                valid = 0.0
        for times in supply.values():
            times.sort()  # units made from here on only come out later than these
        self._free_at = free_at or [0.0]
        heapq.heapify(self._free_at)
        self._supply = supply
        self._valid_until = (now + timedelta(seconds=valid) if valid < math.inf
                             else datetime.max.replace(tzinfo=now.tzinfo))
        if kitchen.setup.favorites_first:
            for favourite, need in zip(kitchen.menu.favorites, refills, strict=True):
                for _ in range(need):
                    self._make(favourite.id)
        # The kitchen makes its queue in order (even a unit a refill made redundant: it then
        # goes to stock), then whatever it has not queued yet.
        for unit in kitchen.queue:
            self._make(unit.item)
        for item, quantity in unaccepted:
            for _ in range(quantity):
                self._make(item)
        self._ready = {}
        for item, waiting in ordering.waiting.items():
            for index, number in enumerate(waiting):
                self._ready[number] = max(self._ready.get(number, 0.0), self._unit(item, index))

    def _extend(self) -> set[int]:
        changed = set()
        for number, item, first, quantity in self._appended:
            for _ in range(quantity):
                self._make(item)
            self._ready[number] = max(self._ready.get(number, 0.0),
                                      self._unit(item, first + quantity - 1))
            changed.add(number)
        self._appended = []
        return changed

    def _make(self, item: str) -> None:
        start = heapq.heappop(self._free_at)
        heapq.heappush(self._free_at, start + self._seconds[item])
        self._supply.setdefault(item, []).append(start + self._seconds[item])

    def _unit(self, item: str, index: int) -> float:
        """When the ``index``-th unit ordering waits for of ``item`` comes out (s)."""
        times = self._supply.get(item, [])
        if index < len(times):
            return times[index]
        # more owed than supplied can only be a view lagging behind: assume one more round
        return (times[-1] if times else 0.0) + self._seconds[item] * (index - len(times) + 1)
