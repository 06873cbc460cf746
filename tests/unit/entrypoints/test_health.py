"""/healthz: a consumer that keeps falling behind makes the process degraded."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx

from mcburger.adapters.clock import VirtualClock
from mcburger.adapters.eventstore.memory import InMemoryEventStore
from mcburger.adapters.readmodels.memory import InMemoryReadModelStore
from mcburger.application.ports import RecordedEvent
from mcburger.bootstrap import bootstrap
from mcburger.config import Settings
from mcburger.domain.events import OrderLine
from mcburger.entrypoints.api.app import create_app
from mcburger.restaurant import Restaurant
from tests.e2e.helpers import wait_until


async def test_a_consumer_that_keeps_falling_behind_makes_health_degraded() -> None:
    restaurant = await bootstrap(Settings(workers=2, seed=1), clock=VirtualClock(),
                                 event_store=InMemoryEventStore(),
                                 read_models=InMemoryReadModelStore())
    stuck = asyncio.Event()

    async def never_done(batch: Sequence[RecordedEvent]) -> None:
        await stuck.wait()  # analytics' database hangs

    restaurant.analytics.handle = never_done  # type: ignore[method-assign]
    await restaurant.start()
    app = create_app(restaurant=restaurant)
    app.state.restaurant = restaurant
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://restaurant") as client:
            before = (await client.get("/healthz")).json()
            for _ in range(5):  # orders keep coming, one sample of the lags after each
                await restaurant.ordering.place_order([OrderLine("salad", 1)])
                await wait_until(lambda: deciders_caught_up(restaurant), 5.0,
                                 "ordering and the kitchen have taken it in")
                restaurant.health.lag_watch.record(await restaurant.health.lag())
            after = (await client.get("/healthz")).json()
            stuck.set()
    finally:
        await restaurant.stop()

    assert (before["status"], before["falling_behind"]) == ("ok", {})
    assert after["status"] == "degraded"
    # the views share analytics' read of the log, so they wait with it; ordering and the
    # kitchen have their own and keep deciding
    assert set(after["falling_behind"]) == {"analytics", "views", "views-kitchen"}
    assert after["falling_behind"]["analytics"] == after["consumer_lag"]["analytics"] > 0


async def deciders_caught_up(restaurant: Restaurant) -> bool:
    lag = await restaurant.health.lag()
    return lag["ordering"] == lag["kitchen"] == 0
