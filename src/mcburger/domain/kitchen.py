"""Kitchen: N workers, a FIFO queue of order units, and favourites kept at their stock target.

The kitchen decides from its own stream plus what it *observes* of ordering's events (stock,
units owed, where each prepared unit went). Per item it projects the stock it will end up with::

    projected = stock + in_flight + queued - owed

``in_flight`` counts units being prepared or prepared but not yet handed on by ordering; ``owed``
counts units ordering still waits for. Favourite refills top ``projected`` up to the target, so a
refill that ends up serving an order is replaced and an order unit that ends up in stock is not
made twice. A new request is *covered* (not queued again) by in-flight units that would
otherwise land in stock: the order counts on a refill already in preparation.

Every step costs O(1) in the queue's length (O(workers) or O(menu) at most): units queued per
item are counted as they come and go, and a preparation takes the queue's head (FIFO), so
removing it is a ``popleft``. Only what is live is held: an order's request numbering is
forgotten once the order is READY.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from mcburger.domain.aggregate import Aggregate, State
from mcburger.domain.events import (
    Event,
    KitchenConfigured,
    KitchenUnitsRequested,
    OrderReady,
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
        self._queued: Counter[str] = Counter()  # units in ``queue`` per item
        self.working: dict[int, Preparation] = {}
        self.started_count = 0
        self.stock: Counter[str] = Counter()
        self.owed: Counter[str] = Counter()
        self.in_flight: Counter[str] = Counter()
        self._in_flight_units: dict[str, str] = {}  # unit id -> item, until ordering hands it on
        # per order id, per item: units queued so far (numbers the next request_id); until READY
        self._requests_seen: dict[str, Counter[str]] = {}

    # --- what the kitchen knows -----------------------------------------------------------

    @property
    def workers(self) -> range:
        return range(1, self.setup.workers + 1)

    def queued(self, item: str) -> int:
        return self._queued[item]

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
        first = self._requests_seen.get(request.order_id, Counter())[request.item]
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
                self._queued[event.item] += 1
                self._requests_seen.setdefault(event.order_id, Counter())[event.item] += 1
            case PreparationStarted():
                self.started_count += 1
                if event.request_id is not None:
                    self._dequeue(event.request_id)
                self.working[event.worker] = Preparation(
                    event.preparation_id, event.worker, event.item, event.occurred_at,
                    event.duration_seconds, event.order_id, event.number)
                self.in_flight[event.item] += 1
                self._in_flight_units[event.preparation_id] = event.item
            case UnitPrepared():
                self.working.pop(event.worker, None)

    def _dequeue(self, request_id: str) -> None:
        # assign_work always starts the head (FIFO), so this is a popleft; the scan is only a
        # guard for a stream that says otherwise.
        if self.queue and self.queue[0].request_id == request_id:
            unit = self.queue.popleft()
        else:
            found = [u for u in self.queue if u.request_id == request_id]
            if not found:
                return
            unit = found[0]
            self.queue.remove(unit)
        self._queued[unit.item] -= 1

    # --- evolution: what ordering did -----------------------------------------------------

    def observe(self, event: Event) -> None:
        """Track stock, owed units and hand-overs from ordering's events (no decisions)."""
        self.changes += 1
        match event:
            case OrderReady():
                self._requests_seen.pop(event.order_id, None)
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

    # --- snapshots ------------------------------------------------------------------------

    @property
    def live_size(self) -> int:
        return len(self.queue) + len(self._requests_seen) + len(self._in_flight_units)

    def snapshot_state(self) -> State:
        setup = self.setup
        return {
            "setup": [setup.workers, setup.favorites_first, setup.stock_target, setup.speed],
            "queue": [[u.request_id, u.order_id, u.number, u.item, u.queued_at.isoformat()]
                      for u in self.queue],
            "working": [[p.preparation_id, p.worker, p.item, p.started_at.isoformat(),
                         p.duration_seconds, p.order_id, p.number]
                        for p in sorted(self.working.values(), key=lambda p: p.worker)],
            "started_count": self.started_count,
            "stock": _counts(self.stock), "owed": _counts(self.owed),
            "in_flight": _counts(self.in_flight),
            "in_flight_units": dict(self._in_flight_units),
            "requests_seen": {order: _counts(items)
                              for order, items in self._requests_seen.items()},
        }

    def _restore(self, state: State) -> None:
        workers, favorites_first, stock_target, speed = state["setup"]
        self.setup = KitchenSetup(int(workers), bool(favorites_first), int(stock_target),
                                  float(speed))
        self.queue = deque(QueuedUnit(str(r), str(o), int(n), str(i), datetime.fromisoformat(t))
                           for r, o, n, i, t in state["queue"])
        self._queued = Counter(unit.item for unit in self.queue)
        self.working = {}
        for pid, worker, item, started, seconds, order_id, number in state["working"]:
            self.working[int(worker)] = Preparation(
                str(pid), int(worker), str(item), datetime.fromisoformat(started), float(seconds),
                None if order_id is None else str(order_id),
                None if number is None else int(number))
        self.started_count = int(state["started_count"])
        self.stock, self.owed = _counter(state["stock"]), _counter(state["owed"])
        self.in_flight = _counter(state["in_flight"])
        self._in_flight_units = {str(k): str(v) for k, v in state["in_flight_units"].items()}
        self._requests_seen = {str(order): _counter(items)
                               for order, items in state["requests_seen"].items()}


def _counts(counter: Counter[str]) -> dict[str, int]:
    return {key: n for key, n in counter.items() if n}


def _counter(counts: dict[str, int]) -> Counter[str]:
    return Counter({str(key): int(n) for key, n in counts.items()})
