"""Every fact the system records. Past tense, frozen, versioned; catalogue in docs/events.md.

Two aggregates write events, one stream each per restaurant:

* ``ordering-<restaurant>``: orders, allocations and stock (the ordering service);
* ``kitchen-<restaurant>``: the kitchen queue, workers and preparations (the kitchen service).

Serialisation lives in an adapter and is keyed by ``TYPE`` and ``VERSION``; the domain never
sees bytes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Literal

ORDERING = "ordering"
KITCHEN = "kitchen"
CATEGORIES = (ORDERING, KITCHEN)

AllocationSource = Literal["stock", "kitchen"]


def new_event_id() -> str:
    return str(uuid.uuid4())


def stream_name(category: str, restaurant_id: str) -> str:
    return f"{category}-{restaurant_id}"


def category_of(stream: str) -> str:
    return stream.split("-", 1)[0]


@dataclass(frozen=True, kw_only=True)
class Event:
    """The envelope every event carries."""

    TYPE: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1
    CATEGORY: ClassVar[str] = ""

    restaurant_id: str
    occurred_at: datetime
    event_id: str = field(default_factory=new_event_id)


# --- ordering ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderLine:
    item: str
    quantity: int


@dataclass(frozen=True, kw_only=True)
class OrderEvent(Event):
    CATEGORY: ClassVar[str] = ORDERING


@dataclass(frozen=True, kw_only=True)
class OrderPlaced(OrderEvent):
    """A customer placed an order; ``occurred_at`` is the placement time."""

    TYPE: ClassVar[str] = "OrderPlaced"
    order_id: str
    number: int
    lines: tuple[OrderLine, ...]
    # The client's Idempotency-Key, if it sent one: a retry with it answers this order. Absent
    # in events written before it existed (read as None), so the type's version is unchanged.
    idempotency_key: str | None = None


@dataclass(frozen=True, kw_only=True)
class UnitAllocated(OrderEvent):
    """One unit of ``item`` now belongs to the order: taken from stock or fresh from the kitchen."""

    TYPE: ClassVar[str] = "UnitAllocated"
    order_id: str
    number: int
    item: str
    source: AllocationSource
    unit_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class KitchenUnitsRequested(OrderEvent):
    """Stock could not cover a line: the kitchen is asked for ``quantity`` units."""

    TYPE: ClassVar[str] = "KitchenUnitsRequested"
    order_id: str
    number: int
    item: str
    quantity: int


@dataclass(frozen=True, kw_only=True)
class OrderStarted(OrderEvent):
    """REQUESTED -> IN_PROGRESS: a unit was allocated or started for the order."""

    TYPE: ClassVar[str] = "OrderStarted"
    order_id: str
    number: int


@dataclass(frozen=True, kw_only=True)
class OrderReady(OrderEvent):
    """IN_PROGRESS -> READY: every unit of the order is allocated."""

    TYPE: ClassVar[str] = "OrderReady"
    order_id: str
    number: int


@dataclass(frozen=True, kw_only=True)
class OrderCollected(OrderEvent):
    """READY -> COLLECTED: the customer took the order."""

    TYPE: ClassVar[str] = "OrderCollected"
    order_id: str
    number: int


@dataclass(frozen=True, kw_only=True)
class UnitStocked(OrderEvent):
    """A prepared unit nobody was waiting for went into stock."""

    TYPE: ClassVar[str] = "UnitStocked"
    item: str
    unit_id: str


# --- kitchen -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class KitchenEvent(Event):
    CATEGORY: ClassVar[str] = KITCHEN


@dataclass(frozen=True, kw_only=True)
class KitchenConfigured(KitchenEvent):
    """The kitchen (re)started with this set-up; recorded only when it differs from the last."""

    TYPE: ClassVar[str] = "KitchenConfigured"
    workers: int
    favorites_first: bool
    stock_target: int
    speed: float


@dataclass(frozen=True, kw_only=True)
class UnitQueued(KitchenEvent):
    """An order unit joined the kitchen's FIFO queue."""

    TYPE: ClassVar[str] = "UnitQueued"
    request_id: str
    order_id: str
    number: int
    item: str


@dataclass(frozen=True, kw_only=True)
class UnitsCovered(KitchenEvent):
    """Units already in preparation that would otherwise go to stock (a favourite refill) will
    serve this request, so no duplicate units are queued.
    """

    TYPE: ClassVar[str] = "UnitsCovered"
    order_id: str
    number: int
    item: str
    quantity: int


@dataclass(frozen=True, kw_only=True)
class PreparationStarted(KitchenEvent):
    """A worker started one unit: for a queued order unit, or (``request_id`` None) a refill.

    ``duration_seconds`` is wall-clock time (the sampled time divided by the speed factor).
    """

    TYPE: ClassVar[str] = "PreparationStarted"
    preparation_id: str
    worker: int
    item: str
    duration_seconds: float
    request_id: str | None = None
    order_id: str | None = None
    number: int | None = None


@dataclass(frozen=True, kw_only=True)
class UnitPrepared(KitchenEvent):
    """A worker finished a unit; it goes to stock, where ordering hands it on."""

    TYPE: ClassVar[str] = "UnitPrepared"
    preparation_id: str
    worker: int
    item: str


EVENT_TYPES: tuple[type[Event], ...] = (
    OrderPlaced,
    UnitAllocated,
    KitchenUnitsRequested,
    OrderStarted,
    OrderReady,
    OrderCollected,
    UnitStocked,
    KitchenConfigured,
    UnitQueued,
    UnitsCovered,
    PreparationStarted,
    UnitPrepared,
)
