"""Consumers are idempotent: a batch handed over twice (a redelivery after a crash) changes
nothing, neither the read models nor the event log."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from mcburger.adapters.readmodels.memory import InMemoryReadModelStore
from mcburger.application import analytics, views
from mcburger.application.feeds.log import Subscription
from mcburger.application.ports import JSON, ReadModelStore
from mcburger.application.views import ViewsProjection
from mcburger.domain.events import (
    KITCHEN,
    ORDERING,
    OrderLine,
    OrderStarted,
    UnitPrepared,
    UnitQueued,
    UnitStocked,
)
from tests.unit.driver import Driver

COLLECTIONS = (views.ORDERS, views.BOARD_CHANGES, views.STOCK, views.KITCHEN_VIEW,
               views.KITCHEN_QUEUE, analytics.ESTIMATES, analytics.ITEM_STATS, analytics.SUMMARY,
               analytics.TIMELINE)


async def snapshot(store: ReadModelStore) -> dict[str, list[JSON] | int]:
    found: dict[str, list[JSON] | int] = {c: await store.find(c) for c in COLLECTIONS}
    for consumer in (views.CONSUMER, views.KITCHEN_CONSUMER, analytics.CONSUMER):
        found[f"checkpoint:{consumer}"] = await store.checkpoint(consumer)
    return found


@pytest.fixture
async def driver() -> AsyncIterator[Driver]:
    driver = await Driver.open(workers=2, speed=60)
    yield driver
    await driver.restaurant.stop()


async def busy(driver: Driver) -> None:
    """Some history: stock filled, an order partly from stock, some of it still cooking."""
    await driver.run_until_quiet()
    await driver.restaurant.ordering.place_order([OrderLine("hamburger", 5),
                                                  OrderLine("cola", 1)])
    await driver.advance_to(driver.clock.now())
    await driver.restaurant.ordering.place_order([OrderLine("nuggets", 2)])
    await driver.drain()


async def test_the_views_projection_ignores_a_batch_it_already_projected(driver: Driver) -> None:
    await busy(driver)
    r = driver.restaurant
    ordering = await r.event_store.read_all(0, 10_000, (ORDERING,))
    kitchen = await r.event_store.read_all(0, 10_000, (KITCHEN,))
    store = InMemoryReadModelStore()
    projection = ViewsProjection(store, r.menu)
    await projection.handle(ordering)
    await projection.handle_kitchen(kitchen)
    once = await snapshot(store)

    await projection.handle(ordering)
    await projection.handle_kitchen(kitchen)

    assert await snapshot(store) == once
    assert await r.queries.stock() == {**{i.id: 0 for i in r.menu}, "cheeseburger": 3,
                                       "fries": 3}
    stock = {d["item"]: d["count"] for d in once[views.STOCK]}  # type: ignore[union-attr]
    assert stock["hamburger"] == 0 and stock["cheeseburger"] == 3


async def test_a_redelivery_cut_into_other_batches_changes_no_view(driver: Driver) -> None:
    """A broker redelivers from its last committed offset, in batches of its own choosing;
    without transactions (MongoDB) the first delivery may have written some documents and not
    the checkpoint. Each read-modify-write must then skip what its document already holds."""
    await busy(driver)
    r = driver.restaurant
    ordering = await r.event_store.read_all(0, 10_000, (ORDERING,))
    kitchen = await r.event_store.read_all(0, 10_000, (KITCHEN,))
    expected_store = InMemoryReadModelStore()
    expected = ViewsProjection(expected_store, r.menu)
    await expected.handle(ordering)
    await expected.handle_kitchen(kitchen)

    store = InMemoryReadModelStore()
    projection = ViewsProjection(store, r.menu)
    half, third = len(ordering) // 2, len(kitchen) // 3
    await projection.handle(ordering[:half])
    await projection.handle_kitchen(kitchen[:2 * third])
    # documents written, checkpoint lost: as if the commit stopped before its last write
    store._checkpoints.pop(views.CONSUMER)
    store._checkpoints.pop(views.KITCHEN_CONSUMER)
    await projection.handle(ordering[half // 2:])
    await projection.handle_kitchen(kitchen[third:])

    assert await snapshot(store) == await snapshot(expected_store)
    assert await store.find(views.STOCK) == await expected_store.find(views.STOCK)


async def test_the_kitchen_ignores_ordering_events_it_already_handled(driver: Driver) -> None:
    r = driver.restaurant
    await driver.run_until_quiet()
    await r.ordering.place_order([OrderLine("nuggets", 3)])
    batch = await r.event_store.read_all(await r.kitchen.checkpoint(), 1000, (ORDERING,))
    before = await r.event_store.last_position()

    await r.kitchen.handle_ordering_events(batch)
    once = await r.event_store.read_all(0, 10_000)
    assert len(once) > before
    assert len([e for e in once if isinstance(e.event, UnitQueued)]) == 3
    await r.kitchen.handle_ordering_events(batch)

    assert await r.event_store.read_all(0, 10_000) == once
    assert len((await r.kitchen.kitchen()).queue) == 1  # 2 workers busy, 1 unit waits


async def test_ordering_ignores_kitchen_events_it_already_handled(driver: Driver) -> None:
    r = driver.restaurant
    due = await driver.next_finish()
    assert due is not None
    driver.clock.advance_to(due)
    await r.kitchen.tick()
    batch = await r.event_store.read_all(await r.ordering.checkpoint(), 1000, (KITCHEN,))
    assert any(isinstance(record.event, UnitPrepared) for record in batch)

    await r.ordering.handle_kitchen_events(batch)
    once = await r.event_store.read_all(0, 10_000)
    assert any(isinstance(record.event, UnitStocked) for record in once)
    await r.ordering.handle_kitchen_events(batch)

    assert await r.event_store.read_all(0, 10_000) == once


async def test_ordering_moves_an_order_on_only_once_when_started_work_is_redelivered(
        driver: Driver) -> None:
    r = driver.restaurant
    await driver.run_until_quiet()
    await r.ordering.place_order([OrderLine("nuggets", 1)])
    await driver.kitchen.poll_once()
    batch = await r.event_store.read_all(await r.ordering.checkpoint(), 1000, (KITCHEN,))

    for _ in range(2):
        await r.ordering.handle_kitchen_events(batch)

    log = await r.event_store.read_all(0, 10_000)
    assert [type(e.event) for e in log].count(OrderStarted) == 1


async def test_consumers_restarted_from_the_beginning_change_nothing(driver: Driver) -> None:
    await busy(driver)
    await driver.run_until_quiet()
    r = driver.restaurant
    log, documents = await r.event_store.read_all(0, 10_000), await snapshot(r.read_models)

    for name, handle, categories in [
            ("ordering", r.ordering.handle_kitchen_events, (KITCHEN,)),
            ("kitchen", r.kitchen.handle_ordering_events, (ORDERING,)),
            ("views", r.views.handle, (ORDERING,)),
            ("views-kitchen", r.views.handle_kitchen, (KITCHEN,))]:
        again = Subscription(name, r.event_store, handle, categories, batch_size=7)
        assert await again.poll_once() > 0

    assert await r.event_store.read_all(0, 10_000) == log
    assert await snapshot(r.read_models) == documents


async def test_analytics_restarted_rebuilds_its_memory_and_writes_nothing_new(
        driver: Driver) -> None:
    await busy(driver)
    await driver.run_until_quiet()
    r = driver.restaurant
    documents = await snapshot(r.read_models)

    checkpoint = await r.analytics.start()
    again = Subscription("analytics", r.event_store, r.analytics.handle)
    again.position = checkpoint

    assert await again.poll_once() == 0
    assert await snapshot(r.read_models) == documents
    assert r.analytics.times.count["hamburger"] > 0
