"""A simulated day as the live services would have saved it, for ``mcburger simulate --into``.

``RecordingSimulation`` is a ``Simulation`` (the real aggregates and policies on a virtual
clock) that keeps every decision as the live service's ``EventStore.append`` would make it:

- a customer's place or collect, and a kitchen tick (or its start), append the aggregate's new
  events without tracking, as ``AggregateRunner.execute`` does (nothing when nothing was
  decided);
- a reaction to the other side's event appends with ``Tracking("kitchen" | "ordering",
  position of that event, previous=the one before)``, even when it decided nothing, as
  ``AggregateRunner.react`` does. Events are handed over one at a time, in the order
  ``Simulation`` hands them over: a subscription whose batches hold one event. So the day is
  the very day ``simulate_day`` measures with the same arrivals and seed, plus the pickups;
- snapshots are taken at the runner's cadence (``SNAPSHOT_EVERY`` changes, or the live size if
  more), with the tracking position the state includes, and once more at the end of the day.

Positions are assigned as the store will assign them (consecutively from ``first_position``),
so the tracking positions are known before anything is written; the writer checks them.

Every order is collected once READY, after a pickup delay drawn from its own generator, so the
arrivals, the preparations and the order ids are those of the day without pickups.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from mcburger.application import kitchen_service, ordering_service
from mcburger.application.policies import kitchen_reacts, ordering_reacts
from mcburger.application.ports import RecordedEvent, Snapshot, Tracking
from mcburger.application.runner import SNAPSHOT_EVERY
from mcburger.application.simulator.mix import Arrival
from mcburger.application.simulator.simulation import Simulation
from mcburger.domain.aggregate import Aggregate
from mcburger.domain.events import KITCHEN, ORDERING, Event, OrderReady, stream_name
from mcburger.domain.kitchen import KitchenSetup
from mcburger.domain.menu import Menu

PICKUP_SECONDS = (30.0, 120.0)  # from READY until the customer collects, uniformly drawn
CHUNK_EVENTS = 20_000  # events per chunk handed to the writer (one transaction each)

Progress = Callable[[int, int], None]  # (orders placed, orders in all)


@dataclass(frozen=True)
class Decision:
    """One save of a live service: what its ``EventStore.append`` gets, and ``position``, where
    its first event lands in the global log (the next free position if it has no events)."""

    stream: str
    events: tuple[Event, ...]
    expected_version: int
    tracking: Tracking | None
    position: int


@dataclass
class Chunk:
    """Decisions to write in order, then the newest snapshot of each stream they reach."""

    decisions: list[Decision] = field(default_factory=list)
    snapshots: dict[str, Snapshot] = field(default_factory=dict)
    events: int = 0


@dataclass(frozen=True)
class Side:
    """One service as the recorder sees it: its aggregate, stream and consumer name."""

    aggregate: Aggregate
    stream: str
    consumer: str


class RecordingSimulation(Simulation):
    """A ``Simulation`` whose saves are kept as ``Decision``s (see the module docstring)."""

    def __init__(self, menu: Menu, setup: KitchenSetup, seed: int, restaurant_id: str,
                 start: datetime, first_position: int = 1,
                 snapshot_every: int = SNAPSHOT_EVERY) -> None:
        self.chunk = Chunk()
        self.ready: list[tuple[datetime, int]] = []  # (when, number) of orders now READY
        self._next_position = first_position
        self._snapshot_every = snapshot_every
        self._tracked = {ordering_service.CONSUMER: 0, kitchen_service.CONSUMER: 0}
        self._changes_at_snapshot: dict[str, int] = {}
        self._kitchen_inbox: deque[RecordedEvent] = deque()
        self._ordering_inbox: deque[RecordedEvent] = deque()
        super().__init__(menu, setup, seed, restaurant_id, start)  # saves the kitchen's start

    @cached_property
    def _kitchen_side(self) -> Side:
        return Side(self.kitchen, stream_name(KITCHEN, self.kitchen.restaurant_id),
                    kitchen_service.CONSUMER)

    @cached_property
    def _ordering_side(self) -> Side:
        return Side(self.ordering, stream_name(ORDERING, self.ordering.restaurant_id),
                    ordering_service.CONSUMER)

    def deliver(self) -> None:
        # The order Simulation.deliver uses without interleaving: the kitchen's inbox first.
        while self._kitchen_inbox or self._ordering_inbox:
            if self._kitchen_inbox:
                record = self._kitchen_inbox.popleft()
                kitchen_reacts(self.kitchen, record.event, self.now)
                self.kitchen.assign_work(self.now)
                self._save(self._kitchen_side, self._ordering_inbox, record.position)
            else:
                record = self._ordering_inbox.popleft()
                ordering_reacts(self.ordering, record.event, self.now)
                self._save(self._ordering_side, self._kitchen_inbox, record.position)

    def _save_ordering(self) -> None:
        self._save(self._ordering_side, self._kitchen_inbox, None)

    def _save_kitchen(self) -> None:
        self._save(self._kitchen_side, self._ordering_inbox, None)

    def _save(self, side: Side, inbox: deque[RecordedEvent], reacted_to: int | None) -> None:
        aggregate = side.aggregate
        events = tuple(aggregate.pending)
        if not events and reacted_to is None:
            return  # a command that decided nothing appends nothing
        tracking = None
        if reacted_to is not None:
            tracking = Tracking(side.consumer, reacted_to, self._tracked[side.consumer])
            self._tracked[side.consumer] = reacted_to
        decision = Decision(side.stream, events, aggregate.version, tracking,
                            self._next_position)
        aggregate.mark_saved()
        inbox.extend(RecordedEvent(decision.position + i, side.stream,
                                   decision.expected_version + i + 1, event)
                     for i, event in enumerate(events))
        self._next_position += len(events)
        self.chunk.decisions.append(decision)
        self.chunk.events += len(events)
        self.ready.extend((e.occurred_at, e.number) for e in events if isinstance(e, OrderReady))
        due = max(self._snapshot_every, aggregate.live_size)
        if aggregate.changes - self._changes_at_snapshot.get(side.stream, 0) >= due:
            self._snapshot(side)

    def _snapshot(self, side: Side) -> None:
        aggregate = side.aggregate
        self.chunk.snapshots[side.stream] = Snapshot(
            side.stream, aggregate.version, self._tracked[side.consumer],
            aggregate.SNAPSHOT_SCHEMA, aggregate.snapshot_state())
        self._changes_at_snapshot[side.stream] = aggregate.changes

    def snapshot_both(self) -> None:
        """Snapshot both aggregates as they are now (the end of the day)."""
        for side in (self._ordering_side, self._kitchen_side):
            if side.aggregate.version:
                self._snapshot(side)

    def take_chunk(self) -> Chunk:
        chunk, self.chunk = self.chunk, Chunk()
        return chunk


class RecordedDay:
    """Places ``arrivals`` at ``start`` + their time, collects each order ``PICKUP_SECONDS``
    after it is READY, runs until the kitchen is quiet and everything is collected, and hands
    the decisions over in ``Chunk``s of about ``chunk_events`` events."""

    def __init__(self, menu: Menu, arrivals: Sequence[Arrival], setup: KitchenSetup, seed: int,
                 restaurant_id: str, start: datetime, first_position: int = 1,
                 chunk_events: int = CHUNK_EVENTS) -> None:
        self.sim = RecordingSimulation(menu, setup, seed, restaurant_id, start, first_position)
        self._arrivals = arrivals
        self._start = start
        self._chunk_events = chunk_events
        self._pickup_delays = random.Random(f"{seed}:pickups")
        self._pickups: list[tuple[datetime, int]] = []  # heap of (when, order number)

    @property
    def end(self) -> datetime:
        """The time of the newest event so far (the day's end, once ``chunks`` is exhausted)."""
        return self.sim.now

    def chunks(self, progress: Progress | None = None) -> Iterator[Chunk]:
        for index, arrival in enumerate(self._arrivals):
            self._run_until(self._start + timedelta(seconds=arrival.at_seconds))
            self.sim.place(arrival.lines)
            if progress is not None:
                progress(index + 1, len(self._arrivals))
            if self.sim.chunk.events >= self._chunk_events:
                yield self.sim.take_chunk()
        self._run_until(None)
        self.sim.snapshot_both()
        yield self.sim.take_chunk()

    def _run_until(self, when: datetime | None) -> None:
        """Finish preparations and collect orders in time order up to ``when`` (None: until
        nothing is left to finish or collect), then move the clock to ``when``."""
        sim = self.sim
        while True:
            sim.deliver()
            self._schedule_pickups()
            due = [t for t in (sim.kitchen.next_finish(), self._next_pickup()) if t is not None]
            step = min(due, default=None)
            if step is None or (when is not None and step > when):
                break
            sim.advance_to(step)  # every preparation due by then finishes first
            self._schedule_pickups()
            while self._pickups and self._pickups[0][0] <= sim.now:
                sim.collect(heapq.heappop(self._pickups)[1])
        if when is not None:
            sim.advance_to(when)

    def _schedule_pickups(self) -> None:
        for ready_at, number in self.sim.ready:
            delay = self._pickup_delays.uniform(*PICKUP_SECONDS)
            heapq.heappush(self._pickups, (ready_at + timedelta(seconds=delay), number))
        self.sim.ready.clear()

    def _next_pickup(self) -> datetime | None:
        return self._pickups[0][0] if self._pickups else None
