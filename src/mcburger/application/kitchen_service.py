"""The kitchen service: follows ordering's events, runs the workers' timers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from mcburger.application.policies import kitchen_reacts
from mcburger.application.ports import Clock, EventStore, RecordedEvent
from mcburger.application.runner import AggregateRunner
from mcburger.domain.events import KITCHEN, ORDERING, stream_name
from mcburger.domain.kitchen import Kitchen, KitchenSetup
from mcburger.domain.menu import Menu

CONSUMER = "kitchen"


class KitchenService:
    """One restaurant's kitchen: ``kitchen-<restaurant>`` stream plus what it saw of ordering.

    The kitchen's state is rebuilt from its own stream and from the ordering events up to its
    checkpoint, which is saved in the same transaction as the kitchen's events; so after a crash
    the rebuilt state is exactly the one the last saved decision was made on. A snapshot holds
    the state at a kitchen version and the checkpoint it included: a rebuild observes only the
    ordering events after that checkpoint. Preparations that
    were running when the process died finish at their recorded time (at once, if it passed).
    """


    def __init__(self, store: EventStore, clock: Clock, menu: Menu, restaurant_id: str,
                 setup: KitchenSetup, seed: int) -> None:
        self._events = store
        self._clock = clock
        self._setup = setup
        self._runner = AggregateRunner(
            store, stream_name(KITCHEN, restaurant_id),
            lambda: Kitchen(restaurant_id, menu, seed), self._observe_up_to_checkpoint)
        self._changed = asyncio.Event()

    async def _observe_up_to_checkpoint(self, kitchen: Kitchen, after: int) -> int:
        """Observe ordering's events after ``after`` up to the stored checkpoint; return it."""
        checkpoint = await self._events.tracked_position(CONSUMER)
        position = after
        while position < checkpoint:
            batch = await self._events.read_all(position, 1000, (ORDERING,))
            for record in batch:
                if record.position > checkpoint:
                    return checkpoint
                kitchen.observe(record.event)
            if not batch:
                return checkpoint
            position = batch[-1].position
        return checkpoint

    async def start(self) -> None:
        """Record the start-up set-up if it changed and put idle workers to work."""
        await self._runner.execute(self._open)

    def _open(self, kitchen: Kitchen) -> None:
        now = self._clock.now()
        kitchen.configure(self._setup, now)
        kitchen.finish_due(now)
        kitchen.assign_work(now)

    async def handle_ordering_events(self, batch: Sequence[RecordedEvent]) -> None:
        """React to the ordering events of ``batch`` not handled yet (idempotent per event)."""

        def decide(kitchen: Kitchen, fresh: Sequence[RecordedEvent]) -> None:
            for record in fresh:
                kitchen_reacts(kitchen, record.event, self._clock.now())
            kitchen.assign_work(self._clock.now())

        await self._runner.react(CONSUMER, batch, decide)
        self._changed.set()

    async def tick(self) -> None:
        """Finish due preparations and give idle workers new ones."""
        await self._runner.execute(self._tick)

    def _tick(self, kitchen: Kitchen) -> None:
        now = self._clock.now()
        kitchen.finish_due(now)
        kitchen.assign_work(now)

    async def run_timers(self) -> None:
        """Sleep until the next preparation is due (or the kitchen changes), then tick."""
        while True:
            deadline = (await self._runner.current()).next_finish()
            self._changed.clear()
            waiter = asyncio.ensure_future(self._changed.wait())
            sleeper = asyncio.ensure_future(
                self._clock.sleep_until(deadline) if deadline else asyncio.Future())
            try:
                await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (waiter, sleeper):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if sleeper.done() and not sleeper.cancelled():
                await self.tick()

    async def kitchen(self) -> Kitchen:
        return await self._runner.current()

    async def checkpoint(self) -> int:
        return await self._events.tracked_position(CONSUMER)
