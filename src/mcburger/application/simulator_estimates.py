"""Estimates at placement, taken the way the live analytics consumer takes them, and the naive
baseline they are judged against.

``PlacementObserver`` follows the log in order, as ``application.analytics.Analytics`` does: it
rebuilds ordering and the kitchen from the events (ordering's events are also *observed* by its
kitchen), learns ``ItemTimes`` from each PreparationStarted/UnitPrepared pair, and keeps the
requests the kitchen has not queued yet. Once a placement's events are in, ``estimate`` asks
the live estimator (``domain.estimates.estimate_ready_times``) with exactly that state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mcburger.domain.estimates import ItemTimes, estimate_ready_times
from mcburger.domain.events import (
    Event,
    KitchenConfigured,
    KitchenEvent,
    KitchenUnitsRequested,
    OrderEvent,
    PreparationStarted,
    UnitPrepared,
    UnitQueued,
    UnitsCovered,
)
from mcburger.domain.kitchen import Kitchen
from mcburger.domain.menu import Menu
from mcburger.domain.ordering import Ordering, OrderStatus


@dataclass(frozen=True)
class PlacementEstimate:
    """Both estimates of one order's wait, in seconds after its placement."""

    ours: float
    naive: float


class PlacementObserver:
    """What the analytics consumer knows after each event, for estimates at placement."""

    def __init__(self, menu: Menu, restaurant_id: str) -> None:
        self.ordering = Ordering(restaurant_id, menu)
        self.kitchen = Kitchen(restaurant_id, menu, seed=0)
        self.times = ItemTimes(menu)
        self._menu_mean = sum(item.prep_seconds for item in menu) / len(menu)
        self._started: dict[str, datetime] = {}
        self._unaccepted: dict[tuple[str, str], tuple[int, str, int]] = {}  # as analytics
        self._prepared_units = 0
        self._prepared_seconds = 0.0

    def learn(self, event: Event) -> None:
        match event:
            case KitchenUnitsRequested():
                self._unaccepted[(event.order_id, event.item)] = (
                    event.number, event.item, event.quantity)
            case UnitQueued():
                self._accepted(event.order_id, event.item, 1)
            case UnitsCovered():
                self._accepted(event.order_id, event.item, event.quantity)
        if isinstance(event, OrderEvent):
            self.ordering.apply(event)
            self.kitchen.observe(event)
        elif isinstance(event, KitchenEvent):
            self.kitchen.apply(event)
        match event:
            case KitchenConfigured():
                self.times.speed = event.speed
            case PreparationStarted():
                self._started[event.preparation_id] = event.occurred_at
            case UnitPrepared():
                started = self._started.pop(event.preparation_id, None)
                if started is not None:
                    seconds = (event.occurred_at - started).total_seconds()
                    self.times.observe(event.item, seconds)
                    self._prepared_units += 1
                    self._prepared_seconds += seconds * self.times.speed

    def estimate(self, number: int, now: datetime) -> PlacementEstimate:
        """Order ``number``'s estimates, right after the events of its placement."""
        unaccepted = [(item, quantity) for _, item, quantity in sorted(self._unaccepted.values())]
        ours = estimate_ready_times(now, self.ordering, self.kitchen, self.times, unaccepted)
        return PlacementEstimate(
            ours=(ours.get(number, now) - now).total_seconds(),
            naive=self.naive_wait(number))

    def naive_wait(self, number: int) -> float:
        """The naive baseline, in seconds: ``(ahead + own) x mean / workers``, where

        - ``own``: this order's units that stock did not cover at placement (0: it is READY,
          and the baseline is 0 like ours);
        - ``ahead``: units the kitchen has queued or is preparing, plus units requested by
          earlier orders that it has not queued yet;
        - ``mean``: the mean preparation time of every unit prepared so far (kitchen seconds,
          refills included), or the plain mean of the menu's times before the first one;
        - ``workers``: the kitchen's workers.

        It knows the load but not the rules: no stock, no refills, no FIFO per item, no
        per-item times, no progress of the units in preparation.
        """
        order = self.ordering.orders[number]
        if order.status in (OrderStatus.READY, OrderStatus.COLLECTED):
            return 0.0
        own = sum(quantity for n, _, quantity in self._unaccepted.values() if n == number)
        earlier = sum(quantity for n, _, quantity in self._unaccepted.values() if n != number)
        ahead = len(self.kitchen.queue) + len(self.kitchen.working) + earlier
        mean = (self._prepared_seconds / self._prepared_units if self._prepared_units
                else self._menu_mean)
        return (ahead + own) * mean / self.times.speed / max(1, self.kitchen.setup.workers)

    def _accepted(self, order_id: str, item: str, units: int) -> None:
        number, _, remaining = self._unaccepted.pop((order_id, item), (0, item, 0))
        if remaining > units:
            self._unaccepted[(order_id, item)] = (number, item, remaining - units)
