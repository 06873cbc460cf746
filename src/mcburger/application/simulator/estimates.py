"""Estimates at placement, taken the way the live analytics consumer takes them, and the naive
baseline they are judged against.

``PlacementObserver`` follows the log in order with the same ``RestaurantMirror`` the analytics
consumer uses (both aggregates rebuilt, times learned, requests not queued yet). Once a
placement's events are in, ``estimate`` asks the live estimator with exactly that state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mcburger.application.analytics.mirror import RestaurantMirror
from mcburger.domain.events import Event
from mcburger.domain.menu import Menu
from mcburger.domain.ordering import OrderStatus


@dataclass(frozen=True)
class PlacementEstimate:
    """Both estimates of one order's wait, in seconds after its placement, and our range."""

    ours: float
    naive: float
    low: float = 0.0  # 10th percentile
    high: float = 0.0  # 90th percentile


class PlacementObserver:
    """What the analytics consumer knows after each event, for estimates at placement."""

    def __init__(self, menu: Menu, restaurant_id: str) -> None:
        self.mirror = RestaurantMirror(restaurant_id, menu)
        self._menu_mean = sum(item.prep_seconds for item in menu) / len(menu)
        # order number -> (when, estimated ready time) each time its latest estimate moved
        self.history: dict[int, list[tuple[datetime, datetime]]] = {}

    def apply(self, event: Event) -> None:
        self.mirror.apply(event)

    def estimate(self, number: int, now: datetime) -> PlacementEstimate:
        """Order ``number``'s estimates, right after the events of its placement."""
        estimates = self.mirror.estimate(now)
        self.mirror.placed(number, estimates, now)
        ours = self.mirror.ready_range(estimates, number, now)
        self.follow(now)
        return PlacementEstimate(
            ours=(ours.at - now).total_seconds(), naive=self.naive_wait(number),
            low=(ours.low - now).total_seconds(), high=(ours.high - now).total_seconds())

    def follow(self, now: datetime) -> None:
        """Note every waiting order's latest estimate as of ``now`` (where it moved)."""
        estimates = self.mirror.estimate(now)
        for number in estimates:
            at = self.mirror.ready_range(estimates, number, now).at
            noted = self.history.setdefault(number, [])
            if not noted or noted[-1][1] != at:
                noted.append((now, at))

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
        mirror = self.mirror
        if mirror.ordering.orders[number].status in (OrderStatus.READY, OrderStatus.COLLECTED):
            return 0.0
        requests = mirror.unaccepted.values()
        own = sum(quantity for n, _, quantity in requests if n == number)
        earlier = sum(quantity for n, _, quantity in requests if n != number)
        ahead = len(mirror.kitchen.queue) + len(mirror.kitchen.working) + earlier
        mean = (mirror.prepared_kitchen_seconds / mirror.prepared_units
                if mirror.prepared_units else self._menu_mean)
        return ((ahead + own) * mean / mirror.times.speed
                / max(1, mirror.kitchen.setup.workers))
