"""The distributed wiring on in-memory engines: one Restaurant per role (as `mcburger serve`
would start them, each in its own process), sharing only the event store, the bus and the read
models. The relay is the only bridge from the log to the bus; every consumer reads the bus."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from mcburger.adapters.bus.memory import InMemoryBus
from mcburger.adapters.clock import VirtualClock
from mcburger.adapters.eventstore.memory import InMemoryEventStore
from mcburger.adapters.readmodels.memory import InMemoryReadModelStore
from mcburger.application.feeds.bus import BusSubscription
from mcburger.bootstrap import bootstrap
from mcburger.config import Settings
from mcburger.domain.events import OrderLine
from mcburger.entrypoints.api.app import create_app
from mcburger.restaurant import ROLES, Restaurant
from tests.support.invariants import check_log, check_quiet

SETTINGS = Settings(workers=2, speed=60, seed=11)


class Services:
    def __init__(self, clock: VirtualClock, by_role: dict[str, Restaurant]) -> None:
        self.clock = clock
        self.by_role = by_role

    async def settle(self) -> None:
        """Let every service take in what there is (bounded; the bus wakes consumers)."""
        for _ in range(400):
            lags = [await r.health.lag() for r in self.by_role.values()]
            head = await self.by_role["api"].event_store.last_position()
            relay = await self.by_role["relay"].feeds["relay"].lag(head)
            if relay == 0 and all(v == 0 for lag in lags for v in lag.values()):
                return
            await asyncio.sleep(0.005)

    async def run_until_quiet(self) -> None:
        """Fire the kitchen's timers one by one until none is left for a few rounds."""
        idle_rounds = 0
        for _ in range(2000):
            await self.settle()
            deadline = self.clock.next_deadline()
            if deadline is None:
                idle_rounds += 1
                if idle_rounds == 5:
                    return
                await asyncio.sleep(0.01)
                continue
            idle_rounds = 0
            self.clock.advance_to(deadline)
            await asyncio.sleep(0)
        raise AssertionError("the kitchen never went quiet")


@pytest.fixture
async def services() -> AsyncIterator[Services]:
    clock = VirtualClock()
    events, read_models, bus = InMemoryEventStore(), InMemoryReadModelStore(), InMemoryBus()
    by_role = {role: await bootstrap(SETTINGS, clock=clock, event_store=events,
                                     read_models=read_models, bus=bus, roles=frozenset({role}))
               for role in ROLES}
    for restaurant in by_role.values():
        await restaurant.start()
    yield Services(clock, by_role)
    await asyncio.gather(*(restaurant.stop() for restaurant in by_role.values()))


async def test_orders_placed_on_the_api_become_ready_through_the_bus(
        services: Services) -> None:
    api = services.by_role["api"]
    await services.run_until_quiet()
    numbers = []
    for lines in ([OrderLine("hamburger", 2), OrderLine("cola", 1)],
                  [OrderLine("nuggets", 3)], [OrderLine("fries", 4), OrderLine("salad", 1)]):
        numbers.append((await api.ordering.place_order(lines)).order.number)
    await services.run_until_quiet()

    for number in numbers:
        order = await api.queries.order(number)
        assert order is not None and order["status"] == "READY", order
        assert order["estimated_ready_at"] is not None
    assert (await api.queries.board())["ready"] == numbers
    log = [record.event for record in await api.event_store.read_all(0, 100_000)]
    check_log(log)
    check_quiet(log, 3, [item.id for item in api.menu if item.favorite])
    assert {name: r.supervisor.failures for name, r in services.by_role.items()
            if r.supervisor.failures} == {}


async def test_each_process_runs_only_its_own_consumers(services: Services) -> None:
    feeds = {role: sorted(r.feeds) for role, r in services.by_role.items()}
    assert feeds == {"api": [], "ordering": ["ordering"], "kitchen": ["kitchen"],
                     "board": ["views", "views-kitchen"], "analytics": ["analytics"],
                     "relay": ["relay"]}
    for role in ("ordering", "kitchen", "board", "analytics"):
        assert all(isinstance(feed, BusSubscription)
                   for feed in services.by_role[role].feeds.values())


async def test_the_apis_answer_never_waits_for_the_board_or_analytics() -> None:
    # No board and no analytics process is running: their read models stay behind for good.
    events, read_models, bus = InMemoryEventStore(), InMemoryReadModelStore(), InMemoryBus()
    by_role = {role: await bootstrap(SETTINGS, clock=VirtualClock(), event_store=events,
                                     read_models=read_models, bus=bus, roles=frozenset({role}))
               for role in ("api", "ordering", "kitchen", "relay")}
    for restaurant in by_role.values():
        await restaurant.start()
    app = create_app(restaurant=by_role["api"])
    app.state.restaurant = by_role["api"]  # what the lifespan does
    try:
        async with (httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                      base_url="http://api") as client,
                    asyncio.timeout(2)):  # waiting for the read models would take 5 s
            answer = await client.post("/orders",
                                       json={"items": [{"item": "salad", "quantity": 1}]})
    finally:
        await asyncio.gather(*(restaurant.stop() for restaurant in by_role.values()))

    assert answer.status_code == 201, answer.text
    order = answer.json()
    assert (order["number"], order["status"], order["estimated_ready_at"]) == (
        1, "REQUESTED", None)


async def test_a_retry_sent_to_another_api_process_answers_the_same_order() -> None:
    # Two api processes behind a load balancer; the retry of a timed-out POST reaches the other
    events, read_models, bus = InMemoryEventStore(), InMemoryReadModelStore(), InMemoryBus()
    apis = [await bootstrap(SETTINGS, clock=VirtualClock(), event_store=events,
                            read_models=read_models, bus=bus, roles=frozenset({"api"}))
            for _ in range(2)]
    answers = []
    try:
        for restaurant in apis:
            await restaurant.start()
            app = create_app(restaurant=restaurant)
            app.state.restaurant = restaurant
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://api") as client:
                answers.append(await client.post(
                    "/orders", json={"items": [{"item": "salad", "quantity": 1}]},
                    headers={"Idempotency-Key": "till-2-order-90"}))
    finally:
        await asyncio.gather(*(restaurant.stop() for restaurant in apis))

    first, retry = (answer.json() for answer in answers)
    assert (retry["id"], retry["number"]) == (first["id"], first["number"]) == (first["id"], 1)
    assert answers[1].headers["idempotent-replayed"] == "true"
    placed = [r for r in await events.read_stream("ordering-main")
              if r.event.TYPE == "OrderPlaced"]
    assert len(placed) == 1
