"""Drives a restaurant wired by the real bootstrap on a virtual clock with in-memory fakes:
consumers are polled by hand and kitchen timers fire when the test moves the clock."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from mcburger.adapters.clock import VirtualClock
from mcburger.adapters.eventstore.memory import InMemoryEventStore
from mcburger.adapters.readmodels.memory import InMemoryReadModelStore
from mcburger.application.subscription import SharedSubscription, Subscription
from mcburger.bootstrap import Restaurant, bootstrap
from mcburger.config import Settings
from mcburger.domain.events import KITCHEN, ORDERING

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
    def __init__(self, restaurant: Restaurant, clock: VirtualClock) -> None:
        self.restaurant = restaurant
        self.clock = clock
        r = restaurant
        self.ordering = Subscription("ordering", r.events, r.ordering.handle_kitchen_events,
                                     (KITCHEN,))
        self.kitchen = Subscription("kitchen", r.events, r.kitchen.handle_ordering_events,
                                    (ORDERING,))
        self.views = Subscription("views", r.events, r.views.handle, (ORDERING,))
        self.views_kitchen = Subscription("views-kitchen", r.events, r.views.handle_kitchen,
                                          (KITCHEN,))
        self.analytics = Subscription("analytics", r.events, r.analytics.handle)
        # as the composition root runs them: one read of the log for the projections
        self.projections = SharedSubscription(
            "projections", r.events, [self.views, self.views_kitchen, self.analytics])

    @classmethod
    async def open(cls, **settings: Any) -> Driver:
        clock = VirtualClock()
        restaurant = await bootstrap(Settings(**{"seed": 7, **settings}), clock=clock,
                                     events=InMemoryEventStore(),
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
        while sum([await sub.poll_once()
                   for sub in (self.kitchen, self.ordering, self.projections)]):
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
