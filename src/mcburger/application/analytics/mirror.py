"""Ordering and the kitchen as the log tells them: what the ready-time estimator works on.

Shared by the analytics consumer and the day simulator, so the simulator measures exactly the
estimates the live system makes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mcburger.domain.estimates import (
    Calibration,
    Estimates,
    FavouriteDemand,
    Forecast,
    ItemTimes,
)
from mcburger.domain.events import (
    Event,
    KitchenConfigured,
    KitchenEvent,
    KitchenUnitsRequested,
    OrderEvent,
    OrderReady,
    PreparationStarted,
    UnitAllocated,
    UnitPrepared,
    UnitQueued,
    UnitsCovered,
    UnitStocked,
)
from mcburger.domain.kitchen import Kitchen
from mcburger.domain.menu import Menu
from mcburger.domain.ordering import Ordering

# Event types (none is subclassed) after which the forecast's plan must be made again; a set
# lookup, not an isinstance chain: this runs for every event of a rebuild.
_MOVES_THE_PLAN = frozenset({PreparationStarted, UnitPrepared, UnitStocked, UnitsCovered,
                             KitchenConfigured})

Request = tuple[int, str, int]  # (order number, item, units the kitchen has not queued yet)


@dataclass(frozen=True)
class Placement:
    """What the model said when an order was placed: its estimate (before calibration),
    spread, how many seconds ahead it looked, and the range the customer was given."""

    estimated: datetime
    spread: float
    ahead: float
    low: datetime
    high: datetime

    def state(self) -> list[Any]:
        return [self.estimated.isoformat(), self.spread, self.ahead, self.low.isoformat(),
                self.high.isoformat()]

    @classmethod
    def restored(cls, held: list[Any]) -> Placement:
        estimated, spread, ahead, low, high = held
        return cls(datetime.fromisoformat(estimated), float(spread), float(ahead),
                   datetime.fromisoformat(low), datetime.fromisoformat(high))


@dataclass(frozen=True)
class ReadyRange:
    """An order's estimated ready time and its range: 8 orders in 10 are ready between
    ``low`` and ``high`` (the 10th and 90th percentiles, calibrated), ``at`` is the median."""

    low: datetime
    at: datetime
    high: datetime


class RestaurantMirror:
    """Both aggregates rebuilt event by event (ordering's events are also *observed* by the
    mirrored kitchen, as the real one does), preparation times learned from each
    PreparationStarted/UnitPrepared pair, and the requests the kitchen has not queued yet
    (an observer may be a little ahead of the kitchen)."""

    def __init__(self, restaurant_id: str, menu: Menu) -> None:
        self.ordering = Ordering(restaurant_id, menu)
        self.kitchen = Kitchen(restaurant_id, menu, seed=0)
        self.times = ItemTimes(menu)
        self.unaccepted: dict[tuple[str, str], Request] = {}  # by (order id, item)
        self.prepared_units = 0
        self.prepared_kitchen_seconds = 0.0
        self._started: dict[str, datetime] = {}
        self.demand = FavouriteDemand()
        self.calibration = Calibration()
        # order number -> the model's estimate at placement, its spread, how many seconds
        # ahead it looked, and the range given, until READY
        self._at_placement: dict[int, Placement] = {}
        self.forecast = Forecast()

    def apply(self, event: Event) -> None:
        """Take in the next event of the log."""
        match event:
            case KitchenUnitsRequested():
                self.unaccepted[(event.order_id, event.item)] = (
                    event.number, event.item, event.quantity)
                waiting = self.ordering.waiting.get(event.item, ())
                self.forecast.requested(event.number, event.item, len(waiting), event.quantity)
            case UnitQueued():
                self._accepted(event.order_id, event.item, 1)
            case UnitsCovered():
                self._accepted(event.order_id, event.item, event.quantity)
                self.demand.observe(event.occurred_at, event.item, event.quantity)
            case UnitAllocated(source="stock"):
                self.demand.observe(event.occurred_at, event.item, 1)
            case OrderReady():
                if (placed := self._at_placement.pop(event.number, None)) is not None:
                    ready = event.occurred_at
                    self.calibration.observe(
                        placed.ahead + (ready - placed.estimated).total_seconds(), placed.ahead,
                        placed.spread, not placed.low <= ready <= placed.high)
        kind = type(event)
        if kind in _MOVES_THE_PLAN or (isinstance(event, UnitAllocated)
                                       and event.source == "kitchen"):
            # anything but a new request (or a unit taken from stock) moves the plan
            self.forecast.stale = True
        if isinstance(event, OrderEvent):
            self.ordering.apply(event)
            self.kitchen.observe(event)
        elif isinstance(event, KitchenEvent):
            self.kitchen.apply(event)
        match event:
            case KitchenConfigured():
                self.times.speed = self.demand.speed = event.speed
            case PreparationStarted():
                self._started[event.preparation_id] = event.occurred_at
            case UnitPrepared():
                started = self._started.pop(event.preparation_id, None)
                if started is not None:
                    seconds = (event.occurred_at - started).total_seconds()
                    self.times.observe(event.item, seconds)
                    self.prepared_units += 1
                    self.prepared_kitchen_seconds += seconds * self.times.speed

    def estimate(self, now: datetime) -> Estimates:
        """Every waiting order's expected ready time, as of ``now``; ``forecast.changed``
        says which moved (None: any may have)."""
        def unaccepted() -> list[tuple[str, int]]:  # O(requests): only for a whole simulation
            # in the order ordering asked (the dict keeps it), as the kitchen will queue them
            return [(item, quantity) for _, item, quantity in self.unaccepted.values()]

        return self.forecast.estimate(now, self.ordering, self.kitchen, self.times, unaccepted,
                                      self.demand)

    def ready_range(self, estimates: Estimates, number: int, now: datetime) -> ReadyRange:
        """Order ``number``'s calibrated estimate (``now`` when it waits for nothing)."""
        if number not in estimates:
            return ReadyRange(now, now, now)
        offset = (estimates[number] - now).total_seconds()
        # Under FF.1 the plan foresees the *mean* delay the refills cause, and that delay is
        # skewed (mostly small, sometimes long): its median, what minimises the absolute
        # error, is learned. With FF.1 off the plan's errors are symmetric (preparation
        # times vary evenly around their mean), and moving the point only adds noise.
        low, at, high = self.calibration.range(offset, estimates.spread(number),
                                               median=self.kitchen.setup.favorites_first)
        return ReadyRange(now + timedelta(seconds=low), now + timedelta(seconds=at),
                          now + timedelta(seconds=high))

    def placed(self, number: int, estimates: Estimates, now: datetime) -> ReadyRange:
        """Order ``number``'s estimate at placement (``now``), taken from ``estimates``: its
        error, once READY, calibrates the ranges to come."""
        given = self.ready_range(estimates, number, now)
        if number in estimates and (spread := estimates.spread(number)) > 0:
            self._at_placement[number] = Placement(
                estimates[number], spread, (estimates[number] - now).total_seconds(),
                given.low, given.high)
        return given

    def at_placement(self, number: int) -> Placement | None:
        """What the model said at placement of an order not READY yet."""
        return self._at_placement.get(number)

    def remember_placement(self, number: int, placement: Placement) -> None:
        """An estimate at placement read back from its document (at a restart)."""
        if placement.spread > 0:
            self._at_placement.setdefault(number, placement)

    def forget_placements_but(self, numbers: set[int]) -> None:
        """Keep only these orders' estimates at placement (the others are READY)."""
        self._at_placement = {n: v for n, v in self._at_placement.items() if n in numbers}

    def state(self) -> dict[str, Any]:
        """The mirror as plain data (for the analytics snapshot)."""
        return {"ordering": self.ordering.snapshot_state(),
                "kitchen": self.kitchen.snapshot_state(),
                "times": {"speed": self.times.speed, "count": dict(self.times.count),
                          "total": dict(self.times.total)},
                "unaccepted": [[order_id, item, *rest[::2]]
                               for (order_id, item), rest in self.unaccepted.items()],
                "prepared": [self.prepared_units, self.prepared_kitchen_seconds],
                "started": {pid: at.isoformat() for pid, at in self._started.items()},
                "demand": self.demand.state(),
                "calibration": self.calibration.state(),
                "at_placement": {str(n): placement.state()
                                 for n, placement in self._at_placement.items()}}

    def restore(self, state: dict[str, Any]) -> None:
        self.ordering.restore(state["ordering"], 0)
        self.kitchen.restore(state["kitchen"], 0)
        times = state["times"]
        self.times.speed = self.demand.speed = float(times["speed"])
        self.times.count.update({str(k): int(v) for k, v in times["count"].items()})
        self.times.total.update({str(k): float(v) for k, v in times["total"].items()})
        self.unaccepted = {(str(o), str(i)): (int(n), str(i), int(q))
                           for o, i, n, q in state["unaccepted"]}
        self.prepared_units = int(state["prepared"][0])
        self.prepared_kitchen_seconds = float(state["prepared"][1])
        self._started = {str(pid): datetime.fromisoformat(at)
                         for pid, at in state["started"].items()}
        # A snapshot from before the FF.1 forecast and the ranges has none of these: they are
        # learned again from the events that follow.
        self.demand.restore(state.get("demand", []))
        self.calibration.restore(state.get("calibration", {}))
        self._at_placement = {int(n): Placement.restored(held)
                              for n, held in state.get("at_placement", {}).items()}

    def _accepted(self, order_id: str, item: str, units: int) -> None:
        number, _, remaining = self.unaccepted.get((order_id, item), (0, item, 0))
        if remaining > units:  # assigning in place keeps its place in the asking order
            self.unaccepted[(order_id, item)] = (number, item, remaining - units)
        else:
            self.unaccepted.pop((order_id, item), None)
