"""AggregateRunner and snapshots: a rebuild reads the newest snapshot and the events after it;
a snapshot it cannot read means a replay, never wrong state; a reaction decides only the
events after its stored tracking position, whoever handled the others."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import pytest

from mcburger.adapters.eventstore.memory import InMemoryEventStore
from mcburger.application.ports import RecordedEvent, Snapshot
from mcburger.application.runner import SNAPSHOT_EVERY, AggregateRunner
from mcburger.domain.events import KitchenUnitsRequested
from mcburger.domain.ordering import Ordering
from tests.unit.builders import T0, fixed_menu, lines

STREAM = "ordering-main"


class CountingStore(InMemoryEventStore):
    """Counts the stream events a rebuild reads."""

    def __init__(self) -> None:
        super().__init__()
        self.read = 0

    async def read_stream(self, stream: str, after_version: int = 0) -> list[RecordedEvent]:
        found = await super().read_stream(stream, after_version)
        self.read += len(found)
        return found


def runner(store: InMemoryEventStore, every: int = SNAPSHOT_EVERY) -> AggregateRunner[Ordering]:
    return AggregateRunner(store, STREAM, lambda: Ordering("main", fixed_menu()),
                           snapshot_every=every)


async def day_of_orders(store: InMemoryEventStore, orders: int, every: int = 20) -> None:
    """``orders`` orders of one cola each, all served (stock) and collected but the last."""
    ordering = runner(store, every)
    for n in range(orders):  # made ahead: every order is served from stock
        await ordering.execute(lambda o, n=n: o.receive_unit("cola", f"u{n}", T0))
    for n in range(orders):
        await ordering.execute(lambda o, n=n: o.place(f"o{n}", lines(cola=1), T0))
        if n < orders - 1:
            await ordering.execute(lambda o, n=n: o.collect(n + 1, T0))


async def test_a_restart_reads_the_snapshot_and_only_the_events_after_it() -> None:
    store = CountingStore()
    await day_of_orders(store, 300)
    total = len(await store.read_stream(STREAM))
    store.read = 0

    ordering = await runner(store).current()

    assert total > 1000
    assert store.read < 20 + 5  # what came after the newest snapshot: at most one interval
    assert ordering.version == total
    assert list(ordering.orders) == [300]  # the 299 collected orders are not held
    assert ordering.last_number == 300


async def test_a_snapshot_of_an_unknown_schema_is_ignored_and_the_stream_replayed(
        caplog: pytest.LogCaptureFixture) -> None:
    store = CountingStore()
    await day_of_orders(store, 30)
    kept = await store.load_snapshot(STREAM)
    assert kept is not None
    await store.save_snapshot(Snapshot(STREAM, kept.version, 0, 99, {"from": "the future"}))
    store.read = 0

    with caplog.at_level(logging.WARNING):
        ordering = await runner(store).current()

    assert store.read == len(await store.read_stream(STREAM)) - 0  # the whole stream
    assert list(ordering.orders) == [30] and ordering.last_number == 30
    assert "schema 99" in caplog.text


async def test_an_unreadable_snapshot_is_ignored_and_the_stream_replayed() -> None:
    store = InMemoryEventStore()
    await day_of_orders(store, 30)
    kept = await store.load_snapshot(STREAM)
    assert kept is not None
    broken = {**kept.state, "orders": [{"number": "not a number"}]}
    await store.save_snapshot(Snapshot(STREAM, kept.version, 0, kept.schema, broken))

    ordering = await runner(store).current()

    assert list(ordering.orders) == [30] and ordering.last_number == 30
    assert ordering.version == len(await store.read_stream(STREAM))


async def test_snapshots_are_written_no_more_often_than_the_live_state_is_large() -> None:
    store = InMemoryEventStore()
    ordering = runner(store, every=10)
    saved: list[int] = []
    original = store.save_snapshot

    async def spy(snapshot: Snapshot) -> None:
        saved.append(snapshot.version)
        await original(snapshot)

    store.save_snapshot = spy  # type: ignore[method-assign]
    for n in range(60):  # nothing served: 60 open orders, 60 units owed
        await ordering.execute(lambda o, n=n: o.place(f"o{n}", lines(cola=1), T0))

    final = await ordering.current()
    assert final.live_size == 120 and final.version == 120
    # A snapshot costs as much as the state is large: written after at least that many events
    # (amortized O(1) per event), so here fewer than every 10 events ...
    assert 1 <= len(saved) < 120 // 10
    # ... and a rebuild still reads no more events than the state holds live things.
    assert final.version - saved[-1] <= max(10, final.live_size)


async def test_a_failing_snapshot_write_does_not_fail_the_command(
        caplog: pytest.LogCaptureFixture) -> None:
    store = InMemoryEventStore()

    async def broken(snapshot: Snapshot) -> None:
        raise OSError("disk full")

    store.save_snapshot = broken  # type: ignore[method-assign]
    ordering = runner(store, every=1)
    order, recorded = await ordering.execute(lambda o: o.place("a", lines(cola=1), T0))

    assert order.number == 1 and recorded
    assert "could not save a snapshot" in caplog.text


def requests(records: Sequence[RecordedEvent]) -> list[int]:
    return [r.event.number for r in records if isinstance(r.event, KitchenUnitsRequested)]


async def test_a_reaction_decides_only_the_events_after_the_stored_tracking_position() -> None:
    """Two writers (two processes on one store) handed overlapping batches of the same log:
    each event is decided once, whichever batch it came in."""
    store = InMemoryEventStore()
    commands, first, second = runner(store), runner(store), runner(store)
    for n in range(1, 5):
        await commands.execute(lambda o, n=n: o.place(f"o{n}", lines(cola=1), T0))
    log = await store.read_all(0, 100)
    decided: list[tuple[str, int]] = []

    def deciding(name: str) -> Callable[[Ordering, Sequence[RecordedEvent]], None]:
        def decide(ordering: Ordering, fresh: Sequence[RecordedEvent]) -> None:
            for record in fresh:
                decided.append((name, record.position))
                # each handled event hands a unit on: a unit handed on twice would show
                ordering.receive_unit("cola", f"unit-{record.position}", T0)
        return decide

    await first.react("policy", log[:5], deciding("first"))
    await second.react("policy", log[2:7], deciding("second"))  # overlaps the first's
    await first.react("policy", log[:6], deciding("first"))  # all already handled
    await second.react("policy", log, deciding("second"))

    positions = [position for _, position in decided]
    assert sorted(positions) == [r.position for r in log]  # each exactly once
    assert await store.tracked_position("policy") == log[-1].position
    handed_on = [r.event.unit_id for r in await store.read_stream(STREAM)
                 if hasattr(r.event, "unit_id") and r.event.unit_id]
    assert len(handed_on) == len(set(handed_on)) == len(log)
