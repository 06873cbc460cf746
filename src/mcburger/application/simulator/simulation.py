"""A restaurant on a virtual timeline: the same aggregates and policies as the services, with
events handed between ordering and the kitchen in log order and time jumping from one
preparation to the next. Used by property tests (and the day simulator) to run thousands of
orders in milliseconds.

With ``interleave`` the two services receive their pending events in a random interleaving,
as separate processes would, so tests also cover one side lagging behind the other.
"""

from __future__ import annotations

import random
import uuid
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from mcburger.application.policies import kitchen_reacts, ordering_reacts
from mcburger.domain.events import Event, OrderLine
from mcburger.domain.kitchen import Kitchen, KitchenSetup
from mcburger.domain.menu import Menu
from mcburger.domain.ordering import Ordering

SIMULATION_START = datetime(2026, 1, 1, 11, 0, tzinfo=UTC)


class Simulation:
    def __init__(self, menu: Menu, setup: KitchenSetup, seed: int,
                 restaurant_id: str = "main", start: datetime = SIMULATION_START,
                 interleave: random.Random | None = None) -> None:
        self.now = start
        self.ordering = Ordering(restaurant_id, menu)
        self.kitchen = Kitchen(restaurant_id, menu, seed)
        self.log: list[Event] = []
        self._ids = random.Random(seed)
        self._interleave = interleave
        self._to_kitchen: deque[Event] = deque()
        self._to_ordering: deque[Event] = deque()
        self.kitchen.configure(setup, self.now)
        self.kitchen.assign_work(self.now)
        self._save_kitchen()

    # --- what customers do ----------------------------------------------------------------

    def place(self, lines: Iterable[OrderLine]) -> int:
        order_id = str(uuid.UUID(int=self._ids.getrandbits(128), version=4))
        order = self.ordering.place(order_id, lines, self.now)
        self._save_ordering()
        return order.number

    def collect(self, number: int) -> None:
        self.ordering.collect(number, self.now)
        self._save_ordering()

    # --- time -----------------------------------------------------------------------------

    def advance_to(self, when: datetime) -> None:
        """Deliver every pending event and finish every preparation due by ``when``."""
        self.deliver()
        while (due := self.kitchen.next_finish()) is not None and due <= when:
            self.now = max(self.now, due)
            self.kitchen.finish_due(self.now)
            self.kitchen.assign_work(self.now)
            self._save_kitchen()
            self.deliver()
        self.now = max(self.now, when)

    def advance(self, seconds: float) -> None:
        self.advance_to(self.now + timedelta(seconds=seconds))

    def run_until_quiet(self, max_seconds: float = 30 * 24 * 3600) -> None:
        """Run until nothing is being prepared and nothing is queued or in flight."""
        limit = self.now + timedelta(seconds=max_seconds)
        self.deliver()
        while (due := self.kitchen.next_finish()) is not None:
            if due > limit:
                raise RuntimeError("the kitchen never went quiet")
            self.advance_to(due)

    def deliver(self) -> None:
        while self._to_kitchen or self._to_ordering:
            to_kitchen = bool(self._to_kitchen) and (
                not self._to_ordering or self._interleave is None
                or self._interleave.random() < 0.5)
            if to_kitchen:
                kitchen_reacts(self.kitchen, self._to_kitchen.popleft(), self.now)
                self.kitchen.assign_work(self.now)
                self._save_kitchen()
            else:
                ordering_reacts(self.ordering, self._to_ordering.popleft(), self.now)
                self._save_ordering()

    def _save_ordering(self) -> None:
        events = self.ordering.pending
        self.ordering.mark_saved()
        self.log.extend(events)
        self._to_kitchen.extend(events)

    def _save_kitchen(self) -> None:
        events = self.kitchen.pending
        self.kitchen.mark_saved()
        self.log.extend(events)
        self._to_ordering.extend(events)
