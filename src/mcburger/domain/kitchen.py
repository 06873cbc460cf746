"""Kitchen: N workers, a FIFO queue of order units, and favourites kept at their stock target.

The kitchen decides from its own stream plus what it *observes* of ordering's events (stock,
units owed, where each prepared unit went). Per item it projects the stock it will end up with::

    projected = stock + in_flight + queued - owed

``in_flight`` counts units being prepared or prepared but not yet handed on by ordering; ``owed``
counts units ordering still waits for. Favourite refills top ``projected`` up to the target, so a
refill that ends up serving an order is replaced and an order unit that ends up in stock is not
made twice. A new request is *covered* (not queued again) by in-flight units that would
otherwise land in stock: the order counts on a refill already in preparation.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from mcburger.domain.aggregate import Aggregate
from mcburger.domain.events import (
    Event,
    KitchenConfigured,
    KitchenUnitsRequested,
    PreparationStarted,
    UnitAllocated,
    UnitPrepared,
    UnitQueued,
    UnitsCovered,
    UnitStocked,
)
from mcburger.domain.menu import Menu


@dataclass(frozen=True)
class KitchenSetup:
    workers: int
    favorites_first: bool = False
    stock_target: int = 3
    speed: float = 1.0


@dataclass(frozen=True)
class QueuedUnit:
    request_id: str
    order_id: str
    number: int
    item: str
    queued_at: datetime


@dataclass(frozen=True)
class Preparation:
    preparation_id: str
    worker: int
    item: str
    started_at: datetime
    duration_seconds: float
    order_id: str | None
    number: int | None

    @property
    def finishes_at(self) -> datetime:
        return self.started_at + timedelta(seconds=self.duration_seconds)


class Kitchen(Aggregate):
    def __init__(self, restaurant_id: str, menu: Menu, seed: int) -> None:
        super().__init__()
        self.restaurant_id = restaurant_id
        self.menu = menu
        self.seed = seed
        self.setup = KitchenSetup(workers=0)
        self.queue: deque[QueuedUnit] = deque()
        self.working: dict[int, Preparation] = {}
        self.started_count = 0
        self.stock: Counter[str] = Counter()
        self.owed: Counter[str] = Counter()
        self.in_flight: Counter[str] = Counter()
        self._in_flight_units: dict[str, str] = {}  # unit id -> item, until ordering hands it on
        self._requests_seen: Counter[tuple[str, str]] = Counter()

    # --- what the kitchen knows -----------------------------------------------------------

    @property
    def workers(self) -> range:
        return range(1, self.setup.workers + 1)

    def queued(self, item: str) -> int:
        return sum(1 for unit in self.queue if unit.item == item)

    def projected_stock(self, item: str) -> int:
        return self.stock[item] + self.in_flight[item] + self.queued(item) - self.owed[item]

    def refill_need(self, item: str) -> int:
        if not self.menu[item].favorite:
            return 0
        return max(0, self.setup.stock_target - self.projected_stock(item))

    def next_finish(self) -> datetime | None:
        return min((p.finishes_at for p in self.working.values()), default=None)

    # --- commands -------------------------------------------------------------------------

    def configure(self, setup: KitchenSetup, now: datetime) -> None:
        if setup != self.setup:
            self._record(KitchenConfigured(
                restaurant_id=self.restaurant_id, occurred_at=now, workers=setup.workers,
                favorites_first=setup.favorites_first, stock_target=setup.stock_target,
                speed=setup.speed))

    def accept_request(self, request: KitchenUnitsRequested, now: datetime) -> None:
        """Queue the requested units, except those covered by units already in preparation."""
        spare = max(0, self.projected_stock(request.item) - self.stock[request.item])
        covered = min(spare, request.quantity)
        if covered:
            self._record(UnitsCovered(
                restaurant_id=self.restaurant_id, occurred_at=now, order_id=request.order_id,
                number=request.number, item=request.item, quantity=covered))
        first = self._requests_seen[(request.order_id, request.item)]
        for index in range(first, first + request.quantity - covered):
            self._record(UnitQueued(
                restaurant_id=self.restaurant_id, occurred_at=now,
                request_id=f"{request.order_id}:{request.item}:{index}",
                order_id=request.order_id, number=request.number, item=request.item))

    def assign_work(self, now: datetime) -> None:
        """Give every idle worker its next unit: FIFO order units, refills when idle (or first)."""
        for worker in self.workers:
            if worker in self.working:
                continue
            refill = self._most_needed_favourite()
            if refill and (self.setup.favorites_first or not self.queue):
                self._start(worker, refill, None, now)
            elif self.queue:
                self._start(worker, self.queue[0].item, self.queue[0], now)
            else:
                return

    def finish_due(self, now: datetime) -> None:
        """Every preparation whose time has come is done; its unit goes to stock.

        The unit is stamped with its due time, not ``now``: after a crash the kitchen learns of
        units that were finished while the process was down, and their real times must not be
        skewed by the outage.
        """
        for prep in sorted(self.working.values(), key=lambda p: (p.finishes_at, p.worker)):
            if prep.finishes_at <= now:
                self._record(UnitPrepared(
                    restaurant_id=self.restaurant_id, occurred_at=prep.finishes_at,
                    preparation_id=prep.preparation_id, worker=prep.worker, item=prep.item))

    def _most_needed_favourite(self) -> str | None:
        needs = [(self.refill_need(item.id), -index, item.id)
                 for index, item in enumerate(self.menu.favorites)]
        best = max(needs, default=(0, 0, ""))
        return best[2] if best[0] > 0 else None

    def _start(self, worker: int, item: str, unit: QueuedUnit | None, now: datetime) -> None:
        preparation_id = f"p{self.started_count + 1}"
        # One generator per preparation, seeded from the run's seed and the preparation's
        # number: a run is reproducible, and so is a kitchen rebuilt after a crash.
        rng = random.Random(f"{self.seed}:{self.restaurant_id}:{preparation_id}")
        seconds = self.menu[item].sample_prep_seconds(rng) / self.setup.speed
        self._record(PreparationStarted(
            restaurant_id=self.restaurant_id, occurred_at=now, preparation_id=preparation_id,
            worker=worker, item=item, duration_seconds=seconds,
            request_id=unit.request_id if unit else None,
            order_id=unit.order_id if unit else None, number=unit.number if unit else None))

    # --- evolution: own events ------------------------------------------------------------

    def apply(self, event: Event) -> None:
        match event:
            case KitchenConfigured():
                self.setup = KitchenSetup(event.workers, event.favorites_first,
                                          event.stock_target, event.speed)
            case UnitQueued():
                self.queue.append(QueuedUnit(event.request_id, event.order_id, event.number,
                                             event.item, event.occurred_at))
                self._requests_seen[(event.order_id, event.item)] += 1
            case PreparationStarted():
                self.started_count += 1
                if event.request_id is not None:
                    self.queue = deque(u for u in self.queue
                                       if u.request_id != event.request_id)
                self.working[event.worker] = Preparation(
                    event.preparation_id, event.worker, event.item, event.occurred_at,
                    event.duration_seconds, event.order_id, event.number)
                self.in_flight[event.item] += 1
                self._in_flight_units[event.preparation_id] = event.item
            case UnitPrepared():
                self.working.pop(event.worker, None)

    # --- evolution: what ordering did -----------------------------------------------------

    def observe(self, event: Event) -> None:
        """Track stock, owed units and hand-overs from ordering's events (no decisions)."""
        match event:
            case KitchenUnitsRequested():
                self.owed[event.item] += event.quantity
            case UnitStocked():
                self.stock[event.item] += 1
                self._landed(event.unit_id)
            case UnitAllocated(source="stock"):
                self.stock[event.item] -= 1
            case UnitAllocated(source="kitchen"):
                self.owed[event.item] -= 1
                self._landed(event.unit_id)

    def _landed(self, unit_id: str | None) -> None:
        item = self._in_flight_units.pop(unit_id or "", None)
        if item is not None:
            self.in_flight[item] -= 1
