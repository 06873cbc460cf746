"""Runs commands against one aggregate stream with optimistic concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from mcburger.application.ports import (
    AlreadyProcessed,
    EventStore,
    RecordedEvent,
    Tracking,
    WrongExpectedVersion,
)
from mcburger.domain.aggregate import Aggregate

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")

MAX_ATTEMPTS = 20


class ConcurrencyExhausted(Exception):
    """The stream kept moving under us: give up rather than spin."""


class AggregateRunner(Generic[A]):
    """Keeps one aggregate in memory, caught up with its stream, and saves what commands decide.

    Another writer (another process, or the API beside a policy) may append to the same stream:
    the save then fails on the expected version, the cached aggregate is dropped, rebuilt from
    the store and the command decided again on fresh state.
    """

    def __init__(
        self,
        store: EventStore,
        stream: str,
        new: Callable[[], A],
        rebuild_extra: Callable[[A], Awaitable[None]] | None = None,
    ) -> None:
        self._store = store
        self._stream = stream
        self._new = new
        self._rebuild_extra = rebuild_extra
        self._aggregate: A | None = None
        self._lock = asyncio.Lock()

    async def current(self) -> A:
        """The aggregate, caught up with the store (for read-only use by the caller)."""
        async with self._lock:
            return await self._caught_up()

    async def execute(
        self, decide: Callable[[A], T], tracking: Tracking | None = None
    ) -> tuple[T, list[RecordedEvent]]:
        """Run ``decide`` on fresh state and save the events it records (with ``tracking``)."""
        async with self._lock:
            for _ in range(MAX_ATTEMPTS):
                aggregate = await self._caught_up()
                try:
                    result = decide(aggregate)
                except Exception:
                    if aggregate.pending:  # half-decided: the cached state is no longer true
                        self._aggregate = None
                    raise
                if not aggregate.pending and tracking is None:
                    return result, []
                try:
                    recorded = await self._store.append(
                        self._stream, aggregate.pending, aggregate.version, tracking)
                except WrongExpectedVersion:
                    self._aggregate = None
                    continue
                except AlreadyProcessed:
                    self._aggregate = None
                    return result, []
                aggregate.mark_saved()
                return result, recorded
            raise ConcurrencyExhausted(self._stream)

    async def _caught_up(self) -> A:
        if self._aggregate is None:
            fresh = self._new()
            for record in await self._store.read_stream(self._stream):
                fresh.replay(record.event)
            if self._rebuild_extra is not None:
                await self._rebuild_extra(fresh)
            self._aggregate = fresh
        else:
            for record in await self._store.read_stream(self._stream, self._aggregate.version):
                self._aggregate.replay(record.event)
        return self._aggregate
