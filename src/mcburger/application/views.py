"""The views projection: orders, the status board, stock and the kitchen, for the API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from mcburger.application.ports import JSON, ReadModelStore, RecordedEvent
from mcburger.application.projection import DocumentBatch
from mcburger.domain.events import (
    Event,
    KitchenConfigured,
    OrderCollected,
    OrderPlaced,
    OrderReady,
    OrderStarted,
    PreparationStarted,
    UnitAllocated,
    UnitPrepared,
    UnitQueued,
    UnitStocked,
)
from mcburger.domain.menu import Menu
from mcburger.domain.ordering import OrderStatus

# Two consumers with their own checkpoints: orders, board and stock follow ordering's events,
# the kitchen view follows the kitchen's. Each document is shaped by one category only, so the
# two can run at their own pace (on a broker they read different topics).
CONSUMER = "views"  # its checkpoint is the board's version
KITCHEN_CONSUMER = "views-kitchen"
ORDERS, BOARD_CHANGES, STOCK, KITCHEN_VIEW = "orders", "board_changes", "stock", "kitchen"
KITCHEN_KEY = "kitchen"
# The kitchen's queue: one row per unit, keyed by request id, seq = its UnitQueued's position
# (so ``find`` lists it oldest first). A started unit's row stays as a marker at STARTED_SEQ:
# its position then makes the Put guard ignore a redelivered UnitQueued, and the queue is
# read with ``after_seq=STARTED_SEQ``, a range of the seq index holding queued units
# only, however many have been started before. The `kitchen` document keeps the workers, the
# set-up and the queue's length: per event the kitchen view writes O(workers), not O(queue).
KITCHEN_QUEUE = "kitchen_queue"
STARTED_SEQ = 0
# An order's seq is its number while it is on the board (REQUESTED, IN_PROGRESS, READY) and
# ``number - COLLECTED_OFFSET`` (below zero, in the same order) once COLLECTED. The board and the
# lists of orders by status on the board read ``after_seq=ON_BOARD_SEQ``: a range of the seq
# index holding the orders on the board only, however many were collected before (a filter on
# the status alone read every order ever placed: 0.45 s at 200,000 orders, on every board
# snapshot and every kitchen display's poll).
ON_BOARD_SEQ = 0
COLLECTED_OFFSET = 2 ** 40
# Upgrade: orders collected under an earlier release kept seq = number; each batch moves up to
# this many of them below zero, until none is left.
MOVE_COLLECTED_PER_BATCH = 500

_STATUS_OF = {OrderStarted: OrderStatus.IN_PROGRESS, OrderReady: OrderStatus.READY,
              OrderCollected: OrderStatus.COLLECTED}
_STAMP_OF = {OrderStarted: "started_at", OrderReady: "ready_at", OrderCollected: "collected_at"}


class ViewsObserver(Protocol):
    """Told about a batch's newly projected events, then about the documents it wrote (e.g.
    metrics): O(events + documents) a batch."""

    def projected(self, events: Sequence[Event]) -> None: ...

    def written(self, documents: Sequence[tuple[str, JSON]]) -> None: ...


class ViewsProjection:
    def __init__(self, store: ReadModelStore, menu: Menu,
                 observer: ViewsObserver | None = None) -> None:
        self._read_models = store
        self._menu = menu
        self._observer = observer
        self._item_index = {item.id: index for index, item in enumerate(menu)}
        self._collected_moved = False  # no order collected under an earlier release is left

    async def checkpoint(self) -> int:
        return await self._read_models.checkpoint(CONSUMER)

    async def kitchen_checkpoint(self) -> int:
        return await self._read_models.checkpoint(KITCHEN_CONSUMER)

    async def handle(self, batch: Sequence[RecordedEvent]) -> None:
        """Ordering's events: orders, board changes, stock."""
        docs = DocumentBatch(self._read_models)
        # Every order and stock document the batch touches, read at once.
        await docs.prefetch(ORDERS, {str(number) for record in batch
                                     if (number := getattr(record.event, "number", None))})
        await docs.prefetch(STOCK, {record.event.item for record in batch
                                    if isinstance(record.event, UnitStocked | UnitAllocated)})
        if not self._collected_moved:
            await self._move_collected_orders(docs, batch)
        await self._handle_batch(CONSUMER, batch, docs)

    async def _move_collected_orders(self, docs: DocumentBatch,
                                     batch: Sequence[RecordedEvent]) -> None:
        """Upgrade: orders collected under an earlier release still have seq = number, inside
        the board's range (the board stays right, as it filters on status, but reads them).
        Up to ``MOVE_COLLECTED_PER_BATCH`` of them are put again below zero with this batch,
        at its first position: they take no more events, and every stored document reflects
        only events before it. Once a look finds none, this process stops looking."""
        found = await self._read_models.find(
            ORDERS, {"status": OrderStatus.COLLECTED.value}, after_seq=ON_BOARD_SEQ,
            limit=MOVE_COLLECTED_PER_BATCH)
        if not found:
            self._collected_moved = True
            return
        in_batch = {getattr(record.event, "number", None) for record in batch}
        for order in found:
            if order["number"] not in in_batch:  # a redelivered event of it: left for later
                docs.put(ORDERS, str(order["number"]), order_seq(order), batch[0].position,
                         order)

    async def handle_kitchen(self, batch: Sequence[RecordedEvent]) -> None:
        """The kitchen's events: the kitchen document and the queue's rows."""
        docs = DocumentBatch(self._read_models)
        await _move_old_queue_to_rows(docs, batch[-1].position)
        await self._handle_batch(KITCHEN_CONSUMER, batch, docs)

    async def _handle_batch(self, consumer: str, batch: Sequence[RecordedEvent],
                       docs: DocumentBatch) -> None:
        for record in batch:
            await self._apply(docs, record)
        puts = await docs.commit(consumer, batch[-1].position)
        if self._observer is not None:
            self._observer.projected([record.event for record in batch])
            self._observer.written([(put.collection, put.document) for put in puts])

    async def _apply(self, docs: DocumentBatch, record: RecordedEvent) -> None:
        event, position = record.event, record.position
        match event:
            case OrderPlaced():
                if await docs.reflects(ORDERS, str(event.number), position):
                    return
                order: JSON = {
                    "id": event.order_id, "number": event.number,
                    "status": OrderStatus.REQUESTED.value,
                    "items": [{"item": line.item, "quantity": line.quantity, "ready": 0}
                              for line in event.lines],
                    "placed_at": event.occurred_at.isoformat(), "started_at": None,
                    "ready_at": None, "collected_at": None,
                }
                docs.put(ORDERS, str(event.number), order_seq(order), position, order)
                self._board_change(docs, position, event.number, OrderStatus.REQUESTED)
            case UnitAllocated():
                if not await docs.reflects(ORDERS, str(event.number), position):
                    order = await self._order(docs, event.number)
                    for line in order["items"]:
                        if line["item"] == event.item:
                            line["ready"] += 1
                    docs.put(ORDERS, str(event.number), order_seq(order), position, order)
                if event.source == "stock":
                    await self._add_stock(docs, position, event.item, -1)
            case OrderStarted() | OrderReady() | OrderCollected():
                if await docs.reflects(ORDERS, str(event.number), position):
                    return
                order = await self._order(docs, event.number)
                status = _STATUS_OF[type(event)]
                order["status"] = status.value
                order[_STAMP_OF[type(event)]] = event.occurred_at.isoformat()
                docs.put(ORDERS, str(event.number), order_seq(order), position, order)
                self._board_change(docs, position, event.number, status)
            case UnitStocked():
                await self._add_stock(docs, position, event.item, +1)
            case UnitQueued() | PreparationStarted():
                _apply_to_queue(docs, event, position)
                await _apply_to_kitchen_document(docs, event, position)
            case KitchenConfigured() | UnitPrepared():
                await _apply_to_kitchen_document(docs, event, position)

    async def _order(self, docs: DocumentBatch, number: int) -> JSON:
        order = await docs.get(ORDERS, str(number))
        if order is None:  # only possible if the log was tampered with
            raise LookupError(f"order {number} not projected")
        return order

    def _board_change(self, docs: DocumentBatch, position: int, number: int,
                      status: OrderStatus) -> None:
        change = {"version": position, "number": number, "status": status.value}
        docs.put(BOARD_CHANGES, str(position), position, position, change)

    async def _add_stock(self, docs: DocumentBatch, position: int, item: str, delta: int) -> None:
        if await docs.reflects(STOCK, item, position):
            return
        current = await docs.get(STOCK, item) or {"item": item, "count": 0}
        current["count"] += delta
        docs.put(STOCK, item, self._item_index.get(item, len(self._item_index)), position,
                 current)


def order_seq(order: JSON) -> int:
    """An order document's seq: its number on the board, below zero once COLLECTED (see
    ``ON_BOARD_SEQ``)."""
    number = int(order["number"])
    return number - COLLECTED_OFFSET if order["status"] == OrderStatus.COLLECTED.value else number


def empty_kitchen() -> JSON:
    """The kitchen document before the kitchen's first event."""
    return {"workers": [], "worker_count": 0, "queue_length": 0, "favorites_first": False,
            "stock_target": 0, "speed": 1.0}


def _apply_to_queue(docs: DocumentBatch, event: UnitQueued | PreparationStarted,
                    position: int) -> None:
    """A queued unit gets its row; a started one leaves a marker out of the queue's range.

    Both are blind writes, nothing is read: a redelivered UnitQueued puts its row again at its
    own position, which the Put position guard ignores once the row says more (started).
    """
    if event.request_id is None:  # a refill: it never queued
        return
    if isinstance(event, UnitQueued):
        unit = {"request_id": event.request_id, "item": event.item,
                "order_number": event.number, "queued_at": event.occurred_at.isoformat()}
        docs.put(KITCHEN_QUEUE, event.request_id, position, position, unit)
    else:
        started = {"request_id": event.request_id, "started": True}
        docs.put(KITCHEN_QUEUE, event.request_id, STARTED_SEQ, position, started)


async def _apply_to_kitchen_document(docs: DocumentBatch, event: Event, position: int) -> None:
    if await docs.reflects(KITCHEN_VIEW, KITCHEN_KEY, position):
        return
    kitchen = await docs.get(KITCHEN_VIEW, KITCHEN_KEY) or empty_kitchen()
    _apply_to_kitchen(kitchen, event)
    docs.put(KITCHEN_VIEW, KITCHEN_KEY, 0, position, kitchen)


async def _move_old_queue_to_rows(docs: DocumentBatch, position: int) -> None:
    """Upgrade: a kitchen document written before the queue had rows holds the whole queue.

    Its units become rows at the document's stored position: the Put guard then ignores a
    redelivered UnitQueued (not newer), and a later PreparationStarted still marks the row
    started. The rows are put before the document: without transactions (MongoDB) a commit
    that stops half-way leaves the document as it was, and the redelivery moves the queue
    again.
    """
    kitchen = await docs.get(KITCHEN_VIEW, KITCHEN_KEY)
    if kitchen is None or "queue" not in kitchen:
        return
    stored_at = await docs.stored_at(KITCHEN_VIEW, KITCHEN_KEY)
    queue: list[JSON] = kitchen.pop("queue")
    # each unit's UnitQueued lies at or below stored_at, so these seqs keep them first, in order
    first = max(STARTED_SEQ + 1, stored_at - len(queue) + 1)
    for seq, unit in enumerate(queue, start=first):
        docs.put(KITCHEN_QUEUE, unit["request_id"], seq, stored_at, unit)
    kitchen["queue_length"] = len(queue)
    # at the batch's end: once committed, the document has taken in every event of the batch
    # (an event of the batch that changes it puts it again, at its own position)
    docs.put(KITCHEN_VIEW, KITCHEN_KEY, 0, position, kitchen)


def _idle(worker: int) -> JSON:
    return {"id": worker, "state": "idle", "item": None, "order_number": None,
            "started_at": None, "preparation_id": None}


def _apply_to_kitchen(kitchen: JSON, event: Event) -> None:
    workers: list[JSON] = kitchen["workers"]
    match event:
        case KitchenConfigured():
            kitchen.update(worker_count=event.workers, favorites_first=event.favorites_first,
                           stock_target=event.stock_target, speed=event.speed)
            known = {worker["id"] for worker in workers}
            workers.extend(_idle(w) for w in range(1, event.workers + 1) if w not in known)
            # a worker beyond the new count stays listed until its last unit is done
            workers[:] = sorted((w for w in workers
                                 if w["id"] <= event.workers or w["state"] == "busy"),
                                key=lambda w: w["id"])
        case UnitQueued():
            kitchen["queue_length"] += 1
        case PreparationStarted():
            if event.request_id is not None:
                kitchen["queue_length"] -= 1
            busy = {"id": event.worker, "state": "busy", "item": event.item,
                    "order_number": event.number, "started_at": event.occurred_at.isoformat(),
                    "preparation_id": event.preparation_id}
            workers[:] = sorted([w for w in workers if w["id"] != event.worker] + [busy],
                                key=lambda w: w["id"])
        case UnitPrepared():
            # a worker beyond a reduced worker count leaves once its last unit is done
            workers[:] = [_idle(w["id"]) if w["id"] == event.worker else w for w in workers
                          if w["id"] != event.worker or w["id"] <= kitchen["worker_count"]]
