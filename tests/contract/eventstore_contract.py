"""The EventStore contract: each adapter's test class subclasses it and provides ``store``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from mcburger.application.ports import (
    AlreadyProcessed,
    EventStore,
    RecordedEvent,
    Snapshot,
    Tracking,
    WrongExpectedVersion,
)
from mcburger.domain.events import (
    KITCHEN,
    ORDERING,
    AllocationSource,
    Event,
    KitchenConfigured,
    OrderLine,
    OrderPlaced,
    PreparationStarted,
    UnitAllocated,
    stream_name,
)

T0 = datetime(2024, 5, 1, 11, 59, 58, 123456, tzinfo=UTC)
ORDERS = stream_name(ORDERING, "r1")
KITCHEN_R1 = stream_name(KITCHEN, "r1")
ORDERS_R2 = stream_name(ORDERING, "r2")


# Builders give fixed event ids, so ``placed(1) == placed(1)`` just as a stored copy must.


def placed(number: int = 1) -> OrderPlaced:
    lines = (OrderLine("Big Mc", 2), OrderLine("Fries", 1))
    at = T0 + timedelta(seconds=number)
    return OrderPlaced(
        event_id=f"placed-{number}",
        restaurant_id="r1",
        occurred_at=at,
        order_id=f"o-{number}",
        number=number,
        lines=lines,
    )


def allocated(number: int = 1, unit_id: str | None = None) -> UnitAllocated:
    source: AllocationSource = "kitchen" if unit_id is None else "stock"
    return UnitAllocated(
        event_id=f"allocated-{number}-{unit_id}",
        restaurant_id="r1",
        occurred_at=T0,
        order_id=f"o-{number}",
        number=number,
        item="Fries",
        source=source,
        unit_id=unit_id,
    )


def refill_started(worker: int = 1) -> PreparationStarted:
    # 0.1 + 0.2 has no short decimal form: a lossy float round trip shows up here.
    return PreparationStarted(
        event_id=f"started-{worker}",
        restaurant_id="r1",
        occurred_at=T0,
        preparation_id=f"p-{worker}",
        worker=worker,
        item="Big Mc",
        duration_seconds=0.1 + 0.2,
    )


def configured() -> KitchenConfigured:
    return KitchenConfigured(
        event_id="configured",
        restaurant_id="r1",
        occurred_at=T0,
        workers=3,
        favorites_first=True,
        stock_target=4,
        speed=1.5,
    )


def events_of(recorded: list[RecordedEvent]) -> list[Event]:
    return [r.event for r in recorded]


def positions_of(recorded: list[RecordedEvent]) -> list[int]:
    return [r.position for r in recorded]


class EventStoreContract:
    """Behaviour every EventStore adapter must share; subclasses override ``store``."""

    @pytest.fixture
    async def store(self) -> AsyncIterator[EventStore]:
        raise NotImplementedError("an adapter's test class provides the store")
        yield  # pragma: no cover - makes this an async generator like the overrides

    @pytest.fixture
    async def twin(self, store: EventStore) -> AsyncIterator[EventStore]:
        """A second store on the same storage, as another process would open it. Adapters
        whose storage can be opened twice override this; by default it is ``store`` itself."""
        yield store

    async def test_two_writers_at_the_same_version_one_wins(
            self, store: EventStore, twin: EventStore) -> None:
        results = await asyncio.gather(
            store.append(ORDERS, [placed(1)], expected_version=0),
            twin.append(ORDERS, [placed(2)], expected_version=0),
            return_exceptions=True,
        )
        winners = [r for r in results if isinstance(r, list)]
        losers = [r for r in results if not isinstance(r, list)]
        assert len(winners) == 1
        assert len(losers) == 1
        assert isinstance(losers[0], WrongExpectedVersion)
        for reader in (store, twin):
            assert events_of(await reader.read_stream(ORDERS)) == events_of(winners[0])

    # --- streams -----------------------------------------------------------------------------

    async def test_append_then_read_stream_round_trips_events(self, store: EventStore) -> None:
        events = [placed(1), allocated(1), allocated(1, unit_id="u-7"), refill_started()]
        recorded = await store.append(ORDERS, events, expected_version=0)
        read = await store.read_stream(ORDERS)
        assert events_of(read) == events
        assert read == recorded
        assert [(r.stream, r.version) for r in read] == [(ORDERS, v) for v in (1, 2, 3, 4)]
        order = read[0].event
        assert isinstance(order, OrderPlaced)
        assert order.lines == (OrderLine("Big Mc", 2), OrderLine("Fries", 1))
        assert order.occurred_at.utcoffset() == timedelta(0)

    async def test_kitchen_events_round_trip(self, store: EventStore) -> None:
        events = [configured(), refill_started(2)]
        await store.append(KITCHEN_R1, events, expected_version=0)
        assert events_of(await store.read_stream(KITCHEN_R1)) == events

    async def test_versions_continue_across_appends(self, store: EventStore) -> None:
        await store.append(ORDERS, [placed(1), placed(2)], expected_version=0)
        recorded = await store.append(ORDERS, [placed(3), placed(4), placed(5)], expected_version=2)
        assert [r.version for r in recorded] == [3, 4, 5]
        tail = await store.read_stream(ORDERS, after_version=2)
        assert [r.version for r in tail] == [3, 4, 5]
        assert events_of(tail) == [placed(3), placed(4), placed(5)]
        assert await store.read_stream(ORDERS, after_version=5) == []

    async def test_streams_are_separate(self, store: EventStore) -> None:
        await store.append(ORDERS, [placed(1)], expected_version=0)
        await store.append(ORDERS_R2, [placed(2)], expected_version=0)
        assert events_of(await store.read_stream(ORDERS_R2)) == [placed(2)]
        assert await store.read_stream("ordering-nowhere") == []

    # --- optimistic concurrency ----------------------------------------------------------------

    async def test_new_stream_needs_expected_version_zero(self, store: EventStore) -> None:
        with pytest.raises(WrongExpectedVersion):
            await store.append(ORDERS, [placed(1)], expected_version=1)
        assert await store.read_stream(ORDERS) == []
        assert await store.last_position() == 0

    @pytest.mark.parametrize("expected", [0, 1, 3])
    async def test_wrong_expected_version_writes_nothing(
        self, store: EventStore, expected: int
    ) -> None:
        before = await store.append(ORDERS, [placed(1), placed(2)], expected_version=0)
        with pytest.raises(WrongExpectedVersion):
            await store.append(ORDERS, [placed(3)], expected, Tracking("relay", 9))
        assert await store.read_stream(ORDERS) == before
        assert await store.last_position() == before[-1].position
        assert await store.tracked_position("relay") == 0

    async def test_concurrent_appends_at_same_version_one_wins(self, store: EventStore) -> None:
        await store.append(ORDERS, [placed(1)], expected_version=0)
        attempts = [store.append(ORDERS, [placed(n)], expected_version=1) for n in range(2, 7)]
        results = await asyncio.gather(*attempts, return_exceptions=True)
        winners = [r for r in results if isinstance(r, list)]
        losers = [r for r in results if not isinstance(r, list)]
        assert len(winners) == 1
        assert len(losers) == 4
        assert all(isinstance(r, WrongExpectedVersion) for r in losers)
        assert events_of(await store.read_stream(ORDERS)) == [placed(1), *events_of(winners[0])]

    async def test_failing_event_mid_batch_writes_nothing(self, store: EventStore) -> None:
        first = placed(1)
        await store.append(ORDERS, [first], expected_version=0)
        # The port names no error for a reused event_id; each engine raises its own.
        with pytest.raises(Exception):  # noqa: B017
            await store.append(ORDERS_R2, [placed(2), first], 0, Tracking("relay", 3))
        assert await store.read_stream(ORDERS_R2) == []
        assert await store.last_position() == 1
        assert await store.tracked_position("relay") == 0

    # --- global log ----------------------------------------------------------------------------

    async def test_positions_increase_across_streams_in_append_order(
        self, store: EventStore
    ) -> None:
        appended = [
            *await store.append(ORDERS, [placed(1), placed(2)], expected_version=0),
            *await store.append(KITCHEN_R1, [configured()], expected_version=0),
            *await store.append(ORDERS, [allocated(1)], expected_version=2),
        ]
        log = await store.read_all()
        assert log == appended
        positions = positions_of(log)
        assert positions == sorted(set(positions))
        assert positions[0] >= 1
        assert await store.last_position() == positions[-1]

    async def test_read_all_pages_after_position(self, store: EventStore) -> None:
        for n in range(1, 6):
            await store.append(stream_name(ORDERING, f"r{n}"), [placed(n)], expected_version=0)
        log = await store.read_all()
        assert events_of(await store.read_all(after_position=log[1].position)) == events_of(log[2:])
        assert await store.read_all(limit=2) == log[:2]
        assert await store.read_all(after_position=log[-1].position) == []
        paged: list[RecordedEvent] = []
        while page := await store.read_all(
            after_position=paged[-1].position if paged else 0, limit=2
        ):
            paged.extend(page)
        assert paged == log

    async def test_read_all_filters_by_stream_category(self, store: EventStore) -> None:
        await store.append(ORDERS, [placed(1)], expected_version=0)
        kitchen = await store.append(KITCHEN_R1, [configured()], expected_version=0)
        await store.append(ORDERS, [placed(2)], expected_version=1)
        # Filtering is by the stream's category (before the first "-"), not by a name prefix.
        await store.append("kitchenette-r1", [refill_started()], expected_version=0)
        more_kitchen = await store.append(KITCHEN_R1, [refill_started(2)], expected_version=1)

        assert await store.read_all(categories=[KITCHEN]) == kitchen + more_kitchen
        ordering = await store.read_all(categories={ORDERING})
        assert events_of(ordering) == [placed(1), placed(2)]
        both = await store.read_all(categories=[ORDERING, KITCHEN])
        assert [r.stream for r in both] == [ORDERS, KITCHEN_R1, ORDERS, KITCHEN_R1]
        assert await store.read_all(categories=[]) == []
        after = await store.read_all(
            after_position=kitchen[0].position, limit=1, categories=[KITCHEN]
        )
        assert after == more_kitchen

    async def test_empty_store(self, store: EventStore) -> None:
        assert await store.last_position() == 0
        assert await store.read_all() == []
        assert await store.tracked_position("relay") == 0

    # --- tracking ------------------------------------------------------------------------------

    async def test_tracking_is_stored_with_events(self, store: EventStore) -> None:
        await store.append(ORDERS, [placed(1)], 0, Tracking("relay", 5))
        assert await store.tracked_position("relay") == 5
        assert await store.tracked_position("board") == 0
        await store.append(ORDERS, [placed(2)], 1, Tracking("relay", 6))
        assert await store.tracked_position("relay") == 6

    @pytest.mark.parametrize("redelivered", [5, 4])
    async def test_redelivery_raises_already_processed_and_writes_nothing(
        self, store: EventStore, redelivered: int
    ) -> None:
        kept = await store.append(ORDERS, [placed(1)], 0, Tracking("relay", 5))
        with pytest.raises(AlreadyProcessed):
            await store.append(ORDERS, [placed(2)], 1, Tracking("relay", redelivered))
        assert await store.read_stream(ORDERS) == kept
        assert await store.last_position() == kept[0].position
        assert await store.tracked_position("relay") == 5

    async def test_consumers_track_independently(self, store: EventStore) -> None:
        await store.append(ORDERS, [placed(1)], 0, Tracking("relay", 5))
        await store.append(KITCHEN_R1, [configured()], 0, Tracking("kitchen", 1))
        assert await store.tracked_position("relay") == 5
        assert await store.tracked_position("kitchen") == 1

    async def test_tracking_only_append_moves_checkpoint(self, store: EventStore) -> None:
        assert await store.append(ORDERS, [], 0, Tracking("relay", 3)) == []
        assert await store.tracked_position("relay") == 3
        assert await store.last_position() == 0
        assert await store.read_stream(ORDERS) == []
        with pytest.raises(AlreadyProcessed):
            await store.append(ORDERS, [], 0, Tracking("relay", 3))
        await store.append(ORDERS, [placed(1)], 0, Tracking("relay", 4))
        assert await store.tracked_position("relay") == 4

    # --- snapshots -----------------------------------------------------------------------------

    async def test_a_snapshot_round_trips_and_the_newest_is_kept(
            self, store: EventStore, twin: EventStore) -> None:
        assert await store.load_snapshot(ORDERS) is None
        state = {"orders": [{"number": 7, "lines": [["burger", 2]], "at": "2024-05-01T12:00:00"}],
                 "stock": {"fries": 3}, "ok": True, "none": None, "ratio": 1.5}
        first = Snapshot(ORDERS, 40, 12, 1, state)
        await store.save_snapshot(first)
        assert await twin.load_snapshot(ORDERS) == first
        newer = Snapshot(ORDERS, 90, 30, 2, {"last_number": 9})
        await twin.save_snapshot(newer)
        # An older snapshot saved late (a slower writer) never replaces a newer one.
        await store.save_snapshot(first)
        assert await store.load_snapshot(ORDERS) == newer
        assert await store.load_snapshot(KITCHEN_R1) is None

    async def test_snapshots_are_not_in_the_log(self, store: EventStore) -> None:
        await store.append(ORDERS, [placed(1)], expected_version=0)
        await store.save_snapshot(Snapshot(ORDERS, 1, 0, 1, {"last_number": 1}))
        assert events_of(await store.read_all(0, 10)) == [placed(1)]
        assert await store.last_position() == (await store.read_all(0, 10))[-1].position
        assert [r.version for r in await store.read_stream(ORDERS)] == [1]

    # --- waiting -------------------------------------------------------------------------------

    async def test_wait_wakes_promptly_on_append(self, store: EventStore) -> None:
        async def append_soon() -> None:
            await asyncio.sleep(0.05)
            await store.append(ORDERS, [placed(1)], expected_version=0)

        task = asyncio.create_task(append_soon())
        started = time.monotonic()
        assert await store.wait_for_append(0, timeout=5)
        # Well under any polling interval: woken by the append itself.
        assert time.monotonic() - started < 0.4
        await task

    async def test_wait_returns_at_once_when_log_is_already_past(self, store: EventStore) -> None:
        await store.append(ORDERS, [placed(1)], expected_version=0)
        started = time.monotonic()
        assert await store.wait_for_append(0, timeout=5)
        assert time.monotonic() - started < 0.1

    async def test_wait_times_out_when_nothing_goes_past(self, store: EventStore) -> None:
        last = (await store.append(ORDERS, [placed(1)], expected_version=0))[-1].position

        async def move_checkpoint_only() -> None:
            await asyncio.sleep(0.05)
            await store.append(ORDERS, [], 1, Tracking("relay", 1))

        task = asyncio.create_task(move_checkpoint_only())
        started = time.monotonic()
        assert not await store.wait_for_append(last, timeout=0.2)
        assert 0.15 <= time.monotonic() - started < 1.0
        await task
