"""Two processes on one event store, each running the ordering and kitchen consumers and the
kitchen timers, handed overlapping batches of the log (as two `mcburger run` on one data
directory did, or two partition holders after a kill -9 between append and offset commit).
Every event is decided once: FIFO holds, no unit is allocated or prepared twice, every
request is answered once, and every order becomes READY."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from mcburger.adapters.clock import VirtualClock
from mcburger.adapters.eventstore.memory import InMemoryEventStore
from mcburger.adapters.readmodels.memory import InMemoryReadModelStore
from mcburger.application.feeds.log import Subscription
from mcburger.bootstrap import bootstrap
from mcburger.config import Settings
from mcburger.domain.events import (
    KITCHEN,
    ORDERING,
    KitchenUnitsRequested,
    OrderLine,
    OrderPlaced,
    UnitPrepared,
    UnitQueued,
    UnitsCovered,
)
from mcburger.restaurant import Restaurant
from tests.e2e.helpers import events_in
from tests.support.invariants import check_quiet
from tests.unit.builders import default_menu

MENU = default_menu()
ITEMS = [item.id for item in MENU]
FAVOURITES = [item.id for item in MENU.favorites]


async def process(events: InMemoryEventStore, clock: VirtualClock, batch_size: int,
                  favorites_first: bool) -> tuple[Restaurant, list[Subscription]]:
    restaurant = await bootstrap(
        Settings(seed=1, workers=2, speed=100, favorites_first=favorites_first), clock=clock,
        event_store=events, read_models=InMemoryReadModelStore())
    await restaurant.kitchen.start()
    feeds = [Subscription("ordering", events, restaurant.ordering.handle_kitchen_events,
                          (KITCHEN,), batch_size),
             Subscription("kitchen", events, restaurant.kitchen.handle_ordering_events,
                          (ORDERING,), batch_size)]
    return restaurant, feeds


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), favorites_first=st.booleans(),
       sizes=st.tuples(st.integers(1, 6), st.integers(1, 6)))
async def test_two_writers_with_overlapping_batches_keep_every_invariant(
        seed: int, favorites_first: bool, sizes: tuple[int, int]) -> None:
    rng = random.Random(seed)
    events, clock = InMemoryEventStore(), VirtualClock()
    a, a_feeds = await process(events, clock, sizes[0], favorites_first)
    b, b_feeds = await process(events, clock, sizes[1], favorites_first)
    feeds = a_feeds + b_feeds

    async def step() -> None:
        # Deliver in a random order: each process's subscriptions start from position 0 and
        # read at their own batch size, so the two processes' batches overlap.
        for feed in rng.sample(feeds, len(feeds)):
            await feed.poll_once()
        due = [d for r in (a, b) if (d := (await r.kitchen.kitchen()).next_finish())]
        if due:
            clock.advance_to(min(due))
            for r in rng.sample([a, b], 2):
                await r.kitchen.tick()

    for _ in range(12):
        lines = [OrderLine(item, rng.randint(1, 2)) for item in rng.sample(ITEMS, 2)]
        await rng.choice([a, b]).ordering.place_order(lines)
        for _ in range(rng.randint(0, 3)):
            await step()
    async def quiet() -> bool:
        return [(await r.kitchen.kitchen()).next_finish() for r in (a, b)] == [None, None]

    for _ in range(2000):
        await step()
        if await quiet():
            await step()  # the last hand-overs
            if await quiet():
                break

    log = await events_in(events)
    check_quiet(log, 3, FAVOURITES)  # FIFO, each unit handed on once, every order READY
    prepared = [e.preparation_id for e in log if isinstance(e, UnitPrepared)]
    assert len(prepared) == len(set(prepared)), "a unit was prepared twice"
    answered: Counter[tuple[str, str]] = Counter()
    for event in log:
        if isinstance(event, UnitQueued):
            answered[(event.order_id, event.item)] += 1
        elif isinstance(event, UnitsCovered):
            answered[(event.order_id, event.item)] += event.quantity
    requested = Counter({(e.order_id, e.item): e.quantity for e in log
                         if isinstance(e, KitchenUnitsRequested)})
    assert answered == requested, "a kitchen request was answered twice (or not at all)"
    assert sum(isinstance(e, OrderPlaced) for e in log) == 12
