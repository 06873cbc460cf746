"""The relay: the only way events reach the bus. No service ever publishes what it wrote."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from mcburger.application.ports import (
    AlreadyProcessed,
    Bus,
    Envelope,
    EventCodec,
    EventStore,
    RecordedEvent,
    Tracking,
)
from mcburger.domain.events import CATEGORIES, stream_name

CONSUMER = "relay"
# Appending no events to a stream that never exists only moves the relay's checkpoint.
CHECKPOINT_STREAM = "relay-checkpoint"


class Relay:
    """Follows the store's global log from its checkpoint and publishes every event to its
    category's topic, keyed by restaurant, in log order; then moves the checkpoint.

    A crash between publishing and the checkpoint publishes a batch again: consumers are
    idempotent, so at least once is enough. Each message also says where the restaurant's
    previous event is in the log, so a consumer of several topics can restore log order.
    Run one relay per event store (a second one would only duplicate messages).
    """

    def __init__(self, store: EventStore, bus: Bus, codec: EventCodec) -> None:
        self._events = store
        self._bus = bus
        self._codec = codec
        self._last_of: dict[str, int] = {}  # restaurant -> position of its newest event seen

    async def checkpoint(self) -> int:
        return await self._events.tracked_position(CONSUMER)

    async def publish(self, batch: Sequence[RecordedEvent]) -> None:
        envelopes = [Envelope(record, await self._previous(record)) for record in batch]
        await self._bus.publish([self._codec.encode(envelope) for envelope in envelopes])
        # AlreadyProcessed: another relay got there first; the batch went out twice, harmlessly.
        with contextlib.suppress(AlreadyProcessed):
            await self._events.append(CHECKPOINT_STREAM, [], 0,
                                     Tracking(CONSUMER, batch[-1].position))

    async def _previous(self, record: RecordedEvent) -> int:
        restaurant = record.event.restaurant_id
        if self._last_of.get(restaurant, record.position) >= record.position:
            # First sight since start-up, or a batch published again (a retry after the bus or
            # the checkpoint failed: what we remember is at or after this event): the
            # restaurant's previous event is in one of its streams, before this one.
            found = [r.position for category in CATEGORIES
                     for r in await self._events.read_stream(stream_name(category, restaurant))
                     if r.position < record.position]
            self._last_of[restaurant] = max(found, default=0)
        previous = self._last_of[restaurant]
        self._last_of[restaurant] = record.position
        return previous
