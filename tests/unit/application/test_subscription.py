"""Following the log: one read of it shared by a process's projections."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Sequence

import pytest

from mcburger.adapters.eventstore.memory import InMemoryEventStore
from mcburger.application.feeds import log as subscription_module
from mcburger.application.feeds.log import (
    ConsumerFailed,
    SharedSubscription,
    Subscription,
)
from mcburger.application.ports import RecordedEvent
from mcburger.domain.events import KITCHEN, ORDERING
from tests.unit.builders import category_event


class CountingEventStore(InMemoryEventStore):
    """Counts the reads of the log."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = self.waits = 0

    async def read_all(self, after_position: int = 0, limit: int = 500,
                       categories: Collection[str] | None = None) -> list[RecordedEvent]:
        self.reads += 1
        return await super().read_all(after_position, limit, categories)

    async def wait_for_append(self, after_position: int, timeout: float) -> bool:
        self.waits += 1
        return await super().wait_for_append(after_position, timeout)


class Recorder:
    """A handler that keeps what it was handed, and can be told to fail."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.fail = False

    async def handle(self, batch: Sequence[RecordedEvent]) -> None:
        if self.fail:
            raise ValueError("broken projection")
        self.batches.append([record.position for record in batch])

    @property
    def positions(self) -> list[int]:
        return [position for batch in self.batches for position in batch]


async def a_log(categories: Sequence[str]) -> CountingEventStore:
    """One event a position, of the given categories in turn (position n: categories[n-1])."""
    store = CountingEventStore()
    for number, category in enumerate(categories, start=1):
        event = category_event(category, "main", number)
        await store.append(f"{category}-{number}", [event], 0)
    return store


async def test_each_subscription_gets_its_categories_after_its_own_position_from_one_read(
) -> None:
    kinds = [ORDERING, KITCHEN] * 25  # odd positions: ordering; even: kitchen
    store = await a_log(kinds)
    ordering, kitchen, everything = Recorder(), Recorder(), Recorder()
    shared = SharedSubscription("projections", store, [
        Subscription("views", store, ordering.handle, (ORDERING,)),
        Subscription("views-kitchen", store, kitchen.handle, (KITCHEN,)),
        Subscription("analytics", store, everything.handle)], batch_size=10)
    for sub, start in zip(shared.subscriptions, (0, 20, 7), strict=True):
        sub.position = sub.scanned = start

    assert await shared.poll_once() == 50  # read from the lowest start: 0

    assert ordering.positions == list(range(1, 51, 2))
    assert kitchen.positions == list(range(22, 51, 2))
    assert everything.positions == list(range(8, 51))
    assert all(len(batch) <= 10 for batch in everything.batches)
    # one read a batch of ten for all three, and the read that finds the end: not one each
    assert store.reads == 6
    assert [(s.position, s.scanned) for s in shared.subscriptions] == [(49, 50), (50, 50),
                                                                         (50, 50)]


async def test_new_events_are_handed_on_and_nothing_twice() -> None:
    store = await a_log([ORDERING] * 5)
    seen = Recorder()
    shared = SharedSubscription("projections", store,
                                [Subscription("views", store, seen.handle, (ORDERING,))])
    await shared.poll_once()
    await store.append("ordering-6", [category_event(ORDERING, "main", 6)], 0)

    assert await shared.poll_once() == 1
    assert await shared.poll_once() == 0
    assert seen.positions == [1, 2, 3, 4, 5, 6]


async def test_a_failing_subscription_is_named_and_the_others_resume_where_they_were(
) -> None:
    store = await a_log([ORDERING, KITCHEN] * 10)
    views, analytics = Recorder(), Recorder()
    analytics.fail = True
    subscriptions = [Subscription("views", store, views.handle, (ORDERING,)),
                     Subscription("analytics", store, analytics.handle)]
    shared = SharedSubscription("projections", store, subscriptions, batch_size=4)

    with pytest.raises(ConsumerFailed, match="analytics: ValueError: broken projection"):
        await shared.poll_once()
    # restarted (as the supervisor does) from where each one stands
    analytics.fail = False
    await shared.poll_once()

    assert analytics.positions == list(range(1, 21))
    assert views.positions == list(range(1, 21, 2))  # each once, in order


async def test_a_subscription_far_behind_says_it_is_catching_up_and_when_it_has(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subscription_module, "REBUILD_EVENTS", 30)
    store = await a_log([ORDERING] * 40)
    seen = Recorder()
    shared = SharedSubscription("projections", store,
                                [Subscription("views", store, seen.handle, (ORDERING,))],
                                batch_size=10)

    with caplog.at_level(logging.INFO, logger=subscription_module.__name__):
        await shared.poll_once()
        await store.append("ordering-41", [category_event(ORDERING, "main", 41)], 0)
        await shared.poll_once()  # one event behind: live, nothing to say

    messages = [record.getMessage() for record in caplog.records]
    assert messages[0] == "projections: catching up from position 0 to 40"
    assert messages[-1].startswith("projections: caught up at position 40 in ")
    assert len(messages) == 2


async def test_when_one_fails_the_others_are_stopped_before_the_failure_is_reported() -> None:
    store = await a_log([ORDERING] * 3)
    outcome: list[str] = []

    async def still_writing(batch: Sequence[RecordedEvent]) -> None:
        try:
            await asyncio.Event().wait()  # a commit that has not come back yet
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    async def broken(batch: Sequence[RecordedEvent]) -> None:
        raise ValueError("broken projection")

    shared = SharedSubscription("projections", store, [
        Subscription("views", store, still_writing), Subscription("analytics", store, broken)])

    with pytest.raises(ConsumerFailed, match="analytics"):
        await shared.poll_once()

    # stopped before the failure reached the supervisor, not left running beside a restart
    assert outcome == ["cancelled"]


async def until(condition: Callable[[], bool]) -> None:
    """Let the running subscription take steps until ``condition`` holds (bounded)."""
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110 - each step of the other task is a yield
            await asyncio.sleep(0)


async def test_one_caught_up_elsewhere_joins_and_gets_only_what_is_after_its_position(
) -> None:
    store = await a_log([ORDERING, KITCHEN] * 10)  # odd positions: ordering; even: kitchen
    views, analytics = Recorder(), Recorder()
    shared = SharedSubscription(
        "projections", store, [Subscription("views", store, views.handle, (ORDERING,))],
        batch_size=4)
    running = asyncio.create_task(shared.run([0]))
    try:
        await until(lambda: views.positions[-1:] == [19])
        # rebuilt up to 16 in a worker process; it reads kitchen events too, from now on
        shared.join(Subscription("analytics", store, analytics.handle), 16)
        await until(lambda: analytics.positions[-1:] == [20])
        await store.append("kitchen-21", [category_event(KITCHEN, "main", 21)], 0)
        await until(lambda: analytics.positions[-1:] == [21])
    finally:
        running.cancel()

    assert analytics.positions == [17, 18, 19, 20, 21]
    assert views.positions == list(range(1, 21, 2))  # never handed an event twice


async def test_with_every_subscription_rebuilding_elsewhere_it_waits_for_them() -> None:
    store = await a_log([ORDERING] * 3)
    seen = Recorder()
    shared = SharedSubscription("projections", store, [])
    running = asyncio.create_task(shared.run([]))
    try:
        for _ in range(20):
            await asyncio.sleep(0)
        assert (store.reads, store.waits) == (0, 0)  # nobody to read for: no busy loop
        shared.join(Subscription("views", store, seen.handle, (ORDERING,)), 1)
        await until(lambda: seen.positions[-1:] == [3])
    finally:
        running.cancel()

    assert seen.positions == [2, 3]
