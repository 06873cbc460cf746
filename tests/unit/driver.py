"""Drives a restaurant wired by the real bootstrap on a virtual clock with in-memory fakes:
consumers are polled by hand and kitchen timers fire when the test moves the clock."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from mcburger.adapters.clock import VirtualClock
from mcburger.adapters.eventstore.memory import InMemoryEventStore
from mcburger.adapters.readmodels.memory import InMemoryReadModelStore
from mcburger.application.feeds.log import SharedSubscription, Subscription
from mcburger.application.flow import FLOW, wired
from mcburger.bootstrap import bootstrap
from mcburger.config import Settings
from mcburger.restaurant import EMBEDDED_ROLES, Restaurant

FIXED_MENU = """
[[items]]
id = "burger"
prep_seconds = 120
favorite = true

[[items]]
id = "nuggets"
prep_seconds = 150
"""


class Driver:
    """Polls the rows of the event flow (``FLOW``) that run embedded, as the composition root
    starts them: each policy on a subscription of its own, the projections on one shared read
    of the log."""

    def __init__(self, restaurant: Restaurant, clock: VirtualClock) -> None:
        self.restaurant = restaurant
        self.clock = clock
        here = [consumer for consumer in FLOW if consumer.role in EMBEDDED_ROLES]
        self.feeds = {consumer.name: Subscription(
            consumer.name, restaurant.event_store, wired(consumer, restaurant).handle,
            consumer.log_categories) for consumer in here}
        self.policies = [self.feeds[c.name] for c in here if not c.projection]
        self.projections = SharedSubscription(
            "projections", restaurant.event_store,
            [self.feeds[c.name] for c in here if c.projection])
        # Polled alone by some tests
        self.kitchen, self.views = self.feeds["kitchen"], self.feeds["views"]

    @classmethod
    async def open(cls, **settings: Any) -> Driver:
        clock = VirtualClock()
        restaurant = await bootstrap(Settings(**{"seed": 7, **settings}), clock=clock,
                                     event_store=InMemoryEventStore(),
                                     read_models=InMemoryReadModelStore())
        driver = cls(restaurant, clock)
        await restaurant.kitchen.start()
        await restaurant.analytics.start()
        return driver

    @classmethod
    async def with_fixed_menu(cls, tmp_path: Path, **settings: Any) -> Driver:
        """A menu without variance (burger 120 s favourite, nuggets 150 s): exact times."""
        menu = tmp_path / "menu.toml"
        menu.write_text(FIXED_MENU, "utf-8")
        return await cls.open(menu=menu, **settings)

    async def drain(self) -> None:
        """Poll every consumer until none has anything left."""
        while sum([await feed.poll_once() for feed in (*self.policies, self.projections)]):
            pass

    async def next_finish(self) -> datetime | None:
        return (await self.restaurant.kitchen.kitchen()).next_finish()

    async def advance_to(self, when: datetime) -> None:
        """Move the clock, firing each kitchen timer at its due time and draining after it."""
        await self.drain()
        while (due := await self.next_finish()) is not None and due <= when:
            self.clock.advance_to(due)
            await self.restaurant.kitchen.tick()
            await self.drain()
        self.clock.advance_to(when)

    async def run_until_quiet(self) -> None:
        await self.drain()
        while (due := await self.next_finish()) is not None:
            await self.advance_to(due)
