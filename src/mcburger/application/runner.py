"""Runs commands against one aggregate stream with optimistic concurrency and snapshots."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from mcburger.application.ports import (
    AlreadyProcessed,
    EventStore,
    RecordedEvent,
    Snapshot,
    Tracking,
    WrongExpectedVersion,
)
from mcburger.domain.aggregate import Aggregate, SnapshotUnreadable

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 20

# At most this many queued commands are decided and saved together (one append's events)
MAX_GROUP = 100

# A snapshot is saved once this many events were applied (or observed) since the last one, or
# as many as the aggregate holds live things, whichever is more: a rebuild then reads at most
# that many events after the snapshot, and writing snapshots costs O(1) per event, amortized.
SNAPSHOT_EVERY = 100

# Observes the log beside its own stream (the kitchen): given the aggregate rebuilt from its
# stream and the tracking position its snapshot included (0: none), observe the log up to the
# consumer's stored checkpoint and return that checkpoint.
ObserveUpTo = Callable[[A, int], Awaitable[int]]


class ConcurrencyExhausted(Exception):
    """The stream kept moving under us: give up rather than spin."""


class AggregateRunner(Generic[A]):
    """Keeps one aggregate in memory, caught up with its stream, and saves what commands decide.

    Another writer (another process, or the API beside a policy) may append to the same stream:
    the save then fails on the expected version, the cached aggregate is dropped, rebuilt and
    the command decided again on fresh state. Each command holds the stream's writer turn
    (``EventStore.writer_turn``: PostgreSQL makes writers in several processes take turns), so
    a conflict is the exception there, not the rule. A rebuild reads the stream's newest
    snapshot and the events after it, never the whole stream (only the first start after an
    upgrade does); a snapshot it cannot read is ignored and the stream replayed.
    """

    def __init__(
        self,
        store: EventStore,
        stream: str,
        new: Callable[[], A],
        observe_up_to: ObserveUpTo[A] | None = None,
        snapshot_every: int = SNAPSHOT_EVERY,
    ) -> None:
        self._events = store
        self._stream = stream
        self._new = new
        self._observe_up_to = observe_up_to
        self._snapshot_every = snapshot_every
        self._aggregate: A | None = None
        self._observed = 0  # the tracking position the cached state includes (observers only)
        self._changes_at_snapshot = 0
        self._lock = asyncio.Lock()
        self._queued: list[_Command[A, Any]] = []  # commands waiting for the next group
        self._draining: asyncio.Task[None] | None = None

    async def current(self) -> A:
        """The aggregate, caught up with the store (for read-only use by the caller)."""
        async with self._lock:
            return await self._caught_up()

    async def execute(self, decide: Callable[[A], T]) -> tuple[T, list[RecordedEvent]]:
        """Run ``decide`` on fresh state and save the events it records; the decision's result
        and the events it saved, or the exception ``decide`` raised (nothing of it saved).

        Group commit: commands that arrive while the stream is being written are decided one
        after another on the same state and saved in ONE append, one transaction and one sync
        (at most ``MAX_GROUP``); each caller still gets its own result, events or exception.
        Concurrent ``POST /orders`` wait on this stream's turn, so without it their latency
        grows with every command queued ahead, each paying a whole round of reads, a commit and
        a sync (issue 11's profile of intake).
        """
        command: _Command[A, T] = _Command(decide, asyncio.get_running_loop().create_future())
        self._queued.append(command)
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain())
        # A caller that gives up (cancelled) cancels only its own future: the group goes on
        return await command.future

    async def _drain(self) -> None:
        """Execute the queued commands a group at a time, until none is left."""
        try:
            while self._queued:
                group = [command for command in self._queued[:MAX_GROUP]
                         if not command.future.done()]
                del self._queued[:MAX_GROUP]
                if group:
                    async with self._lock:
                        await self._execute_group(group)
        except BaseException:
            # Stopped (the loop is closing): no caller may wait for a group that never comes
            for command in self._queued:
                command.future.cancel()
            self._queued.clear()
            raise
        finally:
            self._draining = None

    async def _execute_group(self, group: list[_Command[A, Any]]) -> None:
        try:
            async with self._events.writer_turn(self._stream):
                for _ in range(MAX_ATTEMPTS):
                    aggregate = await self._caught_up()
                    decided = self._decide_each(aggregate, group)
                    if decided is None:  # one failed half-way: decide the rest again, fresh
                        continue
                    recorded: list[RecordedEvent] = []
                    if aggregate.pending:
                        try:
                            recorded = await self._events.append(
                                self._stream, aggregate.pending, aggregate.version)
                        except WrongExpectedVersion:
                            self._aggregate = None
                            continue
                        await self._saved(aggregate)
                    _settle(_split(decided, recorded))
                    return
                raise ConcurrencyExhausted(self._stream)
        except BaseException as error:
            # Whatever was decided is not known to be saved: the cached state is not true
            self._aggregate = None
            for command in group:
                if not command.future.done():
                    if isinstance(error, asyncio.CancelledError):
                        command.future.cancel()
                    else:
                        command.future.set_exception(error)
            if not isinstance(error, Exception):
                raise

    def _decide_each(self, aggregate: A, group: list[_Command[A, Any]]
                     ) -> list[tuple[_Command[A, Any], Any, int]] | None:
        """Each command's result and how many events it recorded, in order; a command that
        raises gets its exception and records nothing. None when one raised after recording
        (its events are in the state now): the state is dropped, and the caller decides the
        others again on fresh state."""
        decided: list[tuple[_Command[A, Any], Any, int]] = []
        for command in group:
            if command.future.done():  # its caller gave up before it was decided, or it failed
                continue
            before = len(aggregate.pending)
            try:
                result = command.decide(aggregate)
            except Exception as error:
                command.future.set_exception(error)
                if len(aggregate.pending) != before or self._observe_up_to is not None:
                    # Half-decided, or it observed part of a batch: the state is not true
                    self._aggregate = None
                    return None
                continue
            decided.append((command, result, len(aggregate.pending) - before))
        return decided

    async def react(
        self, consumer: str, batch: Sequence[RecordedEvent],
        decide: Callable[[A, Sequence[RecordedEvent]], None],
    ) -> list[RecordedEvent]:
        """Decide on the events of ``batch`` after ``consumer``'s stored tracking position and
        save what ``decide`` records with the batch's last position, in one transaction.

        Idempotent per event, not per batch: a batch that overlaps what another writer (or an
        earlier life of this process) already handled decides only the events it did not. The
        save also requires the tracking position it filtered on to be unchanged, so two writers
        never both decide one event; the loser rebuilds and filters again.
        """
        async with self._lock, self._events.writer_turn(self._stream):
            for _ in range(MAX_ATTEMPTS):
                tracked = await self._events.tracked_position(consumer)
                if self._observe_up_to is not None and tracked != self._observed:
                    self._aggregate = None  # another writer observed more than our state has
                aggregate = await self._caught_up()
                if self._observe_up_to is not None:
                    tracked = self._observed
                fresh = [record for record in batch if record.position > tracked]
                if not fresh:
                    return []
                self._decide(aggregate, self._on(decide, fresh))
                tracking = Tracking(consumer, batch[-1].position, previous=tracked)
                try:
                    recorded = await self._events.append(
                        self._stream, aggregate.pending, aggregate.version, tracking)
                except WrongExpectedVersion:
                    self._aggregate = None
                    continue
                except AlreadyProcessed:
                    self._aggregate = None
                    return []
                self._observed = tracking.position
                await self._saved(aggregate)
                return recorded
            raise ConcurrencyExhausted(self._stream)

    @staticmethod
    def _on(decide: Callable[[A, Sequence[RecordedEvent]], None],
            fresh: Sequence[RecordedEvent]) -> Callable[[A], None]:
        return lambda aggregate: decide(aggregate, fresh)

    def _decide(self, aggregate: A, decide: Callable[[A], T]) -> T:
        try:
            return decide(aggregate)
        except Exception:
            # Half-decided, or it observed part of a batch: the cached state is no longer true.
            if aggregate.pending or self._observe_up_to is not None:
                self._aggregate = None
            raise

    async def _saved(self, aggregate: A) -> None:
        aggregate.mark_saved()
        due = max(self._snapshot_every, aggregate.live_size)
        if aggregate.changes - self._changes_at_snapshot < due:
            return
        snapshot = Snapshot(self._stream, aggregate.version, self._observed,
                            aggregate.SNAPSHOT_SCHEMA, aggregate.snapshot_state())
        try:
            await self._events.save_snapshot(snapshot)
        except Exception:
            # A snapshot is a cache: the events are saved, and a command that succeeded must
            # not be reported as failed because its cache could not be written.
            log.exception("%s: could not save a snapshot at version %s", self._stream,
                          aggregate.version)
            return
        self._changes_at_snapshot = aggregate.changes

    async def _caught_up(self) -> A:
        if self._aggregate is None:
            self._aggregate = await self._rebuild()
        # After a rebuild too: whatever another writer appended while the snapshot and its tail
        # were read and replayed. The state a command decides on is then one short read old,
        # not a rebuild old; a writer that lost a race to a busy stream (the api placing orders
        # beside the ordering service) would otherwise lose every retry, as its rebuild takes
        # longer than the other writer takes to append again.
        for record in await self._events.read_stream(self._stream, self._aggregate.version):
            self._aggregate.replay(record.event)
        return self._aggregate

    async def _rebuild(self) -> A:
        aggregate, observed = self._new(), 0
        snapshot = await self._events.load_snapshot(self._stream)
        if snapshot is not None and snapshot.schema == aggregate.SNAPSHOT_SCHEMA:
            try:
                aggregate.restore(snapshot.state, snapshot.version)
                observed = snapshot.position
            except SnapshotUnreadable as error:
                log.warning("%s: snapshot at version %s unreadable (%s); replaying the stream",
                            self._stream, snapshot.version, error)
                aggregate = self._new()
        elif snapshot is not None:
            log.warning("%s: snapshot schema %s is not %s; replaying the stream",
                        self._stream, snapshot.schema, aggregate.SNAPSHOT_SCHEMA)
        for record in await self._events.read_stream(self._stream, aggregate.version):
            aggregate.replay(record.event)
        if self._observe_up_to is not None:
            self._observed = await self._observe_up_to(aggregate, observed)
        self._changes_at_snapshot = 0
        return aggregate


@dataclass(eq=False)
class _Command(Generic[A, T]):
    """One caller's ``execute``: its decision, and where its outcome goes."""

    decide: Callable[[A], T]
    future: asyncio.Future[tuple[T, list[RecordedEvent]]]


def _split(decided: list[tuple[_Command[A, Any], Any, int]], recorded: list[RecordedEvent]
           ) -> list[tuple[_Command[A, Any], Any, list[RecordedEvent]]]:
    """Each command's own share of one append's events, in the order they were decided."""
    shares, start = [], 0
    for command, result, count in decided:
        shares.append((command, result, recorded[start:start + count]))
        start += count
    return shares


def _settle(outcomes: list[tuple[_Command[A, Any], Any, list[RecordedEvent]]]) -> None:
    for command, result, recorded in outcomes:
        if not command.future.done():  # its caller may have given up
            command.future.set_result((result, recorded))
