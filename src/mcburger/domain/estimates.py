"""Ready-time estimates: a forward simulation of the kitchen with learned preparation times.

From the current state (who is cooking what since when, which units each waiting order still
needs, which favourites are missing) the estimator replays the kitchen's own rules with expected
durations instead of random ones: in-flight units finish at their expected time, missing units
are made in FIFO order of placement by the earliest free worker (favourite refills first under
FF.1), and each unit of an item goes to the oldest order waiting for that item. An order's
estimate is when its last missing unit is expected.

Under FF.1 a refill also jumps ahead of the queue whenever a *later* customer takes a favourite
from stock, so the plan interleaves the refills that ``FavouriteDemand`` foresees at the rate
it learned from the log: a queued unit's start is pushed back by the favourite work expected to
arrive before it (for a FIFO class behind a priority class, the wait stretches by about
``1 / (1 - favourite load)``: the "delay busy period" of priority queueing).
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

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


class FavouriteDemand:
    """How fast later customers take favourites from stock (or from a refill already in
    preparation): under FF.1 each such unit is a refill made before any queued order unit.

    Learned from the log over the last ``window`` takings (``UnitAllocated`` from stock and
    ``UnitsCovered``), so it follows the hour's mix and pace; O(window) memory, and ``rates``
    costs O(1) (measured once per taking). Rates are per wall second at the speed in force.
    """

    def __init__(self, window: int = 100, min_span_seconds: float = 1800.0) -> None:
        self.window = window
        # A few takings close together say little about the hour's pace: the rate is counted
        # over at least this much kitchen time (more, once the window spans more).
        self.min_span_seconds = min_span_seconds
        self.speed = 1.0
        self.taken: deque[tuple[datetime, str, int]] = deque(maxlen=window)
        self._rates: dict[str, float] | None = {}

    def observe(self, at: datetime, item: str, quantity: int) -> None:
        """``quantity`` units of favourite ``item`` were taken at ``at``."""
        if self.taken and at < self.taken[-1][0]:
            at = self.taken[-1][0]  # another process's clock may lag a little
        self.taken.append((at, item, quantity))
        self._rates = None

    def rates(self) -> dict[str, float]:
        """Units per second, by favourite (empty until two takings span some time)."""
        if self._rates is None:  # measured when first asked after a taking: O(window)
            self._rates = self._measure()
        return self._rates

    def _measure(self) -> dict[str, float]:
        if len(self.taken) < 2:
            return {}
        span = max((self.taken[-1][0] - self.taken[0][0]).total_seconds(),
                   self.min_span_seconds / self.speed)
        units: dict[str, float] = defaultdict(float)
        for index, (_, item, quantity) in enumerate(self.taken):
            if index:  # the span starts at the first taking: count the ones after it
                units[item] += quantity
        return {item: count / span for item, count in units.items()}

    def state(self) -> list[list[object]]:
        return [[at.isoformat(), item, quantity] for at, item, quantity in self.taken]

    def restore(self, state: Sequence[Sequence[object]]) -> None:
        self.taken.clear()
        for at, item, quantity in state:
            self.taken.append((datetime.fromisoformat(str(at)), str(item), int(str(quantity))))
        self._rates = None


# The favourite work a forecast lets jump ahead, at most this share of the workers. Demand
# beyond the kitchen empties the stock, and from then on it waits in the queue like any order
# unit; and the stock runs out most in the long queues where foreseen refills matter most,
# which a plan at the average rate does not see. 0.6 is measured, not derived: from 0.9 to
# 0.6 the MAE under FF.1 fell by about 3 points of the mean wait at 2, 3 and 4 workers
# (benchmarks/estimates.py, default menu, favourites 73 % of the work); the calibration
# corrects what is left, per horizon.
MAX_REFILL_LOAD = 0.6


def estimate_ready_times(now: datetime, ordering: Ordering, kitchen: Kitchen,
                         expected: Mapping[str, float] | ItemTimes,
                         unaccepted: Sequence[tuple[str, int]] = (),
                         demand: FavouriteDemand | None = None) -> dict[int, datetime]:
    """Expected ready time of every order still waiting for units, keyed by order number.

    ``unaccepted`` lists ``(item, quantity)`` requests ordering made that the kitchen has not
    queued yet (an observer a little behind the kitchen), in placement order. ``demand``:
    how fast later customers take favourites from stock (used under FF.1 only).
    """
    return dict(Forecast().estimate(now, ordering, kitchen, expected, unaccepted, demand))


class Estimates(Mapping[int, datetime]):
    """Ready times by order number, computed from the forecast's offsets when asked, and
    each one's spread."""

    def __init__(self, origin: datetime, offsets: dict[int, float],
                 spread: Callable[[int, float], float] = lambda _n, _s: 0.0,
                 now: datetime | None = None) -> None:
        self._origin, self._offsets, self._spread = origin, offsets, spread
        # the plan may be older than the question: spreads grow with the time still ahead
        self._elapsed = 0.0 if now is None else (now - origin).total_seconds()

    def __getitem__(self, number: int) -> datetime:
        return self._origin + timedelta(seconds=self._offsets[number])

    def spread(self, number: int) -> float:
        """The model's standard deviation of order ``number``'s ready time, seconds: the
        spread of the preparation times ahead of it and, under FF.1, of the favourite demand
        that will jump ahead of it (a delay busy period, see ``Forecast``). A scale for
        ``Calibration``, not a calibrated figure itself."""
        return self._spread(number, self._elapsed)

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
        self._demand: tuple[tuple[str, float], ...] = ()  # the rates the plan foresees
        # the next foreseen taking of each favourite: (seconds from the origin, item, gap)
        self._takings: list[tuple[float, str, float]] = []
        self._held: dict[str, int] = {}  # favourites still owed: no taking until supplied
        self._last_item: dict[int, str] = {}  # the item each order's ready time waits on
        self._variances: dict[str, float] = {}  # of one unit's time, by item (s^2)
        self._workers = 1
        # variance the ready time gains per second of plan (s), worked out when first asked
        self._variance_rate: float | None = 0.0
        self._variance_of: tuple[Menu, float, int] | None = None  # what _variances is for

    def requested(self, number: int, item: str, first: int, quantity: int) -> None:
        """Ordering asked the kitchen for ``quantity`` units of ``item`` for order ``number``;
        they wait at ``first``.. of ``ordering.waiting[item]``."""
        self._appended.append((number, item, first, quantity))
        if any(item == favourite for favourite, _ in self._demand):
            self.stale = True  # later takings of it wait for this one: plan them again

    def estimate(self, now: datetime, ordering: Ordering, kitchen: Kitchen,
                 expected: Mapping[str, float] | ItemTimes,
                 unaccepted: Sequence[tuple[str, int]]
                 | Callable[[], Sequence[tuple[str, int]]] = (),
                 demand: FavouriteDemand | None = None) -> Estimates:
        """Every waiting order's expected ready time as of ``now`` (``changed`` tells which
        ones moved since the previous call: all after a whole simulation). ``unaccepted``
        (or a function giving it, asked only for a whole simulation) and ``demand``: as for
        ``estimate_ready_times``."""
        ff1 = kitchen.setup.favorites_first
        refills = tuple(kitchen.refill_need(f.id) for f in kitchen.menu.favorites) if ff1 else ()
        rates = tuple(sorted(demand.rates().items())) if ff1 and demand else ()
        if (self.stale or self._origin is None or self._valid_until is None
                or now > self._valid_until or refills != self._refills
                or rates != self._demand):
            self._simulate(now, ordering, kitchen, expected,
                           unaccepted() if callable(unaccepted) else unaccepted, refills, rates)
            self.changed = None
        else:
            self.changed = self._extend()
        assert self._origin is not None
        return Estimates(self._origin, self._ready, self._spread, now)

    def _spread(self, number: int, elapsed: float) -> float:
        offset = self._ready.get(number, 0.0) - elapsed  # seconds still ahead
        if offset <= 0:
            return 0.0
        if self._variance_rate is None:
            self._variance_rate = self._spread_per_second(self._demand, self._workers)
        own = self._variances.get(self._last_item.get(number, ""), 0.0)
        return math.sqrt(own + offset * self._variance_rate)

    def _simulate(self, now: datetime, ordering: Ordering, kitchen: Kitchen,
                  expected: Mapping[str, float] | ItemTimes,
                  unaccepted: Sequence[tuple[str, int]], refills: tuple[int, ...],
                  rates: tuple[tuple[str, float], ...]) -> None:
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
        self._demand = rates  # the takings start after the units already made
        if self._variance_of != (kitchen.menu, kitchen.setup.speed, kitchen.setup.workers):
            self._variance_of = (kitchen.menu, kitchen.setup.speed, kitchen.setup.workers)
            self._variances = {item.id: item.variance_seconds ** 2 / 3
                               / kitchen.setup.speed ** 2
                               for item in kitchen.menu}  # uniform on base +- variance
        self._workers = kitchen.setup.workers
        owed = {item: len(waiting) for item, waiting in ordering.waiting.items()}
        self._takings, self._held = self._foreseen_takings(rates, kitchen.setup.workers, owed)
        if self._takings or self._held:
            # Takings are foreseen from now on (a Poisson stream has no memory): the plan
            # holds for this instant only, like one with an idle worker.
            self._valid_until = now
        self._variance_rate = None  # only ranges need it: worked out when first asked
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
        self._ready, self._last_item = {}, {}
        for item, waiting in ordering.waiting.items():
            for index, number in enumerate(waiting):
                self._wait_for(number, item, index)

    def _wait_for(self, number: int, item: str, index: int) -> None:
        at = self._unit(item, index)
        if at >= self._ready.get(number, 0.0):
            self._ready[number], self._last_item[number] = at, item

    def _extend(self) -> set[int]:
        changed = set()
        for number, item, first, quantity in self._appended:
            for _ in range(quantity):
                self._make(item)
            self._wait_for(number, item, first + quantity - 1)
            changed.add(number)
        self._appended = []
        return changed

    def _scaled(self, rates: tuple[tuple[str, float], ...],
                workers: int) -> list[tuple[str, float]]:
        """The rates, scaled down to at most ``MAX_REFILL_LOAD`` of the workers' time."""
        known = [(item, rate) for item, rate in rates if rate > 0 and item in self._seconds]
        load = sum(rate * self._seconds[item] for item, rate in known)
        scale = min(1.0, MAX_REFILL_LOAD * max(1, workers) / load) if load > 0 else 1.0
        return [(item, rate * scale) for item, rate in known]

    def _foreseen_takings(self, rates: tuple[tuple[str, float], ...], workers: int,
                          owed: Mapping[str, int],
                          ) -> tuple[list[tuple[float, str, float]], dict[str, int]]:
        """The first foreseen taking of each favourite: one gap from now (the time by which
        the expected count of takings reaches one), then one every gap. A favourite orders
        still wait for is held until the plan has made their units (until then its stock is
        empty, and a later customer's unit waits in the queue behind this one)."""
        takings, held = [], {}
        for item, rate in self._scaled(rates, workers):
            made, waiting = self._supply.get(item, []), owed.get(item, 0)
            if waiting > len(made):
                held[item] = waiting
                continue
            # after the last owed unit already under way (supply is sorted), or from now
            takings.append(((made[waiting - 1] if waiting else 0.0) + 1 / rate, item, 1 / rate))
        heapq.heapify(takings)
        return takings, held

    def _spread_per_second(self, rates: tuple[tuple[str, float], ...], workers: int) -> float:
        """Variance a ready time gains per second of plan (s^2 / s): the preparation times of
        the units made meanwhile, ``mean(var / time) / workers``, plus under FF.1 the demand
        that jumps ahead, ``sum(rate x time^2) / (workers - load)^2``: the variance of a delay
        busy period over its mean (Takacs), for the workers pooled as one."""
        seconds = [s for s in self._seconds.values() if s > 0]
        preparing = (sum(self._variances.get(item, 0.0) / s for item, s in self._seconds.items()
                         if s > 0) / len(seconds) / max(1, workers)) if seconds else 0.0
        scaled = self._scaled(rates, workers)
        load = sum(rate * self._seconds[item] for item, rate in scaled)
        demand = (sum(rate * self._seconds[item] ** 2 for item, rate in scaled)
                  / (max(1, workers) - load) ** 2) if scaled else 0.0
        return preparing + demand

    def _make(self, item: str) -> None:
        start = heapq.heappop(self._free_at)
        # Under FF.1, a worker free at ``start`` first refills what later customers took.
        while self._takings and self._takings[0][0] <= start:
            at, favourite, gap = self._takings[0]
            heapq.heapreplace(self._takings, (at + gap, favourite, gap))
            heapq.heappush(self._free_at, start + self._seconds[favourite])
            start = heapq.heappop(self._free_at)
        heapq.heappush(self._free_at, start + self._seconds[item])
        made = self._supply.setdefault(item, [])
        made.append(start + self._seconds[item])
        if item in self._held and len(made) >= self._held[item]:  # owed units all planned
            del self._held[item]
            rate = dict(self._scaled(self._demand, len(self._free_at)))[item]
            heapq.heappush(self._takings, (made[-1] + 1 / rate, item, 1 / rate))

    def _unit(self, item: str, index: int) -> float:
        """When the ``index``-th unit ordering waits for of ``item`` comes out (s)."""
        times = self._supply.get(item, [])
        if index < len(times):
            return times[index]
        # more owed than supplied can only be a view lagging behind: assume one more round
        return (times[-1] if times else 0.0) + self._seconds[item] * (index - len(times) + 1)


# The standard normal's 10th, 50th and 90th percentiles: the range before anything is learned.
NORMAL_QUANTILES = (-1.2816, 0.0, 1.2816)
# Before ``Calibration.min_count`` errors the range is the normal's widened to the few errors
# seen, by at most this factor: on a day's first 40 orders (`mcburger simulate --orders 40`,
# seeds 1-5) the normal's ranges held for a median 68 % (FF.1) and 72 % (off) of orders, the
# errors' own ranks alone widened FF.1's to a median 56 minutes (up to 121), and 2.5 gave
# 74 % and 81.5 %.
COLD_WIDENING = 2.5


class Calibration:
    """The estimate's range, learned from how wrong past estimates were (split conformal
    prediction, normalised by the model's spread: Papadopoulos et al. 2008; Lei et al. 2018).

    Each order that becomes READY adds the error of its estimate at placement, in units of the
    spread the model gave it: ``z = (actual - estimated) / spread``. The range of a new
    estimate is ``estimated + q x spread`` for the 10th and 90th percentiles ``q`` of the last
    ``window`` such errors, and its point the 50th (the median minimises the absolute error,
    and corrects a bias the model may have): so 8 orders in 10 fall inside it, whatever the
    mode, as long as the recent past is like the near future. Estimates are calibrated apart
    by how far ahead they look (``HORIZONS``: Mondrian conformal prediction, Vovk et al.
    2005), pooled while a class has fewer than ``min_count`` errors, and until then the
    standard normal's quantiles are used, widened to the finite-sample conformal ranks of
    the few errors seen (at most ``COLD_WIDENING`` times: a new restaurant's first errors,
    in spreads, are the largest it will see). O(window) memory per class; a new error costs
    O(window), a range O(1).

    The recent past is not quite the near future (a queue builds up and drains; errors
    arrive a wait late), so the share left outside is also steered (adaptive conformal
    inference, Gibbs and Candes 2021): each range that missed widens the next ones a little,
    each that held narrows them, ``miss += step x (0.2 - missed)``, and the quantiles taken
    are ``miss / 2`` and ``1 - miss / 2``. Over any long stretch the share missed then stays
    within about ``1 / (step x orders)`` of 0.2, whatever the errors do.
    """

    TARGET_MISS = 0.2  # an 80 % range: the 10th to the 90th percentile

    def __init__(self, window: int = 300, min_count: int = 30, step: float = 0.01) -> None:
        self.window, self.min_count, self.step = window, min_count, step
        self.errors: dict[int, deque[float]] = {}  # by horizon class, in arrival order
        self._sorted: dict[int, list[float]] = {}  # the same, sorted
        self._pooled: list[float] = []  # every class's, sorted
        self._quantiles: dict[int, tuple[float, float, float]] = {}  # by class, until observe
        self.miss = self.TARGET_MISS  # the share of outcomes the ranges now leave outside
        self.observed = 0  # errors taken in so far: when it moves, every range may move

    @staticmethod
    def horizon(offset: float) -> int:
        """The class of an estimate ``offset`` seconds ahead (index in ``HORIZONS``)."""
        return bisect.bisect_right(HORIZONS, offset)

    def observe(self, actual: float, estimated: float, spread: float,
                missed: bool | None = None) -> None:
        """An order estimated ``estimated`` seconds after its placement, with ``spread``, was
        ready ``actual`` seconds after it (an estimate with no spread teaches nothing);
        ``missed``: whether it fell outside the range it was given then."""
        if spread <= 0:
            return
        if missed is not None:
            self.miss = min(0.6, max(0.02, self.miss + self.step * (
                self.TARGET_MISS - float(missed))))
        error = (actual - estimated) / spread
        kind = self.horizon(estimated)
        self.observed += 1
        self._quantiles = {}
        errors = self.errors.setdefault(kind, deque())
        ordered = self._sorted.setdefault(kind, [])
        errors.append(error)
        bisect.insort(ordered, error)
        bisect.insort(self._pooled, error)
        if len(errors) > self.window:
            oldest = errors.popleft()
            ordered.pop(bisect.bisect_left(ordered, oldest))
            self._pooled.pop(bisect.bisect_left(self._pooled, oldest))

    def quantiles(self, offset: float) -> tuple[float, float, float]:
        """The 10th, 50th and 90th percentiles of the standardised errors of estimates as far
        ahead as ``offset`` seconds (the same class); all classes pooled until it has
        ``min_count``, the standard normal's until they have."""
        kind = self.horizon(offset)
        if (found := self._quantiles.get(kind)) is not None:
            return found
        values = self._sorted.get(kind, [])
        if len(values) < self.min_count:
            values = self._pooled
        count = len(values)
        if count >= self.min_count:
            found = (_quantile(values, self.miss / 2), _quantile(values, 0.5),
                     _quantile(values, 1 - self.miss / 2))
        elif math.ceil((count + 1) * (1 - self.miss / 2)) <= count:
            low, _, high = NORMAL_QUANTILES
            seen_low = values[max(1, math.floor((count + 1) * self.miss / 2)) - 1]
            seen_high = values[math.ceil((count + 1) * (1 - self.miss / 2)) - 1]
            found = (max(COLD_WIDENING * low, min(low, seen_low)), 0.0,
                     min(COLD_WIDENING * high, max(high, seen_high)))
        else:
            found = NORMAL_QUANTILES
        self._quantiles[kind] = found
        return found

    def range(self, offset: float, spread: float,
              median: bool = True) -> tuple[float, float, float]:
        """``(low, point, high)`` seconds from now for a model estimate ``offset`` seconds
        from now with ``spread``: ordered, none before now. The point is the calibrated
        median with ``median``, else the model's own estimate."""
        low, middle, high = (max(0.0, offset + q * spread) for q in self.quantiles(offset))
        if not median:
            middle = max(0.0, offset)
        return low, max(low, middle), max(low, middle, high)

    def state(self) -> dict[str, Any]:
        return {"miss": self.miss,
                "errors": {str(kind): list(errors) for kind, errors in self.errors.items()}}

    def restore(self, state: Mapping[str, Any]) -> None:
        self.miss = float(state.get("miss", self.TARGET_MISS))
        self.errors = {int(kind): deque(float(e) for e in errors)
                       for kind, errors in state.get("errors", {}).items()}
        self._sorted = {kind: sorted(errors) for kind, errors in self.errors.items()}
        self._pooled = sorted(e for errors in self.errors.values() for e in errors)
        self._quantiles = {}


# Estimates are calibrated by how far ahead they look (seconds): a wait of one or two units
# errs differently from one behind a long queue (Mondrian conformal prediction).
HORIZONS = (120.0, 300.0, 600.0)


def _quantile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks of sorted ``values``."""
    at = fraction * (len(values) - 1)
    below = int(at)
    above = min(below + 1, len(values) - 1)
    return values[below] + (values[above] - values[below]) * (at - below)


# How long before READY the latest estimate is judged (kitchen seconds): 5, 2 and 1 minute.
BEFORE_READY = (300, 120, 60)


def errors_before_ready(placed: datetime, ready: datetime,
                        history: Sequence[tuple[datetime, datetime]],
                        speed: float = 1.0) -> dict[int, float]:
    """Actual minus the latest estimated ready time ``s`` kitchen seconds before READY, in
    kitchen seconds, for each ``s`` of ``BEFORE_READY`` the order was already placed at.
    ``history`` lists (when, estimated ready time) in time order, each time it moved."""
    errors = {}
    for before in BEFORE_READY:
        then = ready - timedelta(seconds=before / speed)
        if placed > then:
            continue
        latest = None
        for when, at in history:
            if when > then:
                break
            latest = at
        if latest is not None:
            errors[before] = (ready - latest).total_seconds() * speed
    return errors


def forget_before(history: list[tuple[datetime, datetime]], now: datetime,
                  speed: float = 1.0) -> None:
    """Drop what ``errors_before_ready`` can no longer need once the order is READY (at
    ``now`` or later): every entry older than the longest horizon but the newest of them."""
    then = now - timedelta(seconds=max(BEFORE_READY) / speed)
    older = 0
    while older + 1 < len(history) and history[older + 1][0] <= then:
        older += 1
    del history[:older]
