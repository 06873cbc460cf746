"""The ordering service: the API's commands, and its reactions to the kitchen."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mcburger.application.policies import ordering_reacts
from mcburger.application.ports import Clock, EventStore, RecordedEvent
from mcburger.application.runner import AggregateRunner
from mcburger.domain.events import ORDERING, OrderLine, stream_name
from mcburger.domain.menu import Menu
from mcburger.domain.ordering import Order, Ordering

CONSUMER = "ordering"


@dataclass(frozen=True)
class CommandResult:
    order: Order
    # where the last event landed in the global log, for read models to catch up to (0: the
    # command recorded nothing: an idempotent retry)
    position: int

    @property
    def replayed(self) -> bool:
        return self.position == 0


class OrderingService:
    """Orders, stock and allocation for one restaurant (one ``ordering-<restaurant>`` stream)."""


    def __init__(self, store: EventStore, clock: Clock, menu: Menu, restaurant_id: str) -> None:
        self._clock = clock
        self._events = store
        self._runner = AggregateRunner(
            store, stream_name(ORDERING, restaurant_id), lambda: Ordering(restaurant_id, menu))

    async def place_order(self, lines: Iterable[OrderLine],
                          idempotency_key: str | None = None) -> CommandResult:
        """Place an order; with an ``idempotency_key`` already used (within a day), the order
        it placed, recording nothing (``IdempotencyKeyReused`` if the lines differ)."""
        order_id, lines = str(uuid.uuid4()), tuple(lines)  # a retry must see the same lines
        order, recorded = await self._runner.execute(
            lambda ordering: ordering.place(order_id, lines, self._clock.now(), idempotency_key))
        return CommandResult(order, recorded[-1].position if recorded else 0)

    async def collect(self, number: int) -> CommandResult:
        order, recorded = await self._runner.execute(
            lambda ordering: ordering.collect(number, self._clock.now()))
        return CommandResult(order, recorded[-1].position)

    async def handle_kitchen_events(self, batch: Sequence[RecordedEvent]) -> None:
        """React to the kitchen events of ``batch`` not handled yet, saved with the batch's
        tracking record (idempotent per event: see ``AggregateRunner.react``)."""

        def decide(ordering: Ordering, fresh: Sequence[RecordedEvent]) -> None:
            for record in fresh:
                ordering_reacts(ordering, record.event, self._clock.now())

        await self._runner.react(CONSUMER, batch, decide)

    async def checkpoint(self) -> int:
        return await self._events.tracked_position(CONSUMER)
