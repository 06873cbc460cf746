"""The kitchen view (issue 10, item 2): the queue is one row per queued unit, so an event writes
O(workers) however long the queue is; ``Queries.kitchen`` still answers the whole queue, oldest
first; redeliveries change nothing; a kitchen document of the previous release is moved over."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path

from mcburger.adapters.eventstore.sqlite import SQLiteEventStore
from mcburger.adapters.readmodels.memory import InMemoryReadModelStore
from mcburger.adapters.readmodels.sqlite import SQLiteReadModelStore
from mcburger.application import views
from mcburger.application.ports import JSON, Put, ReadModelStore, RecordedEvent
from mcburger.application.queries import Queries
from mcburger.application.views import ViewsProjection
from mcburger.domain.events import (
    KITCHEN,
    Event,
    KitchenConfigured,
    PreparationStarted,
    UnitPrepared,
    UnitQueued,
    UnitsCovered,
)
from tests.unit.builders import T0, fixed_menu

Scalar = str | int | float | bool | None

RELEASE_8532476 = Path(__file__).resolve().parents[2] / "fixtures" / "datadir-8532476"
MENU = fixed_menu()


class RecordingStore(InMemoryReadModelStore):
    """Keeps the Puts of every commit the store applied."""

    def __init__(self) -> None:
        super().__init__()
        self.commits: list[list[Put]] = []

    async def commit(self, consumer: str, position: int, puts: Sequence[Put]) -> None:
        before = await self.checkpoint(consumer)
        await super().commit(consumer, position, puts)
        if await self.checkpoint(consumer) != before:
            self.commits.append(list(puts))


def configured(workers: int = 2) -> KitchenConfigured:
    return KitchenConfigured(restaurant_id="main", occurred_at=T0, workers=workers,
                             favorites_first=False, stock_target=3, speed=1.0)


def queued(number: int, item: str = "cola", index: int = 0) -> UnitQueued:
    return UnitQueued(restaurant_id="main", occurred_at=T0 + timedelta(seconds=number),
                      request_id=request(number, item, index), order_id=f"o{number}",
                      number=number, item=item)


def request(number: int, item: str = "cola", index: int = 0) -> str:
    return f"o{number}:{item}:{index}"


def started(worker: int, unit: UnitQueued | None, preparation: str) -> PreparationStarted:
    """``unit`` None: a refill of a burger, which never queued."""
    return PreparationStarted(
        restaurant_id="main", occurred_at=T0 + timedelta(hours=1), preparation_id=preparation,
        worker=worker, item="burger" if unit is None else unit.item, duration_seconds=10.0,
        request_id=None if unit is None else unit.request_id,
        order_id=None if unit is None else unit.order_id,
        number=None if unit is None else unit.number)


def prepared(worker: int, preparation: str, item: str) -> UnitPrepared:
    return UnitPrepared(restaurant_id="main", occurred_at=T0 + timedelta(hours=2),
                        preparation_id=preparation, worker=worker, item=item)


def recorded(events: Sequence[Event], first: int = 1) -> list[RecordedEvent]:
    return [RecordedEvent(position, "kitchen-main", position, event)
            for position, event in enumerate(events, start=first)]


def queue_ids(kitchen: JSON) -> list[str]:
    return [unit["request_id"] for unit in kitchen["queue"]]


async def project(store: ReadModelStore, log: Sequence[RecordedEvent],
                  batch_size: int = 200) -> None:
    projection = ViewsProjection(store, MENU)
    for start in range(0, len(log), batch_size):
        await projection.handle_kitchen(log[start:start + batch_size])


async def rows_and_checkpoint(store: ReadModelStore) -> list[object]:
    return [await store.find(views.KITCHEN_VIEW), await store.find(views.KITCHEN_QUEUE),
            await store.checkpoint(views.KITCHEN_CONSUMER)]


async def test_the_queue_keeps_its_order_and_a_started_unit_leaves_it() -> None:
    first, second, third = queued(1), queued(2, "salad"), queued(2, "salad", 1)
    log = recorded([configured(), first, second, third, started(1, first, "p1"),
                    started(2, None, "p2")])
    store = InMemoryReadModelStore()
    await project(store, log)

    kitchen = await Queries(store, MENU).kitchen()

    assert queue_ids(kitchen) == [second.request_id, third.request_id]
    assert kitchen["queue"][0] == {"request_id": "o2:salad:0", "item": "salad",
                                   "order_number": 2, "queued_at": second.occurred_at.isoformat(),
                                   "promised_ready_by": None}  # no estimates in this store
    assert [(w["id"], w["state"], w["order_number"]) for w in kitchen["workers"]] == [
        (1, "busy", 1), (2, "busy", None)]
    # the shape GET /kitchen always had, and the orders not READY yet (none in this store)
    assert set(kitchen) == {"workers", "worker_count", "queue", "favorites_first",
                            "stock_target", "speed", "waiting"}
    assert kitchen["waiting"] == []


async def test_a_unit_started_out_of_turn_leaves_the_others_in_order() -> None:
    units = [queued(n) for n in range(1, 6)]
    log = recorded([configured(1), *units, started(1, units[2], "p1"),
                    prepared(1, "p1", "cola"), started(1, units[0], "p2")])
    store = InMemoryReadModelStore()
    await project(store, log, batch_size=3)

    kitchen = await Queries(store, MENU).kitchen()

    assert queue_ids(kitchen) == [units[1].request_id, units[3].request_id, units[4].request_id]
    assert kitchen["workers"][0]["order_number"] == 1


async def test_an_empty_kitchen_answers_the_empty_shape() -> None:
    kitchen = await Queries(InMemoryReadModelStore(), MENU).kitchen()

    assert kitchen["queue"] == [] and kitchen["workers"] == []
    assert "queue_length" not in kitchen


async def test_with_5000_units_queued_an_event_writes_documents_of_the_same_size() -> None:
    units = [queued(n) for n in range(1, 5001)]
    store = RecordingStore()
    await project(store, recorded([configured(), *units]))
    small = RecordingStore()
    await project(small, recorded([configured(), units[0], units[1]]))
    head = await store.checkpoint(views.KITCHEN_CONSUMER)
    busy = [started(1, units[0], "p1"), started(2, units[1], "p2"), queued(5001),
            prepared(1, "p1", "cola")]

    await ViewsProjection(store, MENU).handle_kitchen(recorded(busy, first=head + 1))
    await ViewsProjection(small, MENU).handle_kitchen(recorded(busy, first=4))

    for commit in store.commits:  # one Put per queue row touched, one kitchen document
        assert len(commit) <= 200 + 1
        assert max(len(json.dumps(put.document)) for put in commit) < 1_000
    last, alike = store.commits[-1], small.commits[-1]
    assert sorted((p.collection, p.key) for p in last) == [
        ("kitchen", "kitchen"), ("kitchen_queue", "o1:cola:0"), ("kitchen_queue", "o2:cola:0"),
        ("kitchen_queue", "o5001:cola:0")]
    kitchen_document = next(p.document for p in last if p.collection == views.KITCHEN_VIEW)
    assert kitchen_document["queue_length"] == 4_999
    # the kitchen document does not grow with the queue: only its count has more digits
    assert len(json.dumps(kitchen_document)) <= len(json.dumps(
        next(p.document for p in alike if p.collection == views.KITCHEN_VIEW))) + 3
    kitchen = await Queries(store, MENU).kitchen()
    assert queue_ids(kitchen) == [*(unit.request_id for unit in units[2:]), "o5001:cola:0"]


async def test_a_batch_projected_twice_changes_nothing() -> None:
    first, second = queued(1), queued(2)
    log = recorded([configured(), first, second, started(1, first, "p1")])
    store = InMemoryReadModelStore()
    await project(store, log)
    once = await rows_and_checkpoint(store)

    await project(store, log)

    assert await rows_and_checkpoint(store) == once


async def test_a_redelivery_cut_into_other_batches_brings_no_started_unit_back() -> None:
    """Without transactions (MongoDB) a commit may write its rows and not its checkpoint; a
    broker then redelivers from an older offset, in batches of its own choosing."""
    units = [queued(n) for n in range(1, 7)]
    events: list[Event] = [configured(1), *units]
    for index, unit in enumerate(units[:4]):
        events += [started(1, unit, f"p{index}"), prepared(1, f"p{index}", "cola")]
    log = recorded(events)
    expected = InMemoryReadModelStore()
    await project(expected, log)

    store = InMemoryReadModelStore()
    await project(store, log[:12], batch_size=5)
    store._checkpoints.pop(views.KITCHEN_CONSUMER)  # documents written, checkpoint lost
    await project(store, log[2:], batch_size=4)

    assert await rows_and_checkpoint(store) == await rows_and_checkpoint(expected)
    kitchen = await Queries(store, MENU).kitchen()
    assert queue_ids(kitchen) == [units[4].request_id, units[5].request_id]


async def test_a_kitchen_event_that_does_not_change_the_view_writes_nothing() -> None:
    store = RecordingStore()
    covered = UnitsCovered(restaurant_id="main", occurred_at=T0, order_id="o1", number=1,
                           item="burger", quantity=1)
    await project(store, recorded([configured(), covered]), batch_size=1)

    assert [len(commit) for commit in store.commits] == [1, 0]


class CommitsBeforeTheFirstFind(InMemoryReadModelStore):
    """Lets the views commit ``pending`` between the kitchen document's read and the rows'."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[RecordedEvent] = []

    async def find(self, collection: str, where: Mapping[str, Scalar] | None = None,
                   after_seq: int | None = None, limit: int | None = None) -> list[JSON]:
        if self.pending:
            batch, self.pending = self.pending, []
            await ViewsProjection(self, MENU).handle_kitchen(batch)
        return await super().find(collection, where, after_seq, limit)


async def test_a_unit_started_while_the_kitchen_is_read_is_queued_or_busy_never_neither() -> None:
    first, second = queued(1), queued(2)
    store = CommitsBeforeTheFirstFind()
    await project(store, recorded([configured(1), first, second]))
    store.pending = recorded([started(1, first, "p1")], first=4)

    kitchen = await Queries(store, MENU).kitchen()

    assert queue_ids(kitchen) == [second.request_id]
    assert [(w["state"], w["order_number"]) for w in kitchen["workers"]] == [("busy", 1)]


# --- upgrade from a release that kept the queue inside the kitchen document -----------------


def old_kitchen_document(units: Sequence[UnitQueued]) -> JSON:
    """The kitchen document as release 8532476 wrote it: the whole queue inside."""
    idle = {"id": 1, "state": "idle", "item": None, "order_number": None, "started_at": None,
            "preparation_id": None}
    return {"workers": [idle], "worker_count": 1, "favorites_first": False,
            "stock_target": 3, "speed": 1.0,
            "queue": [{"request_id": u.request_id, "item": u.item, "order_number": u.number,
                       "queued_at": u.occurred_at.isoformat()} for u in units]}


async def test_a_kitchen_document_holding_the_queue_is_moved_to_rows_by_the_next_batch() -> None:
    units = [queued(n) for n in range(1, 4)]
    history = recorded([configured(1), *units])
    store = InMemoryReadModelStore()
    old = Put(views.KITCHEN_VIEW, views.KITCHEN_KEY, 0, 4, old_kitchen_document(units))
    await store.commit(views.KITCHEN_CONSUMER, 4, [old])
    queries = Queries(store, MENU)
    assert queue_ids(await queries.kitchen()) == [u.request_id for u in units]  # as before

    later = recorded([started(1, units[0], "p1"), queued(4)], first=5)
    await ViewsProjection(store, MENU).handle_kitchen(later)
    # written, checkpoint lost, redelivered: the old units are not queued again
    store._checkpoints.pop(views.KITCHEN_CONSUMER)
    await project(store, [*history[1:], *later])

    rebuilt = InMemoryReadModelStore()
    await project(rebuilt, [*history, *later])
    assert await queries.kitchen() == await Queries(rebuilt, MENU).kitchen()
    assert queue_ids(await queries.kitchen()) == ["o2:cola:0", "o3:cola:0", "o4:cola:0"]
    document = await store.get(views.KITCHEN_VIEW, views.KITCHEN_KEY)
    assert document is not None and "queue" not in document
    assert document["queue_length"] == 3


async def test_the_kitchen_view_of_release_8532476_keeps_its_queue_and_moves_on(
        tmp_path: Path) -> None:
    for name in ("events.db", "readmodels.db"):
        shutil.copy2(RELEASE_8532476 / name, tmp_path / name)
    events = await SQLiteEventStore.open(tmp_path / "events.db")
    store = await SQLiteReadModelStore.open(tmp_path / "readmodels.db")
    try:
        log = await events.read_all(0, 100_000, (KITCHEN,))
        checkpoint = await store.checkpoint(views.KITCHEN_CONSUMER)
        history = [record for record in log if record.position <= checkpoint]
        rebuilt = InMemoryReadModelStore()
        await project(rebuilt, history)
        release = await Queries(store, MENU).kitchen()
        assert len(release["queue"]) == 12, "the fixture has units queued"
        assert release["queue"] == (await Queries(rebuilt, MENU).kitchen())["queue"]

        head = await events.last_position()
        first = release["queue"][0]
        unit = UnitQueued(restaurant_id="main", occurred_at=T0, request_id=first["request_id"],
                          order_id="?", number=first["order_number"], item=first["item"])
        worker = next(w for w in release["workers"] if w["state"] == "busy")
        done = prepared(worker["id"], worker["preparation_id"], worker["item"])
        later = [*[record for record in log if record.position > checkpoint],
                 *recorded([done, started(worker["id"], unit, "p-new"), queued(1000)],
                           first=head + 1)]
        await ViewsProjection(store, MENU).handle_kitchen(later)
        await ViewsProjection(rebuilt, MENU).handle_kitchen(later)

        upgraded = await Queries(store, MENU).kitchen()
        # (``waiting`` comes from the orders, which only the release's store has)
        assert {**upgraded, "waiting": []} == await Queries(rebuilt, MENU).kitchen()
        assert [order["number"] for order in upgraded["waiting"]] == [26, 27, 28]
        assert queue_ids(upgraded) == [*queue_ids(release)[1:], "o1000:cola:0"]
        document = await store.get(views.KITCHEN_VIEW, views.KITCHEN_KEY)
        assert document is not None and document["queue_length"] == 12
    finally:
        await store.close()
        await events.close()
