"""An in-memory ``EventStore``: the fake that unit tests wire in place of a real engine."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from mcburger.adapters.serialization import EventSerializer
from mcburger.application.ports import (
    AlreadyProcessed,
    EventStore,
    RecordedEvent,
    Snapshot,
    Tracking,
    WrongExpectedVersion,
)
from mcburger.domain.events import Event, category_of


@dataclass(frozen=True)
class _Row:
    """One stored event, kept as text like a real engine keeps it."""

    position: int
    stream: str
    version: int
    event_id: str
    type_name: str
    type_version: int
    data: str


class InMemoryEventStore(EventStore):
    """Keeps events as serialized text, so a test fails on an event that could not be stored.

    Every method runs without awaiting between its checks and its writes, so on one event loop
    each ``append`` is atomic without a lock.
    """

    def __init__(self, serializer: EventSerializer | None = None) -> None:
        self._serializer = serializer or EventSerializer()
        self._log: list[_Row] = []
        self._streams: dict[str, list[_Row]] = {}
        self._event_ids: set[str] = set()
        self._tracking: dict[str, int] = {}
        self._snapshots: dict[str, tuple[int, int, int, str]] = {}  # kept as text, too
        self._appended = asyncio.Condition()

    async def append(
        self,
        stream: str,
        events: Sequence[Event],
        expected_version: int,
        tracking: Tracking | None = None,
    ) -> list[RecordedEvent]:
        # Serialize first: an unserializable event must fail the append before anything is kept.
        serialized = [self._serializer.serialize(event) for event in events]
        rows = self._streams.get(stream, [])
        if len(rows) != expected_version:
            raise WrongExpectedVersion(f"{stream}: at {len(rows)}, expected {expected_version}")
        if tracking is not None and tracking.position <= self._tracking.get(tracking.consumer, 0):
            raise AlreadyProcessed(f"{tracking.consumer} at {tracking.position}")
        recorded = None if tracking is None else self._tracking.get(tracking.consumer, 0)
        if tracking is not None and tracking.previous not in (None, recorded):
            raise WrongExpectedVersion(
                f"{tracking.consumer}: tracking at {recorded}, expected {tracking.previous}")
        ids = [event.event_id for event in events]
        if len(set(ids)) != len(ids) or self._event_ids.intersection(ids):
            # The port names no error for this; SQLite raises IntegrityError from its UNIQUE index.
            raise ValueError(f"{stream}: duplicate event_id in {ids}")
        new_rows = [
            _Row(len(self._log) + i, stream, expected_version + i, event.event_id, *text)
            for i, (event, text) in enumerate(zip(events, serialized, strict=True), start=1)
        ]
        self._log.extend(new_rows)
        self._streams.setdefault(stream, []).extend(new_rows)
        self._event_ids.update(ids)
        if tracking is not None:
            self._tracking[tracking.consumer] = tracking.position
        if new_rows:
            async with self._appended:
                self._appended.notify_all()
        return [
            RecordedEvent(row.position, stream, row.version, event)
            for row, event in zip(new_rows, events, strict=True)
        ]

    async def read_stream(self, stream: str, after_version: int = 0) -> list[RecordedEvent]:
        rows = self._streams.get(stream, [])
        return [self._recorded(row) for row in rows[max(after_version, 0) :]]

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        kept = self._snapshots.get(snapshot.stream)
        if kept is None or kept[0] <= snapshot.version:
            self._snapshots[snapshot.stream] = (snapshot.version, snapshot.position,
                                                snapshot.schema, json.dumps(snapshot.state))

    async def load_snapshot(self, stream: str) -> Snapshot | None:
        kept = self._snapshots.get(stream)
        if kept is None:
            return None
        version, position, schema, state = kept
        return Snapshot(stream, version, position, schema, json.loads(state))

    async def read_all(
        self,
        after_position: int = 0,
        limit: int = 500,
        categories: Collection[str] | None = None,
    ) -> list[RecordedEvent]:
        # Positions are 1..n with no gaps here, so the log index of position p is p - 1.
        rows = (
            row
            for row in self._log[max(after_position, 0) :]
            if categories is None or category_of(row.stream) in categories
        )
        found: list[RecordedEvent] = []
        for row in rows:
            if len(found) >= limit:
                break
            found.append(self._recorded(row))
        return found

    async def last_position(self) -> int:
        return len(self._log)

    async def tracked_position(self, consumer: str) -> int:
        return self._tracking.get(consumer, 0)

    # ASYNC109 prefers asyncio.timeout at the call site, but the port fixes this signature.
    async def wait_for_append(self, after_position: int, timeout: float) -> bool:
        async with self._appended:
            try:
                async with asyncio.timeout(timeout):
                    await self._appended.wait_for(lambda: len(self._log) > after_position)
            except TimeoutError:
                return False
        return True

    async def close(self) -> None:
        """Nothing to release; kept for the port."""

    def _recorded(self, row: _Row) -> RecordedEvent:
        event = self._serializer.deserialize(row.type_name, row.type_version, row.data)
        return RecordedEvent(row.position, row.stream, row.version, event)
