"""AggregateRunner: optimistic concurrency on one stream. Two writers deciding at once both
succeed, the loser decides again on fresh state, and no update is lost."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import pytest

from mcburger.adapters.eventstore.memory import InMemoryEventStore
from mcburger.application.ports import RecordedEvent, Tracking
from mcburger.application.runner import AggregateRunner, ConcurrencyExhausted
from mcburger.domain.errors import InvalidOrder
from mcburger.domain.events import Event, OrderPlaced
from mcburger.domain.ordering import Order, Ordering
from tests.unit.builders import T0, fixed_menu, lines

STREAM = "ordering-main"


class InterleavingStore(InMemoryEventStore):
    """Lets a test run another writer between a runner's read and its save."""

    def __init__(self) -> None:
        super().__init__()
        self.before_append: Callable[[], Awaitable[object]] | None = None
        self.every_time = False

    async def append(self, stream: str, events: Sequence[Event], expected_version: int,
                     tracking: Tracking | None = None) -> list[RecordedEvent]:
        hook = self.before_append
        if not self.every_time:
            self.before_append = None
        if hook is not None:
            await hook()
        return await super().append(stream, events, expected_version, tracking)


def runner(store: InMemoryEventStore) -> AggregateRunner[Ordering]:
    return AggregateRunner(store, STREAM, lambda: Ordering("main", fixed_menu()))


def placing(order_id: str, calls: list[str] | None = None) -> Callable[[Ordering], Order]:
    def decide(ordering: Ordering) -> Order:
        if calls is not None:
            calls.append(order_id)
        return ordering.place(order_id, lines(cola=1), T0)
    return decide


async def placed(store: InMemoryEventStore) -> list[tuple[int, str]]:
    return [(r.event.number, r.event.order_id) for r in await store.read_stream(STREAM)
            if isinstance(r.event, OrderPlaced)]


async def test_a_writer_that_lost_the_race_decides_again_on_fresh_state() -> None:
    store = InterleavingStore()
    first, second = runner(store), runner(store)
    calls: list[str] = []
    store.before_append = lambda: second.execute(placing("b", calls))

    order, recorded = await first.execute(placing("a", calls))

    assert calls == ["a", "b", "a"], "a decided, b saved first, a decided again"
    assert order.number == 2 and [r.version for r in recorded] == [3, 4]
    assert await placed(store) == [(1, "b"), (2, "a")]


async def test_a_writer_with_a_stale_cache_catches_up_before_deciding() -> None:
    store = InMemoryEventStore()
    first, second = runner(store), runner(store)
    await first.current()
    await second.execute(placing("b"))

    order, _ = await first.execute(placing("a"))

    assert order.number == 2
    assert await placed(store) == [(1, "b"), (2, "a")]


async def test_many_concurrent_commands_on_two_runners_all_land_once() -> None:
    store = InterleavingStore()
    store.before_append, store.every_time = lambda: asyncio.sleep(0), True
    first, second = runner(store), runner(store)

    results = await asyncio.gather(*[
        (first if n % 2 else second).execute(placing(f"o{n}")) for n in range(20)])

    numbers = sorted(order.number for order, _ in results)
    assert numbers == list(range(1, 21))
    stream = await placed(store)
    assert sorted(order_id for _, order_id in stream) == sorted(f"o{n}" for n in range(20))
    assert [number for number, _ in stream] == list(range(1, 21))


async def test_a_stream_that_never_holds_still_exhausts_the_retries() -> None:
    store = InterleavingStore()
    other = runner(store)
    numbers = iter(range(1000))

    async def interfere() -> None:  # before every save, another writer saves first
        store.before_append = None
        await other.execute(placing(f"x{next(numbers)}"))
        store.before_append = interfere

    store.before_append, store.every_time = interfere, True

    with pytest.raises(ConcurrencyExhausted):
        await runner(store).execute(placing("a"))
    assert "a" not in {order_id for _, order_id in await placed(store)}


async def test_a_command_that_fails_half_way_saves_nothing_and_leaves_no_trace() -> None:
    store = InMemoryEventStore()
    ordering = runner(store)

    def place_then_fail(o: Ordering) -> None:
        o.place("a", lines(cola=1), T0)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await ordering.execute(place_then_fail)
    order, _ = await ordering.execute(placing("b"))

    assert order.number == 1
    assert await placed(store) == [(1, "b")]



class SlowLongReads(InMemoryEventStore):
    """Once armed, a read of many events (a rebuild's) takes long enough for another writer to
    append."""

    def __init__(self) -> None:
        super().__init__()
        self.meanwhile: Callable[[], Awaitable[object]] | None = None

    async def read_stream(self, stream: str, from_version: int = 0) -> list[RecordedEvent]:
        records = await super().read_stream(stream, from_version)
        if len(records) >= 5 and self.meanwhile is not None:
            await self.meanwhile()
        return records


async def test_a_writer_whose_rebuild_is_slower_than_the_other_writers_pace_still_lands() -> None:
    store = SlowLongReads()
    busy = runner(store)
    for n in range(5):
        await busy.execute(placing(f"early{n}"))
    numbers = iter(range(1000))
    store.meanwhile = lambda: busy.execute(placing(f"x{next(numbers)}"))

    order, _ = await runner(store).execute(placing("a"))  # a cold start: a rebuild

    stream = await placed(store)
    assert stream[-1] == (order.number, "a"), "saved, after what the busy writer appended"
    assert order.number == 7, "decided after the order placed during its rebuild"


class CountingStore(InMemoryEventStore):
    """Counts appends, and holds the first one until released, so that commands queue up
    behind it as concurrent requests do behind a sync."""

    def __init__(self) -> None:
        super().__init__()
        self.appends: list[int] = []  # orders placed an append
        self.release = asyncio.Event()
        self.fail: dict[int, Exception] = {}  # the n-th append (from 1) fails with this
        self.first_held = asyncio.Event()

    async def append(self, stream: str, events: Sequence[Event], expected_version: int,
                     tracking: Tracking | None = None) -> list[RecordedEvent]:
        self.appends.append(sum(isinstance(event, OrderPlaced) for event in events))
        if len(self.appends) == 1:
            self.first_held.set()
            await self.release.wait()
        if len(self.appends) in self.fail:
            raise self.fail[len(self.appends)]
        return await super().append(stream, events, expected_version, tracking)


async def queued_behind_first(store: CountingStore, ordering: AggregateRunner[Ordering],
                              decisions: list[Callable[[Ordering], object]]
                              ) -> list[asyncio.Task[tuple[object, list[RecordedEvent]]]]:
    """The first decision is being saved (held) while the others arrive."""
    tasks = [asyncio.ensure_future(ordering.execute(decisions[0]))]
    await store.first_held.wait()
    tasks += [asyncio.ensure_future(ordering.execute(d)) for d in decisions[1:]]
    await asyncio.sleep(0)
    store.release.set()
    await asyncio.wait(tasks)
    return tasks


async def test_commands_arriving_during_a_save_are_saved_together_each_with_its_own_answer(
) -> None:
    store = CountingStore()
    ordering = runner(store)

    tasks = await queued_behind_first(store, ordering, [placing(f"o{n}") for n in range(6)])

    assert store.appends == [1, 5], "the five that queued behind the first: one append"
    for n, task in enumerate(tasks):
        order, recorded = task.result()
        assert isinstance(order, Order) and order.order_id == f"o{n}" and order.number == n + 1
        assert [r.event.order_id for r in recorded if isinstance(r.event, OrderPlaced)] == [f"o{n}"]
    assert await placed(store) == [(n + 1, f"o{n}") for n in range(6)]


async def test_a_refused_command_in_a_group_gets_its_own_error_and_the_others_are_saved(
) -> None:
    store = CountingStore()
    ordering = runner(store)

    def unknown_item(o: Ordering) -> Order:
        return o.place("bad", lines(caviar=1), T0)

    tasks = await queued_behind_first(
        store, ordering, [placing("a"), placing("b"), unknown_item, placing("c")])

    assert isinstance(tasks[2].exception(), InvalidOrder)
    assert [t.result()[0].number for t in (tasks[0], tasks[1], tasks[3])] == [1, 2, 3]
    assert await placed(store) == [(1, "a"), (2, "b"), (3, "c")]


async def test_a_command_failing_half_way_in_a_group_leaves_no_trace_and_the_others_land(
) -> None:
    store = CountingStore()
    ordering = runner(store)

    def place_then_fail(o: Ordering) -> None:
        o.place("half", lines(cola=1), T0)
        raise RuntimeError("boom")

    tasks = await queued_behind_first(
        store, ordering, [placing("a"), placing("b"), place_then_fail, placing("c")])

    assert isinstance(tasks[2].exception(), RuntimeError)
    assert await placed(store) == [(1, "a"), (2, "b"), (3, "c")]


async def test_a_group_whose_save_fails_tells_every_caller_and_saves_none_of_it() -> None:
    store = CountingStore()
    ordering = runner(store)
    store.fail[2] = OSError("disk full")

    tasks = await queued_behind_first(store, ordering, [placing("a"), placing("b"), placing("c")])

    assert store.appends == [1, 2]
    assert tasks[0].result()[0].number == 1
    assert all(isinstance(t.exception(), OSError) for t in tasks[1:])
    order, _ = await ordering.execute(placing("d"))
    assert order.number == 2, "the state decided for the failed save was dropped"
    assert await placed(store) == [(1, "a"), (2, "d")]


async def test_a_caller_that_gives_up_does_not_stop_the_commands_queued_with_it() -> None:
    store = CountingStore()
    ordering = runner(store)
    first = asyncio.ensure_future(ordering.execute(placing("a")))
    await store.first_held.wait()
    gives_up = asyncio.ensure_future(ordering.execute(placing("gone")))
    waits = asyncio.ensure_future(ordering.execute(placing("b")))
    await asyncio.sleep(0)
    gives_up.cancel()
    store.release.set()

    await asyncio.wait([first, waits])

    assert gives_up.cancelled()
    assert await placed(store) == [(1, "a"), (2, "b")], "gave up before its turn: not placed"
