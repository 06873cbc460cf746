"""The services wired by the real bootstrap, on a virtual clock with the in-memory fakes: an order
goes through the ordering and kitchen services and shows up in the read models."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from mcburger.adapters.clock import VirtualClock
from mcburger.adapters.eventstore.memory import InMemoryEventStore
from mcburger.adapters.readmodels.memory import InMemoryReadModelStore
from mcburger.application.analytics import ESTIMATES
from mcburger.application.kitchen_service import KitchenService
from mcburger.bootstrap import bootstrap
from mcburger.config import Settings
from mcburger.domain.errors import InvalidOrder, OrderNotReady
from mcburger.domain.events import OrderLine, UnitPrepared
from mcburger.domain.kitchen import KitchenSetup
from mcburger.restaurant import Restaurant
from tests.unit.driver import Driver


@pytest.fixture
async def driver() -> AsyncIterator[Driver]:
    driver = await Driver.open(workers=2, speed=60)
    await driver.run_until_quiet()  # the kitchen fills stock first
    yield driver
    await driver.restaurant.stop()


async def statuses_on_the_board(driver: Driver, number: int) -> list[str]:
    changes = await driver.restaurant.queries.board_changes(0)
    return [c["status"] for c in changes if c["number"] == number]


async def test_at_start_up_the_kitchen_fills_stock_to_three_of_each_favourite(
        driver: Driver) -> None:
    stock = await driver.restaurant.queries.stock()

    assert stock == {"hamburger": 3, "cheeseburger": 3, "fries": 3, "nuggets": 0,
                     "chicken-wrap": 0, "salad": 0, "cola": 0, "ice-cream": 0}
    kitchen = await driver.restaurant.queries.kitchen()
    assert [w["state"] for w in kitchen["workers"]] == ["idle", "idle"]
    assert kitchen["speed"] == 60 and kitchen["stock_target"] == 3


async def test_an_order_goes_requested_in_progress_ready_collected(driver: Driver) -> None:
    r = driver.restaurant
    placed = await r.ordering.place_order([OrderLine("nuggets", 2)])
    number = placed.order.number
    await driver.views.poll_once()
    order = await r.queries.order(number)
    assert order is not None and order["status"] == "REQUESTED"
    assert (await r.queries.board())["requested"] == [number]

    await driver.drain()
    order = await r.queries.order(number)
    assert order is not None and order["status"] == "IN_PROGRESS"
    assert order["estimated_ready_at"] is not None

    await driver.run_until_quiet()
    order = await r.queries.order(number)
    assert order is not None and order["status"] == "READY"
    assert order["items"] == [{"item": "nuggets", "quantity": 2, "ready": 2}]
    assert (await r.queries.board())["ready"] == [number]

    await r.ordering.collect(number)
    await driver.drain()
    assert await statuses_on_the_board(driver, number) == [
        "REQUESTED", "IN_PROGRESS", "READY", "COLLECTED"]
    board = await r.queries.board()
    assert number not in board["requested"] + board["in_progress"] + board["ready"]


async def test_nuggets_at_speed_60_take_2_to_3_wall_seconds(driver: Driver) -> None:
    r = driver.restaurant
    placed_at = driver.clock.now()
    number = (await r.ordering.place_order([OrderLine("nuggets", 1)])).order.number

    await driver.run_until_quiet()

    order = await r.queries.order(number)
    assert order is not None
    waited = datetime.fromisoformat(order["ready_at"]) - placed_at
    assert timedelta(seconds=130 / 60) <= waited <= timedelta(seconds=170 / 60)


async def test_stock_used_by_an_order_is_back_at_three(driver: Driver) -> None:
    r = driver.restaurant
    number = (await r.ordering.place_order(
        [OrderLine("hamburger", 4), OrderLine("fries", 1)])).order.number
    await driver.drain()
    assert (await r.queries.stock())["hamburger"] == 0
    order = await r.queries.order(number)
    assert order is not None and order["status"] == "IN_PROGRESS"

    await driver.run_until_quiet()

    order = await r.queries.order(number)
    assert order is not None and order["status"] == "READY"
    assert (await r.queries.stock())["hamburger"] == 3
    assert (await r.queries.stock())["fries"] == 3


async def test_each_order_gets_an_estimate_at_placement_and_its_actual_time(
        driver: Driver) -> None:
    r = driver.restaurant
    numbers = [(await r.ordering.place_order([OrderLine(name, 2)])).order.number
               for name in ("nuggets", "salad", "hamburger")]
    await driver.drain()

    placed = {n: await r.read_models.get(ESTIMATES, str(n)) for n in numbers}
    await driver.run_until_quiet()

    for number in numbers:
        estimate = await r.read_models.get(ESTIMATES, str(number))
        order = await r.queries.order(number)
        assert estimate is not None and order is not None
        first = placed[number]
        assert first is not None
        assert estimate["estimated_at_placement"] == first["estimated_at_placement"]
        assert estimate["ready_at"] == order["ready_at"] == estimate["estimated_ready_at"]
    hamburger = placed[numbers[2]]
    assert hamburger is not None and hamburger["estimated_at_placement"] == hamburger["ready_at"]


async def test_with_exact_times_the_estimate_at_placement_comes_true(tmp_path: Path) -> None:
    driver = await Driver.with_fixed_menu(tmp_path, workers=1, speed=60, stock_target=0)
    r = driver.restaurant
    placed_at = driver.clock.now()
    number = (await r.ordering.place_order([OrderLine("nuggets", 2)])).order.number
    await driver.drain()
    estimate = await r.read_models.get(ESTIMATES, str(number))
    assert estimate is not None
    assert estimate["estimated_at_placement"] == (placed_at + timedelta(seconds=5)).isoformat()

    await driver.run_until_quiet()

    order = await r.queries.order(number)
    assert order is not None and order["ready_at"] == estimate["estimated_at_placement"]


async def test_an_invalid_order_is_refused_and_nothing_is_recorded(driver: Driver) -> None:
    r = driver.restaurant
    before = await r.event_store.last_position()

    with pytest.raises(InvalidOrder):
        await r.ordering.place_order([OrderLine("pizza", 1)])
    with pytest.raises(OrderNotReady):
        await r.ordering.collect((await r.ordering.place_order(
            [OrderLine("cola", 1)])).order.number)

    assert await r.event_store.last_position() == before + 2  # OrderPlaced, KitchenUnitsRequested


async def test_a_restarted_kitchen_keeps_its_set_up_and_its_work(tmp_path: Path) -> None:
    driver = await Driver.with_fixed_menu(tmp_path, workers=1, speed=60)
    await driver.drain()
    r = driver.restaurant
    before = await r.event_store.last_position()

    await r.kitchen.start()  # the same set-up again: nothing new to record

    assert await r.event_store.last_position() == before
    kitchen = await r.queries.kitchen()
    assert [(w["state"], w["item"]) for w in kitchen["workers"]] == [("busy", "burger")]


async def settled(r: Restaurant) -> None:
    """Let the running consumers take in everything appended so far (bounded)."""
    for _ in range(500):
        if all(lag == 0 for lag in (await r.health.lag()).values()):
            return
        await asyncio.sleep(0.002)


async def test_the_started_restaurant_serves_an_order_on_a_virtual_clock() -> None:
    # restaurant.start() runs the real subscriptions and timers as tasks; only time is virtual.
    clock = VirtualClock()
    r = await bootstrap(Settings(workers=2, speed=60, seed=3), clock=clock,
                        event_store=InMemoryEventStore(), read_models=InMemoryReadModelStore())
    await r.start()
    try:
        number = (await r.ordering.place_order([OrderLine("nuggets", 1)])).order.number
        status = None
        for _ in range(200):
            await settled(r)
            order = await r.queries.order(number)
            status = order and order["status"]
            if status == "READY" and (await r.queries.stock())["fries"] == 3:
                break
            deadline = clock.next_deadline()
            if deadline is not None:
                clock.advance_to(deadline)
            await asyncio.sleep(0)
        assert status == "READY"
        assert set(r.feeds) == {"ordering", "kitchen", "views", "views-kitchen",
                                        "analytics"}
        assert r.supervisor.failures == {}
        assert all(lag == 0 for lag in (await r.health.lag()).values())
    finally:
        await r.stop()


async def test_a_restarted_kitchen_service_rebuilds_the_same_kitchen_from_the_store(
        driver: Driver) -> None:
    r = driver.restaurant
    await r.ordering.place_order([OrderLine("hamburger", 5), OrderLine("nuggets", 3)])
    await driver.drain()
    old = await r.kitchen.kitchen()

    setup = KitchenSetup(r.settings.workers, r.settings.favorites_first,
                         r.settings.stock_target, r.settings.speed)
    fresh = await KitchenService(r.event_store, driver.clock, r.menu, "main", setup,
                                 seed=7).kitchen()

    assert (list(fresh.queue), fresh.working, +fresh.stock, +fresh.owed, +fresh.in_flight) == (
        list(old.queue), old.working, +old.stock, +old.owed, +old.in_flight)
    assert fresh.version == old.version


async def test_units_finished_while_the_kitchen_was_down_carry_their_due_time(
        tmp_path: Path) -> None:
    driver = await Driver.with_fixed_menu(tmp_path, workers=1, speed=60, stock_target=1)
    r = driver.restaurant
    due = await driver.next_finish()
    assert due is not None
    driver.clock.advance(3600)  # the process was down for an hour

    setup = KitchenSetup(1, False, 1, 60)
    await KitchenService(r.event_store, driver.clock, r.menu, "main", setup, seed=7).start()

    prepared = [rec.event for rec in await r.event_store.read_all(0, 100)
                if isinstance(rec.event, UnitPrepared)]
    assert [p.occurred_at for p in prepared] == [due]
    assert due == driver.clock.now() - timedelta(seconds=3600 - 2)


async def test_board_messages_carry_the_latest_estimate(driver: Driver) -> None:
    r = driver.restaurant
    number = (await r.ordering.place_order([OrderLine("nuggets", 2)])).order.number
    await driver.drain()

    board = await r.queries.board()
    estimate = (await r.queries.order(number) or {})["estimated_ready_at"]
    assert estimate is not None
    assert board["estimates"] == {str(number): estimate}
    changes = [c for c in await r.queries.board_changes(0) if c["number"] == number]
    assert [c["estimated_ready_at"] for c in changes] == [estimate] * len(changes)

    await driver.run_until_quiet()
    ready_at = (await r.queries.order(number) or {})["ready_at"]
    assert (await r.queries.board())["estimates"] == {}  # nothing waits any more
    last = (await r.queries.board_changes(0))[-1]
    assert last["status"] == "READY" and last["estimated_ready_at"] == ready_at
