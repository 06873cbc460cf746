"""The restaurant-day simulator: given arrivals through the real rules on a virtual clock.

``simulate_day`` places each arrival on a ``Simulation`` (the real Ordering and Kitchen
aggregates and policies, time jumping from one preparation to the next, no sleeping), takes
the live estimator's estimate and the naive baseline right after each placement (see
``simulator.estimates``), runs the kitchen until it is quiet, then measures the day from the
log. ``compare`` runs the same arrivals under several kitchen set-ups.

Times are kitchen seconds (the simulation runs at speed 1). Figures are in ``simulator.figures``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from mcburger.application.simulator.bounds import WaitBound, wait_bounds
from mcburger.application.simulator.estimates import PlacementEstimate, PlacementObserver
from mcburger.application.simulator.mix import Arrival
from mcburger.application.simulator.simulation import SIMULATION_START, Simulation
from mcburger.domain.estimates import errors_before_ready
from mcburger.domain.events import (
    Event,
    OrderLine,
    OrderPlaced,
    OrderReady,
    PreparationStarted,
    UnitAllocated,
    UnitPrepared,
    UnitQueued,
)
from mcburger.domain.kitchen import KitchenSetup
from mcburger.domain.menu import Menu

Progress = Callable[[int, int], None]  # (orders placed, orders in all)


@dataclass(frozen=True)
class OrderRecord:
    """One order of the day, seconds since the simulation started (waits: since placement)."""

    number: int
    placed: float
    lines: tuple[OrderLine, ...]
    units: int
    from_stock: int
    wait: float
    estimate: float  # our estimate of the wait, made at placement
    naive: float  # the naive baseline's, made at the same moment
    bound: WaitBound
    low: float = 0.0  # our range at placement: 10th percentile of the wait
    high: float = 0.0  # and 90th
    # seconds before READY -> actual minus the latest estimate then (of the ready time)
    errors_before_ready: dict[int, float] = field(default_factory=dict)

    @property
    def covered(self) -> bool:
        """Whether the wait fell inside the range given at placement."""
        return self.low - 1e-6 <= self.wait <= self.high + 1e-6

    @property
    def error(self) -> float:
        """Actual minus estimated wait: > 0 when the order came later than we said."""
        return self.wait - self.estimate

    @property
    def naive_error(self) -> float:
        return self.wait - self.naive


@dataclass
class DayResult:
    """What happened in one simulated day."""

    setup: KitchenSetup
    orders: list[OrderRecord]
    queue: list[tuple[float, int]]  # (seconds, queue length from then on), one per change
    busy_seconds: float  # worker time spent preparing (refills included)
    makespan: float  # from the start until the kitchen was quiet again
    wall_seconds: float  # real time the simulation took (measuring included, plots not)
    log: list[Event] = field(repr=False)

    @property
    def utilisation(self) -> float:
        return self.busy_seconds / (self.setup.workers * self.makespan) if self.makespan else 0.0


def simulate_day(menu: Menu, arrivals: Sequence[Arrival], setup: KitchenSetup, seed: int,
                 progress: Progress | None = None,
                 stopwatch: Callable[[], float] = time.perf_counter) -> DayResult:
    """Run the arrivals through the kitchen ``setup``; ``seed`` draws preparation times."""
    began = stopwatch()
    setup = replace(setup, speed=1.0)  # kitchen seconds are virtual seconds
    sim = Simulation(menu, setup, seed, start=SIMULATION_START)
    observer = PlacementObserver(menu, sim.ordering.restaurant_id)
    seen = 0
    estimates: dict[int, PlacementEstimate] = {}
    def follow_until(when: datetime | None) -> None:
        """Run the kitchen one finish at a time up to ``when`` (None: until quiet), the
        observer taking every waiting order's latest estimate after each."""
        nonlocal seen
        while (due := sim.kitchen.next_finish()) is not None and (when is None or due <= when):
            sim.advance_to(due)
            for event in sim.log[seen:]:
                observer.apply(event)
            seen = len(sim.log)
            observer.follow(sim.now)
        if when is not None:
            sim.advance_to(when)

    for index, arrival in enumerate(arrivals):
        follow_until(SIMULATION_START + timedelta(seconds=arrival.at_seconds))
        number = sim.place(arrival.lines)
        for event in sim.log[seen:]:
            observer.apply(event)
        seen = len(sim.log)
        estimates[number] = observer.estimate(number, sim.now)
        if progress is not None:
            progress(index + 1, len(arrivals))
    sim.deliver()
    follow_until(None)
    result = _measure(menu, sim, estimates, observer.history)
    result.wall_seconds = stopwatch() - began
    return result


def compare(menu: Menu, arrivals: Sequence[Arrival], setups: Sequence[KitchenSetup], seed: int,
            progress: Callable[[KitchenSetup], Progress | None] | None = None,
            ) -> list[DayResult]:
    """The same arrivals (and seed) under each set-up, e.g. FF.1 off/on x N-1, N, N+1 workers."""
    return [simulate_day(menu, arrivals, setup, seed,
                         progress(setup) if progress is not None else None)
            for setup in setups]


def comparison_setups(setup: KitchenSetup) -> list[KitchenSetup]:
    """FF.1 off and on, with one worker fewer (if any is left), as many, and one more."""
    workers = [n for n in (setup.workers - 1, setup.workers, setup.workers + 1) if n >= 1]
    return [replace(setup, workers=n, favorites_first=ff) for ff in (False, True) for n in workers]


def _measure(menu: Menu, sim: Simulation, estimates: dict[int, PlacementEstimate],
             history: dict[int, list[tuple[datetime, datetime]]]) -> DayResult:
    placed: dict[int, OrderPlaced] = {}
    ready: dict[int, float] = {}
    from_stock: dict[int, int] = {}
    queue: list[tuple[float, int]] = []
    busy = makespan = 0.0
    length = 0
    for event in sim.log:
        at = (event.occurred_at - SIMULATION_START).total_seconds()
        match event:
            case OrderPlaced():
                placed[event.number] = event
            case OrderReady():
                ready[event.number] = at
            case UnitAllocated(source="stock"):
                from_stock[event.number] = from_stock.get(event.number, 0) + 1
            case UnitQueued():
                length += 1
                queue.append((at, length))
            case PreparationStarted():
                busy += event.duration_seconds
                if event.request_id is not None:
                    length -= 1
                    queue.append((at, length))
            case UnitPrepared():
                makespan = max(makespan, at)
    times = {n: (e.occurred_at - SIMULATION_START).total_seconds() for n, e in placed.items()}
    numbers = sorted(placed)
    bounds = wait_bounds(menu, sim.kitchen.setup.workers, sim.kitchen.setup.stock_target,
                         [(times[n], placed[n].lines) for n in numbers])
    records = [OrderRecord(
        number=n, placed=times[n], lines=placed[n].lines,
        units=sum(line.quantity for line in placed[n].lines), from_stock=from_stock.get(n, 0),
        wait=ready[n] - times[n], estimate=estimates[n].ours, naive=estimates[n].naive,
        bound=bound, low=estimates[n].low, high=estimates[n].high,
        errors_before_ready=errors_before_ready(
            placed[n].occurred_at, SIMULATION_START + timedelta(seconds=ready[n]),
            history.get(n, ()))) for n, bound in zip(numbers, bounds, strict=True)]
    return DayResult(sim.kitchen.setup, records, queue, busy, makespan, 0.0, sim.log)
