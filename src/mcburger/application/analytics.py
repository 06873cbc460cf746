"""The analytics consumer: learns preparation times from events and keeps every order's
estimated ready time (at placement, latest, and actual) in the read models."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from mcburger.application.ports import JSON, EventStore, ReadModelStore, RecordedEvent
from mcburger.application.projection import DocumentBatch
from mcburger.domain.estimates import ItemTimes, estimate_ready_times
from mcburger.domain.events import (
    Event,
    KitchenConfigured,
    KitchenEvent,
    KitchenUnitsRequested,
    OrderEvent,
    OrderPlaced,
    PreparationStarted,
    UnitAllocated,
    UnitPrepared,
    UnitQueued,
    UnitsCovered,
)
from mcburger.domain.kitchen import Kitchen
from mcburger.domain.menu import Menu
from mcburger.domain.ordering import Ordering, OrderStatus

CONSUMER = "analytics"
ESTIMATES, ITEM_STATS = "estimates", "item_stats"


class Analytics:
    """Mirrors ordering and kitchen from the log (never from their services) to estimate.

    Its in-memory state is rebuilt from the whole log at start-up; only documents for events
    after its checkpoint are written, so a restart changes nothing already recorded.
    """

    def __init__(self, events: EventStore, store: ReadModelStore, menu: Menu,
                 restaurant_id: str) -> None:
        self._events = events
        self._store = store
        self._menu = menu
        self._restaurant_id = restaurant_id
        self._reset()

    def _reset(self) -> None:
        self.ordering = Ordering(self._restaurant_id, self._menu)
        self.kitchen = Kitchen(self._restaurant_id, self._menu, seed=0)
        self.times = ItemTimes(self._menu)
        self._started: dict[str, datetime] = {}
        self._estimates: dict[int, JSON] = {}  # orders not READY yet -> their document
        self._placed: list[int] = []  # placed, no estimate yet
        self._placement_seen: dict[int, int] = {}  # units of a new order accounted for
        self._unaccepted: dict[tuple[str, str], tuple[int, str, int]] = {}  # by (order, item)
        self._position = 0

    async def start(self) -> int:
        """Rebuild memory from the log up to the checkpoint; return the checkpoint."""
        self._reset()
        checkpoint = await self._store.checkpoint(CONSUMER)
        position = 0
        while position < checkpoint:
            batch = [record for record in await self._events.read_all(position, 1000)
                     if record.position <= checkpoint]
            if not batch:
                break
            for record in batch:
                self._learn(record.event)
            position = batch[-1].position
        self._position = checkpoint
        placed, self._placed = set(self._placed), []
        for number, order in self.ordering.orders.items():
            if order.status in (OrderStatus.REQUESTED, OrderStatus.IN_PROGRESS):
                document = await self._store.get(ESTIMATES, str(number))
                if document is not None:
                    self._estimates[number] = document
                elif number in placed:  # its placement straddled the checkpoint
                    self._placed.append(number)
        self._placement_seen = {n: self._placement_seen[n] for n in self._placed}
        return checkpoint

    async def handle(self, batch: Sequence[RecordedEvent]) -> None:
        docs = DocumentBatch(self._store)
        batch = [record for record in batch if record.position > self._position]
        if not batch:
            return  # a redelivery within this process: already learned
        self._position = batch[-1].position
        for index, record in enumerate(batch):
            self._learn(record.event)
            following = batch[index + 1] if index + 1 < len(batch) else None
            if following is None or following.event.occurred_at != record.event.occurred_at:
                self._estimate(docs, record)  # after each instant: one decision's events
            if isinstance(record.event, UnitPrepared):
                item = record.event.item
                docs.put(ITEM_STATS, item, list(self._menu).index(self._menu[item]),
                         record.position, {"item": item, "count": self.times.count[item],
                                           "mean_seconds": self.times.mean_observed(item)})
        await docs.commit(CONSUMER, batch[-1].position)

    def _learn(self, event: Event) -> None:
        match event:
            case OrderPlaced():
                self._placed.append(event.number)
                self._placement_seen[event.number] = 0
            case UnitAllocated(source="stock"):
                self._note_placement(event.number, 1)
            case KitchenUnitsRequested():
                self._note_placement(event.number, event.quantity)
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
                    self.times.observe(event.item,
                                       (event.occurred_at - started).total_seconds())

    def _note_placement(self, number: int, units: int) -> None:
        if number in self._placement_seen:
            self._placement_seen[number] += units

    def _accepted(self, order_id: str, item: str, units: int) -> None:
        number, _, remaining = self._unaccepted.pop((order_id, item), (0, item, 0))
        if remaining > units:
            self._unaccepted[(order_id, item)] = (number, item, remaining - units)

    def _estimate(self, docs: DocumentBatch, record: RecordedEvent) -> None:
        now, position = record.event.occurred_at, record.position
        unaccepted = [(item, quantity) for _, item, quantity in sorted(self._unaccepted.values())]
        estimates = estimate_ready_times(now, self.ordering, self.kitchen, self.times, unaccepted)
        waiting_placement = []
        for number in self._placed:
            order = self.ordering.orders[number]
            total = sum(line.quantity for line in order.lines)
            # A batch may end inside a placement's events: estimate once all of them are seen.
            if self._placement_seen[number] < total and order.status is not OrderStatus.READY:
                waiting_placement.append(number)
                continue
            del self._placement_seen[number]
            self._estimates.setdefault(number, {})
        self._placed = waiting_placement
        for number, previous in list(self._estimates.items()):
            order = self.ordering.orders[number]
            document = dict(previous)
            estimate = estimates.get(number, now).isoformat()
            if not document:
                document = {"number": number, "order_id": order.order_id,
                            "placed_at": order.placed_at.isoformat(),
                            "estimated_at_placement": estimate, "estimated_ready_at": estimate,
                            "ready_at": None}
            if order.status in (OrderStatus.READY, OrderStatus.COLLECTED):
                document["ready_at"] = document["ready_at"] or now.isoformat()
                document["estimated_ready_at"] = document["ready_at"]
                del self._estimates[number]
            else:
                document["estimated_ready_at"] = estimate
                self._estimates[number] = document
            if document != previous:  # most estimates hold still: write only what moved
                docs.put(ESTIMATES, str(number), number, position, document)
