"""The board and the lists of orders on it cost what is on the board, not the history: a
collected order leaves the board's range of the ``orders`` read model (``views.ON_BOARD_SEQ``),
so ``GET /board``, every board snapshot and the kitchen display's ``GET /orders?status=READY``
no longer read every order ever placed; orders collected under an earlier release are moved
out of that range by the next batches."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path

from mcburger.adapters.readmodels.memory import InMemoryReadModelStore
from mcburger.adapters.readmodels.sqlite import SQLiteReadModelStore
from mcburger.application import views
from mcburger.application.ports import JSON, Put, ReadModelStore, RecordedEvent
from mcburger.application.queries import Queries
from mcburger.application.views import ViewsProjection
from mcburger.domain.events import (
    Event,
    OrderCollected,
    OrderLine,
    OrderPlaced,
    OrderReady,
    OrderStarted,
)
from mcburger.domain.ordering import OrderStatus
from tests.unit.builders import T0, fixed_menu

Scalar = str | int | float | bool | None

RELEASE_8532476 = Path(__file__).resolve().parents[2] / "fixtures" / "datadir-8532476"
MENU = fixed_menu()


class CountingStore(InMemoryReadModelStore):
    """Counts the ``orders`` documents each ``find`` has to look at: every document in its seq
    range (what the (collection, seq) index narrows a read to; a ``where`` filter on other
    fields is checked document by document, in SQLite as in MongoDB without another index)."""

    def __init__(self) -> None:
        super().__init__()
        self.orders_read = 0

    async def find(self, collection: str, where: Mapping[str, Scalar] | None = None,
                   after_seq: int | None = None, limit: int | None = None) -> list[JSON]:
        if collection == views.ORDERS:
            in_range = await super().find(collection, None, after_seq, None)
            self.orders_read += len(in_range)
        return await super().find(collection, where, after_seq, limit)


def life(number: int, until: OrderStatus) -> list[Event]:
    """An order's ordering events, placed until ``until``."""
    at = T0 + timedelta(minutes=number)
    common = {"restaurant_id": "main", "order_id": f"o{number}", "number": number}
    events: list[Event] = [OrderPlaced(occurred_at=at, lines=(OrderLine("cola", 1),), **common)]
    steps = [(OrderStatus.IN_PROGRESS, OrderStarted), (OrderStatus.READY, OrderReady),
             (OrderStatus.COLLECTED, OrderCollected)]
    order = list(OrderStatus).index
    for status, kind in steps:
        if order(status) <= order(until):
            events.append(kind(occurred_at=at + timedelta(seconds=order(status)), **common))
    return events


def recorded(events: Sequence[Event], first: int = 1) -> list[RecordedEvent]:
    return [RecordedEvent(position, "ordering-main", position, event)
            for position, event in enumerate(events, start=first)]


async def project(store: ReadModelStore, log: Sequence[RecordedEvent],
                  batch_size: int = 100) -> None:
    projection = ViewsProjection(store, MENU)
    for start in range(0, len(log), batch_size):
        await projection.handle(log[start:start + batch_size])


def history(collected: int) -> list[Event]:
    """``collected`` orders collected, then one READY, one IN_PROGRESS and one REQUESTED."""
    events = [event for number in range(1, collected + 1)
              for event in life(number, OrderStatus.COLLECTED)]
    for offset, status in enumerate((OrderStatus.READY, OrderStatus.IN_PROGRESS,
                                     OrderStatus.REQUESTED), start=1):
        events += life(collected + offset, status)
    return events


async def every_page(queries: Queries, status: OrderStatus | None = None,
                     limit: int = 100) -> list[JSON]:
    """Every order a client gets by following ``next_after`` page by page."""
    found: list[JSON] = []
    after: int | None = 0
    while after is not None:
        page, following = await queries.orders(status, after, limit)
        assert following is None or following > after, "every page moves on"
        found += page
        after = following
    return found


def numbers(orders: Sequence[JSON]) -> list[int]:
    return [order["number"] for order in orders]


async def test_the_board_reads_the_orders_on_it_whatever_was_collected_before() -> None:
    small, large = CountingStore(), CountingStore()
    await project(small, recorded(history(10)))
    await project(large, recorded(history(2000)))

    for store, first in ((small, 11), (large, 2001)):
        store.orders_read = 0
        board = await Queries(store, MENU).board()
        assert (board["ready"], board["in_progress"], board["requested"]) == (
            [first], [first + 1], [first + 2])
        ready, next_after = await Queries(store, MENU).orders(OrderStatus.READY)
        assert [order["number"] for order in ready] == [first] and next_after is None
        assert store.orders_read == 3 + 3, "the board and the READY list read only the board"


async def test_every_list_of_orders_stays_oldest_first_across_collection() -> None:
    events = [*life(1, OrderStatus.READY), *life(2, OrderStatus.COLLECTED),
              *life(3, OrderStatus.REQUESTED), *life(4, OrderStatus.COLLECTED)]
    store = InMemoryReadModelStore()
    await project(store, recorded(events))
    queries = Queries(store, MENU)

    assert numbers(await every_page(queries)) == [1, 2, 3, 4]
    assert numbers(await every_page(queries, OrderStatus.COLLECTED)) == [2, 4]
    assert [order["status"] for order in await every_page(queries)] == [
        "READY", "COLLECTED", "REQUESTED", "COLLECTED"]
    assert (await queries.order(4) or {})["status"] == "COLLECTED"


async def test_orders_collected_under_an_earlier_release_are_moved_off_the_board_range() -> None:
    """An earlier release kept seq = number for every order; the board stays right while the
    next batches move them below zero, at most ``MOVE_COLLECTED_PER_BATCH`` a batch."""
    current = InMemoryReadModelStore()
    await project(current, recorded(history(1200)))
    head = await current.checkpoint(views.CONSUMER)
    # the same documents as an earlier release stored them: seq = number for every order
    found = await current.get_versioned_many(views.ORDERS, [str(n) for n in range(1, 1204)])
    store = InMemoryReadModelStore()
    await store.commit(views.CONSUMER, head, [
        Put(views.ORDERS, key, int(key), position, order)
        for key, (order, position) in found.items()])
    assert len(await store.find(views.ORDERS, after_seq=views.ON_BOARD_SEQ)) == 1203
    board = await Queries(store, MENU).board()
    assert (board["ready"], board["requested"]) == ([1201], [1203])

    projection = ViewsProjection(store, MENU)
    for round_ in range(1, 4):
        later = recorded(life(1203 + round_, OrderStatus.REQUESTED), first=head + 1)
        head += len(later)
        await projection.handle(later)
        on_board = await store.find(views.ORDERS, after_seq=views.ON_BOARD_SEQ)
        left = 1200 - min(1200, round_ * views.MOVE_COLLECTED_PER_BATCH)
        assert len(on_board) == left + 3 + round_
        board = await Queries(store, MENU).board()
        assert board["requested"] == [1203, *range(1204, 1204 + round_)]
    assert numbers(await every_page(Queries(store, MENU), OrderStatus.COLLECTED)) == [
        *range(1, 1201)]


async def test_the_orders_of_release_8532476_keep_their_board_and_leave_its_range(
        tmp_path: Path) -> None:
    shutil.copy2(RELEASE_8532476 / "readmodels.db", tmp_path / "readmodels.db")
    store = await SQLiteReadModelStore.open(tmp_path / "readmodels.db")
    try:
        before = await Queries(store, MENU).board()
        assert before["ready"] == [21, 22, 23, 24, 25]
        assert len(await store.find(views.ORDERS, after_seq=views.ON_BOARD_SEQ)) == 28

        head = await store.checkpoint(views.CONSUMER)
        await ViewsProjection(store, MENU).handle(
            recorded(life(29, OrderStatus.REQUESTED), first=head + 1))

        after = await Queries(store, MENU).board()
        assert after["ready"] == before["ready"]
        assert after["requested"] == [*before["requested"], 29]
        assert len(await store.find(views.ORDERS, after_seq=views.ON_BOARD_SEQ)) == 9
        collected = await every_page(Queries(store, MENU), OrderStatus.COLLECTED)
        assert numbers(collected) == list(range(1, 21))
    finally:
        await store.close()


async def test_pages_of_orders_cost_what_they_hold_and_follow_to_the_end() -> None:
    store = CountingStore()
    await project(store, recorded(history(250)))  # 250 collected, then 251 to 253 on the board
    queries = Queries(store, MENU)

    store.orders_read = 0
    page, next_after = await queries.orders(None, 0, 100)
    assert numbers(page) == list(range(1, 101)) and next_after == 100
    assert store.orders_read == 0, "a page of all orders is read by key, not by a scan"
    assert numbers(await every_page(queries, limit=100)) == list(range(1, 254))
    assert numbers(await every_page(queries, OrderStatus.COLLECTED, 60)) == list(range(1, 251))
    store.orders_read = 0
    collected, next_after = await queries.orders(OrderStatus.COLLECTED, 100, 50)
    assert numbers(collected) == list(range(101, 151)) and next_after == 150
    assert store.orders_read <= 250 - 100 + 3, "from `after` on, never the orders before it"
    last, next_after = await queries.orders(None, 200, 100)
    assert numbers(last) == list(range(201, 254)) and next_after is None

    on_board = [*life(254, OrderStatus.READY), *life(255, OrderStatus.READY)]
    await ViewsProjection(store, MENU).handle(recorded(on_board, first=10_000))
    first, next_after = await queries.orders(OrderStatus.READY, 0, 2)
    assert numbers(first) == [251, 254] and next_after == 254
    rest, next_after = await queries.orders(OrderStatus.READY, 254, 2)
    assert numbers(rest) == [255] and next_after is None
