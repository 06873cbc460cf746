"""``SQLiteEventStore.append_in_one_transaction`` (the bulk loader of ``simulate --into``):
what it writes is what the same appends made one by one write, and a stale one writes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from mcburger.adapters.eventstore.sqlite import Append, SQLiteEventStore
from mcburger.application.ports import AlreadyProcessed, Tracking, WrongExpectedVersion
from tests.contract.eventstore_contract import (
    KITCHEN_R1,
    ORDERS,
    allocated,
    configured,
    placed,
    refill_started,
)

# A day in miniature: a kitchen start, an order, the kitchen reacting to it (one with nothing
# to decide: tracking only), ordering reacting to the kitchen, a second order.
APPENDS = [
    Append(KITCHEN_R1, [configured()], 0),
    Append(ORDERS, [placed(1), allocated(1, "u1")], 0),
    Append(KITCHEN_R1, [refill_started(1)], 1, Tracking("kitchen", 2, previous=0)),
    Append(KITCHEN_R1, [], 2, Tracking("kitchen", 3, previous=2)),
    Append(ORDERS, [], 2, Tracking("ordering", 4, previous=0)),
    Append(ORDERS, [placed(2)], 2),
]


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[SQLiteEventStore, SQLiteEventStore]]:
    one_by_one = await SQLiteEventStore.open(tmp_path / "one.db")
    bulk = await SQLiteEventStore.open(tmp_path / "bulk.db")
    yield one_by_one, bulk
    await one_by_one.close()
    await bulk.close()


async def _state(store: SQLiteEventStore) -> tuple[object, ...]:
    return (await store.read_all(0, 1000), await store.tracked_position("kitchen"),
            await store.tracked_position("ordering"), await store.last_position())


async def test_the_same_events_positions_versions_and_tracking_as_one_append_each(
        stores: tuple[SQLiteEventStore, SQLiteEventStore]) -> None:
    one_by_one, bulk = stores
    expected = [await one_by_one.append(a.stream, a.events, a.expected_version, a.tracking)
                for a in APPENDS]

    recorded = await bulk.append_in_one_transaction(APPENDS)

    assert recorded == expected
    assert await _state(bulk) == await _state(one_by_one)
    assert (await bulk.tracked_position("kitchen"), await bulk.tracked_position("ordering")) == (
        3, 4)


async def test_appends_continue_after_what_the_store_holds(
        stores: tuple[SQLiteEventStore, SQLiteEventStore]) -> None:
    _, bulk = stores
    first = await bulk.append_in_one_transaction(APPENDS[:2])
    later = await bulk.append_in_one_transaction(APPENDS[2:])
    assert [r.position for batch in first + later for r in batch] == [1, 2, 3, 4, 5]
    assert [r.position for r in await bulk.append(ORDERS, [placed(3)], 3)] == [6]


@pytest.mark.parametrize(("stale", "error"), [
    (Append(ORDERS, [placed(3)], 1), WrongExpectedVersion),  # ordering is at 3 by then
    (Append(KITCHEN_R1, [], 2, Tracking("kitchen", 3)), AlreadyProcessed),  # 3 is handled
    (Append(KITCHEN_R1, [], 2, Tracking("kitchen", 9, previous=2)), WrongExpectedVersion),
], ids=["version", "redelivery", "previous"])
async def test_one_stale_append_and_nothing_is_written(
        stores: tuple[SQLiteEventStore, SQLiteEventStore], stale: Append,
        error: type[Exception]) -> None:
    _, bulk = stores
    await bulk.append_in_one_transaction(APPENDS[:1])
    before = await _state(bulk)
    appends: Sequence[Append] = [*APPENDS[1:], stale]

    with pytest.raises(error):
        await bulk.append_in_one_transaction(appends)

    assert await _state(bulk) == before
    assert await bulk.append_in_one_transaction(APPENDS[1:]) != []  # and it still works
