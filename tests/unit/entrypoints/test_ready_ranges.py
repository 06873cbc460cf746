"""Each order's ready-time range, as customers and staff get it over the API: the order's answers,
the board's snapshot and change messages, the kitchen's queue (in-process, virtual clock)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from mcburger.adapters.clock import VirtualClock
from mcburger.adapters.eventstore.memory import InMemoryEventStore
from mcburger.adapters.readmodels.memory import InMemoryReadModelStore
from mcburger.application import analytics, views
from mcburger.application.ports import Put
from mcburger.bootstrap import bootstrap
from mcburger.config import Settings
from mcburger.entrypoints.api.app import create_app
from tests.e2e.helpers import wait_until
from tests.unit.served import STAFF, STAFF_TOKEN

NUGGETS = {"items": [{"item": "nuggets", "quantity": 2}]}  # not kept in stock: cooked


def at(text: str | None) -> datetime:
    assert text is not None
    return datetime.fromisoformat(text)


async def test_an_order_is_answered_with_its_range_and_its_promise(
        client: httpx.AsyncClient) -> None:
    placed = (await client.post("/orders", json=NUGGETS)).json()
    low, middle, high = (at(placed[name]) for name in (
        "estimated_ready_from", "estimated_ready_at", "estimated_ready_by"))
    assert at(placed["placed_at"]) < low < middle < high, placed
    assert placed["promised_ready_by"] == placed["estimated_ready_by"]  # told at placement

    followed = (await client.get(f"/orders/{placed['number']}")).json()
    listed = (await client.get("/orders", headers=STAFF)).json()["orders"]
    for answer in (followed, *listed):
        assert {name: answer[name] for name in (
            "estimated_ready_from", "estimated_ready_by", "promised_ready_by")} == {
            name: placed[name] for name in (
                "estimated_ready_from", "estimated_ready_by", "promised_ready_by")}


async def test_the_board_gives_each_waiting_orders_range_in_snapshot_and_changes(
        client: httpx.AsyncClient, clock: VirtualClock) -> None:
    placed = (await client.post("/orders", json=NUGGETS)).json()
    number = placed["number"]

    board = (await client.get("/board")).json()
    assert board["estimates"] == {str(number): placed["estimated_ready_at"]}  # as it was
    assert board["ranges"] == {str(number): {"from": placed["estimated_ready_from"],
                                             "by": placed["estimated_ready_by"]}}
    changes = (await client.get("/board/poll", params={"since": 0, "timeout": 0})).json()
    mine = [change for change in changes if change["number"] == number]
    assert mine and all(
        (change["estimated_ready_from"], change["estimated_ready_by"])
        == (placed["estimated_ready_from"], placed["estimated_ready_by"]) for change in mine)

    async def ready() -> dict[str, Any] | None:
        clock.advance(30)  # kitchen time passes; its timers fire
        order: dict[str, Any] = (await client.get(f"/orders/{number}")).json()
        return order if order["status"] == "READY" else None

    done = await wait_until(ready, 10.0, f"order {number} READY")
    # once READY both ends are the ready time; the promise stays what the customer was told
    assert done["estimated_ready_from"] == done["estimated_ready_by"] == done["ready_at"]
    assert done["promised_ready_by"] == placed["promised_ready_by"]
    last = (await client.get("/board/poll", params={"since": 0, "timeout": 0})).json()[-1]
    assert (last["number"], last["status"]) == (number, "READY")
    assert last["estimated_ready_from"] == last["estimated_ready_by"] == done["ready_at"]
    assert (await client.get("/board")).json()["ranges"] == {}  # nothing waits any more


async def test_the_kitchen_queue_carries_each_orders_promise(client: httpx.AsyncClient) -> None:
    placed = (await client.post("/orders", json=NUGGETS)).json()
    kitchen = (await client.get("/kitchen", headers=STAFF)).json()
    units = [unit for unit in kitchen["queue"] if unit["order_number"] == placed["number"]]
    assert len(units) == 2, kitchen
    assert {unit["promised_ready_by"] for unit in units} == {placed["promised_ready_by"]}
    refills = [worker for worker in kitchen["workers"]
               if worker["state"] == "busy" and worker["order_number"] is None]
    assert refills and all(worker["promised_ready_by"] is None for worker in refills), kitchen
    # every order not READY yet is listed with its promise, queued or not
    waiting = {order["number"]: order for order in kitchen["waiting"]}
    assert waiting[placed["number"]] == {"number": placed["number"], "status": "REQUESTED",
                                         "promised_ready_by": placed["promised_ready_by"]}



# --- documents written by a release before the ranges ---------------------------------------

PLACED, ESTIMATED = "2026-01-01T11:00:00+00:00", "2026-01-01T11:05:00+00:00"
# An estimates document as the release before the ranges wrote it: no range, no promise.
EARLIER_ESTIMATE = {"number": 1, "order_id": "o-1", "placed_at": PLACED,
                    "estimated_at_placement": ESTIMATED, "estimated_ready_at": ESTIMATED,
                    "ready_at": None, "wait_seconds": None, "error_seconds": None,
                    "error_wall_seconds": None}
ORDER = {"id": "o-1", "number": 1, "status": "REQUESTED",
         "items": [{"item": "nuggets", "quantity": 1, "ready": 0}], "placed_at": PLACED,
         "started_at": None, "ready_at": None, "collected_at": None}


@pytest.fixture
async def earlier_client() -> AsyncIterator[httpx.AsyncClient]:
    """The API over read models holding one waiting order estimated before the ranges (no
    consumer runs: the documents stay as written; the board hub runs)."""
    store = InMemoryReadModelStore()
    await store.commit(views.CONSUMER, 2, [
        Put(views.ORDERS, "1", 1, 1, ORDER),
        Put(views.BOARD_CHANGES, "1", 1, 1, {"version": 1, "number": 1, "status": "REQUESTED"})])
    await store.commit(analytics.CONSUMER, 2, [Put(analytics.ESTIMATES, "1", 1, 2,
                                                   EARLIER_ESTIMATE)])
    restaurant = await bootstrap(Settings(workers=1), clock=VirtualClock(),
                                 event_store=InMemoryEventStore(), read_models=store)
    app = create_app(restaurant=restaurant, staff_token=STAFF_TOKEN)
    app.state.restaurant = restaurant
    hub = asyncio.create_task(restaurant.board.run())
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://restaurant") as client:
            yield client
    finally:
        hub.cancel()
        await asyncio.gather(hub, return_exceptions=True)
        await restaurant.stop()


async def test_an_order_estimated_before_the_ranges_reads_with_null_ends(
        earlier_client: httpx.AsyncClient) -> None:
    answers = [(await earlier_client.get("/orders/1")).json(),
               (await earlier_client.get("/orders", headers=STAFF)).json()["orders"][0]]
    for answer in answers:
        assert at(answer["estimated_ready_at"]) == at(ESTIMATED), answer
        assert answer["estimated_ready_from"] is None, answer
        assert answer["estimated_ready_by"] is None and answer["promised_ready_by"] is None

    board = (await earlier_client.get("/board")).json()
    assert list(board["estimates"]) == ["1"] and board["ranges"] == {}
    [change] = (await earlier_client.get("/board/poll", params={"since": 0, "timeout": 0})).json()
    assert at(change["estimated_ready_at"]) == at(ESTIMATED)
    assert change["estimated_ready_from"] is None and change["estimated_ready_by"] is None


async def test_an_order_already_ready_is_never_past_its_promise_on_the_kitchen_display() -> None:
    """A refill can serve an order while a unit queued for it is still being made (that unit
    then goes to stock): the kitchen shows the unit with its order number, but the order is
    READY and has kept its promise, so the unit carries none."""
    from mcburger.application.queries import Queries
    from tests.unit.builders import default_menu

    promise = "2026-01-01T11:07:00+00:00"
    waiting = {**EARLIER_ESTIMATE, "promised_ready_by": promise}
    ready = {**waiting, "number": 2, "ready_at": "2026-01-01T11:03:00+00:00"}
    store = InMemoryReadModelStore()
    await store.commit(analytics.CONSUMER, 1, [Put(analytics.ESTIMATES, "1", 1, 1, waiting),
                                               Put(analytics.ESTIMATES, "2", 2, 1, ready)])
    kitchen = {"queue": [{"order_number": 1}], "workers": [{"order_number": 2}]}

    shown = await Queries(store, default_menu())._with_promises(kitchen)

    assert shown["queue"][0]["promised_ready_by"] == promise
    assert shown["workers"][0]["promised_ready_by"] is None
