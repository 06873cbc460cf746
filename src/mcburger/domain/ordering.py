"""Ordering: orders, stock and the allocation of every unit to exactly one order.

One aggregate per restaurant, because its invariants span all orders: a unit reaching stock goes
to the OLDEST order waiting for that item; stock never goes negative; no unit is allocated twice.
A restaurant places a few orders a minute, so one stream is no bottleneck; restaurants scale out
independently.

Only what is live stays in memory: a collected order leaves. Numbers are handed out in sequence,
so a number at or below ``last_number`` that is no longer held was collected.

Orders placed once: an order placed with an idempotency key is remembered by that key for
``KEY_LIFETIME`` on the restaurant's clock (from its placement), and placing again with the key
gives that order back and records nothing. Keys are forgotten in placement order as later
orders are placed, so they cost memory for a day's orders at most, never the whole history.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from mcburger.domain.aggregate import Aggregate, State
from mcburger.domain.errors import IdempotencyKeyReused, InvalidOrder, OrderNotReady, UnknownOrder
from mcburger.domain.events import (
    Event,
    KitchenUnitsRequested,
    OrderCollected,
    OrderLine,
    OrderPlaced,
    OrderReady,
    OrderStarted,
    UnitAllocated,
    UnitStocked,
)
from mcburger.domain.menu import Menu

MAX_QUANTITY_PER_LINE = 20
MAX_UNITS_PER_ORDER = 50
# How long an idempotency key answers its order: a kiosk retries within seconds or minutes; a
# day also covers a client that retries after a crash and a restart of its own
KEY_LIFETIME = timedelta(hours=24)


class OrderStatus(StrEnum):
    REQUESTED = "REQUESTED"
    IN_PROGRESS = "IN_PROGRESS"
    READY = "READY"
    COLLECTED = "COLLECTED"

    @property
    def rank(self) -> int:
        return list(OrderStatus).index(self)


@dataclass(frozen=True)
class KeyedPlacement:
    """What an idempotency key placed: enough to answer a retry, even once collected."""

    order_id: str
    number: int
    lines: tuple[OrderLine, ...]
    placed_at: datetime


@dataclass
class Order:
    order_id: str
    number: int
    lines: tuple[OrderLine, ...]
    placed_at: datetime
    status: OrderStatus = OrderStatus.REQUESTED
    allocated: Counter[str] = field(default_factory=Counter)

    def missing(self, item: str) -> int:
        wanted = sum(line.quantity for line in self.lines if line.item == item)
        return wanted - self.allocated[item]

    @property
    def complete(self) -> bool:
        return all(self.missing(line.item) == 0 for line in self.lines)


def validate_lines(menu: Menu, lines: Iterable[OrderLine]) -> tuple[OrderLine, ...]:
    """The order rules; raise InvalidOrder naming the offending field."""
    lines = tuple(lines)
    if not lines:
        raise InvalidOrder("items", "an order needs at least one item")
    seen: set[str] = set()
    for index, line in enumerate(lines):
        if line.item not in menu:
            raise InvalidOrder(f"items.{index}.item", f"unknown menu item {line.item!r}")
        if line.item in seen:
            raise InvalidOrder(f"items.{index}.item",
                               f"{line.item!r} appears twice; give one line a quantity instead")
        seen.add(line.item)
        if not 1 <= line.quantity <= MAX_QUANTITY_PER_LINE:
            raise InvalidOrder(f"items.{index}.quantity",
                               f"quantity must be between 1 and {MAX_QUANTITY_PER_LINE}")
    total = sum(line.quantity for line in lines)
    if total > MAX_UNITS_PER_ORDER:
        raise InvalidOrder("items", f"an order holds at most {MAX_UNITS_PER_ORDER} units, "
                                    f"this one has {total}")
    return lines


class Ordering(Aggregate):
    def __init__(self, restaurant_id: str, menu: Menu) -> None:
        super().__init__()
        self.restaurant_id = restaurant_id
        self.menu = menu
        self.orders: dict[int, Order] = {}
        self.last_number = 0
        self._numbers: dict[str, int] = {}
        self.stock: Counter[str] = Counter()
        # per item, one entry per unit owed by the kitchen, oldest order first
        self.waiting: dict[str, deque[int]] = {}
        # idempotency key -> what it placed, oldest placement first (see KEY_LIFETIME)
        self.keys: dict[str, KeyedPlacement] = {}

    def order_by_id(self, order_id: str) -> Order | None:
        number = self._numbers.get(order_id)
        return None if number is None else self.orders[number]

    # --- commands -------------------------------------------------------------------------

    def place(self, order_id: str, lines: Iterable[OrderLine], now: datetime,
              idempotency_key: str | None = None) -> Order:
        """Accept an order: take each unit from stock if there is one, else ask the kitchen.

        With an ``idempotency_key`` that placed an order within ``KEY_LIFETIME``: that order,
        and nothing recorded (``IdempotencyKeyReused`` if its items differ from ``lines``).
        """
        lines = validate_lines(self.menu, lines)
        if idempotency_key is not None:
            earlier = self.keys.get(idempotency_key)
            if earlier is not None and now - earlier.placed_at < KEY_LIFETIME:
                if earlier.lines != lines:
                    raise IdempotencyKeyReused(idempotency_key, earlier.number)
                return self._placed_by(earlier)
        number = self.last_number + 1
        self._record(OrderPlaced(restaurant_id=self.restaurant_id, occurred_at=now,
                                 order_id=order_id, number=number, lines=lines,
                                 idempotency_key=idempotency_key))
        for line in lines:
            from_stock = min(self.stock[line.item], line.quantity)
            for _ in range(from_stock):
                self._allocate(number, line.item, "stock", None, now)
            if line.quantity > from_stock:
                self._record(KitchenUnitsRequested(
                    restaurant_id=self.restaurant_id, occurred_at=now, order_id=order_id,
                    number=number, item=line.item, quantity=line.quantity - from_stock))
        return self.orders[number]

    def _placed_by(self, earlier: KeyedPlacement) -> Order:
        live = self.orders.get(earlier.number)
        if live is not None:
            return live
        # Not live any more: collected (only a collected order leaves memory)
        return Order(earlier.order_id, earlier.number, earlier.lines, earlier.placed_at,
                     OrderStatus.COLLECTED,
                     Counter({line.item: line.quantity for line in earlier.lines}))

    def collect(self, number: int, now: datetime) -> Order:
        order = self.orders.get(number)
        if order is None and 1 <= number <= self.last_number:
            raise OrderNotReady(f"order {number} is {OrderStatus.COLLECTED}, not READY")
        if order is None:
            raise UnknownOrder(number)
        if order.status is not OrderStatus.READY:
            raise OrderNotReady(f"order {number} is {order.status}, not READY")
        self._record(OrderCollected(restaurant_id=self.restaurant_id, occurred_at=now,
                                    order_id=order.order_id, number=number))
        return order

    def note_work_started(self, order_id: str, now: datetime) -> None:
        """The kitchen started (or counted an in-preparation unit) for this order."""
        order = self.order_by_id(order_id)
        if order is not None and order.status is OrderStatus.REQUESTED:
            self._record(OrderStarted(restaurant_id=self.restaurant_id, occurred_at=now,
                                      order_id=order_id, number=order.number))

    def receive_unit(self, item: str, unit_id: str, now: datetime) -> None:
        """A prepared unit reached stock: the oldest order waiting for it gets it."""
        queue = self.waiting.get(item)
        if queue:
            self._allocate(queue[0], item, "kitchen", unit_id, now)
        else:
            self._record(UnitStocked(restaurant_id=self.restaurant_id, occurred_at=now,
                                     item=item, unit_id=unit_id))

    def _allocate(self, number: int, item: str, source: str, unit_id: str | None,
                  now: datetime) -> None:
        order = self.orders[number]
        self._record(UnitAllocated(restaurant_id=self.restaurant_id, occurred_at=now,
                                   order_id=order.order_id, number=number, item=item,
                                   source="stock" if source == "stock" else "kitchen",
                                   unit_id=unit_id))
        if order.status is OrderStatus.REQUESTED:
            self._record(OrderStarted(restaurant_id=self.restaurant_id, occurred_at=now,
                                      order_id=order.order_id, number=number))
        if order.complete:
            self._record(OrderReady(restaurant_id=self.restaurant_id, occurred_at=now,
                                    order_id=order.order_id, number=number))

    # --- evolution ------------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        match event:
            case OrderPlaced():
                self.orders[event.number] = Order(event.order_id, event.number, event.lines,
                                                  event.occurred_at)
                self._numbers[event.order_id] = event.number
                self.last_number = max(self.last_number, event.number)
                self._remember_key(event)
            case KitchenUnitsRequested():
                self.waiting.setdefault(event.item, deque()).extend(
                    [event.number] * event.quantity)
            case UnitAllocated():
                self.orders[event.number].allocated[event.item] += 1
                if event.source == "stock":
                    self.stock[event.item] -= 1
                else:
                    _remove_first(self.waiting[event.item], event.number)
            case UnitStocked():
                self.stock[event.item] += 1
            case OrderStarted():
                self.orders[event.number].status = OrderStatus.IN_PROGRESS
            case OrderReady():
                self.orders[event.number].status = OrderStatus.READY
            case OrderCollected():
                # Collected is final: the order leaves memory (its number stays taken).
                self.orders.pop(event.number).status = OrderStatus.COLLECTED
                del self._numbers[event.order_id]

    def _remember_key(self, event: OrderPlaced) -> None:
        # Forget the keys past their lifetime first: oldest first, so O(1) amortized a placement
        while self.keys:
            oldest = next(iter(self.keys))
            if event.occurred_at - self.keys[oldest].placed_at < KEY_LIFETIME:
                break
            del self.keys[oldest]
        if event.idempotency_key is not None:
            self.keys.pop(event.idempotency_key, None)  # a key used again goes to the end
            self.keys[event.idempotency_key] = KeyedPlacement(
                event.order_id, event.number, event.lines, event.occurred_at)

    # --- snapshots ------------------------------------------------------------------------

    @property
    def live_size(self) -> int:
        return (len(self.orders) + sum(len(queue) for queue in self.waiting.values())
                + len(self.keys))

    def snapshot_state(self) -> State:
        return {
            "last_number": self.last_number,
            "orders": [{"order_id": o.order_id, "number": o.number,
                        "lines": [[line.item, line.quantity] for line in o.lines],
                        "placed_at": o.placed_at.isoformat(), "status": o.status.value,
                        "allocated": {item: n for item, n in o.allocated.items() if n}}
                       for o in self.orders.values()],
            "stock": {item: n for item, n in self.stock.items() if n},
            "waiting": {item: list(queue) for item, queue in self.waiting.items() if queue},
            "keys": [[key, k.order_id, k.number, [[line.item, line.quantity] for line in k.lines],
                      k.placed_at.isoformat()] for key, k in self.keys.items()],
        }

    def _restore(self, state: State) -> None:
        self.last_number = int(state["last_number"])
        self.orders = {}
        for o in state["orders"]:
            order = Order(str(o["order_id"]), int(o["number"]),
                          tuple(OrderLine(str(item), int(qty)) for item, qty in o["lines"]),
                          datetime.fromisoformat(o["placed_at"]), OrderStatus(o["status"]),
                          Counter({str(k): int(v) for k, v in o["allocated"].items()}))
            self.orders[order.number] = order
        self._numbers = {order.order_id: number for number, order in self.orders.items()}
        self.stock = Counter({str(k): int(v) for k, v in state["stock"].items()})
        self.waiting = {str(k): deque(int(n) for n in v) for k, v in state["waiting"].items()}
        # absent from snapshots written before keys existed: those orders had none
        self.keys = {
            str(key): KeyedPlacement(str(order_id), int(number),
                                     tuple(OrderLine(str(item), int(qty)) for item, qty in lines),
                                     datetime.fromisoformat(placed_at))
            for key, order_id, number, lines, placed_at in state.get("keys", [])}


def _remove_first(queue: deque[int], number: int) -> None:
    """Remove ``number``'s first entry: O(1) when it is the head, as FIFO allocation makes it."""
    if queue and queue[0] == number:
        queue.popleft()
    else:
        queue.remove(number)
