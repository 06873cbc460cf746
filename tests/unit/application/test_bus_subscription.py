"""A service fed from bus topics: its restaurant's events reach the handler in order, once per
handler position; what cannot be read or handled goes to the dead letters without stopping the
rest; an outage stops the subscription without dropping or committing anything."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections import defaultdict
from collections.abc import Callable, Sequence

import pytest

from mcburger.adapters.bus.memory import InMemoryBus
from mcburger.adapters.serialization import DEAD_LETTER_TOPIC, JsonEventCodec, topic_of_category
from mcburger.application.feeds.bus import BusSubscription, DeadLetters
from mcburger.application.ports import Delivery, Envelope, Message, RecordedEvent
from mcburger.domain.errors import InvalidOrder
from mcburger.domain.events import (
    KITCHEN,
    ORDERING,
    category_of,
    stream_name,
)
from tests.unit.builders import category_event as event

CODEC = JsonEventCodec()
ORDERING_TOPIC, KITCHEN_TOPIC = topic_of_category(ORDERING), topic_of_category(KITCHEN)
NAME = "kitchen"
_groups = itertools.count(1)


def group() -> str:
    return f"group-{next(_groups)}"


# --- a log and its messages ----------------------------------------------------------------


def log(*places: tuple[str, str]) -> list[RecordedEvent]:
    """``(category, restaurant)`` per event, positions 1.. in that order."""
    versions: dict[str, int] = defaultdict(int)
    records = []
    for position, (category, restaurant) in enumerate(places, start=1):
        stream = stream_name(category, restaurant)
        versions[stream] += 1
        records.append(RecordedEvent(position, stream, versions[stream],
                                     event(category, restaurant, versions[stream])))
    return records


def messages(records: Sequence[RecordedEvent]) -> dict[int, Message]:
    """Each event's message by position, with ``previous`` chained per restaurant as the relay
    does."""
    last: dict[str, int] = {}
    found = {}
    for record in records:
        restaurant = record.event.restaurant_id
        found[record.position] = CODEC.encode(Envelope(record, last.get(restaurant, 0)))
        last[restaurant] = record.position
    return found


MAIN_ORDERING = (ORDERING, "main")
MAIN_KITCHEN = (KITCHEN, "main")
NORTH_ORDERING = (ORDERING, "north")
NORTH_KITCHEN = (KITCHEN, "north")


# --- the handler ---------------------------------------------------------------------------


class Recorder:
    """A batch handler: records every batch it was given; ``fail`` picks an error to raise."""

    def __init__(self, fail: Callable[[RecordedEvent], Exception | None] | None = None) -> None:
        self.fail = fail
        self.calls: list[list[int]] = []  # positions of every batch handed over
        self.handled: list[RecordedEvent] = []  # events of the batches that went through
        self._changed = asyncio.Event()

    async def __call__(self, batch: Sequence[RecordedEvent]) -> None:
        self.calls.append([record.position for record in batch])
        for record in batch:
            error = self.fail(record) if self.fail else None
            if error is not None:
                raise error
        self.handled.extend(batch)
        self._changed.set()

    @property
    def positions(self) -> list[int]:
        return [record.position for record in self.handled]

    async def wait_for(self, position: int) -> None:
        async with asyncio.timeout(5):
            while position not in self.positions:
                self._changed.clear()
                await self._changed.wait()


# --- the bus -------------------------------------------------------------------------------


async def new_bus() -> InMemoryBus:
    bus = InMemoryBus()
    # One partition: other restaurants' messages sit between ours, so they must be committed
    # too for the group's offset to move on.
    await bus.create_topics([ORDERING_TOPIC, KITCHEN_TOPIC, DEAD_LETTER_TOPIC], 1)
    return bus


async def subscribe(bus: InMemoryBus, handler: Recorder, topics: Sequence[str] = (ORDERING_TOPIC,),
                    group_name: str | None = None, in_log_order: bool = False,
                    max_attempts: int = 3, start: bool = True) -> BusSubscription:
    consumer = bus.consumer(group_name or group(), topics)
    if start:
        await consumer.start()
    return BusSubscription(NAME, consumer, CODEC, handler, "main",
                           DeadLetters(bus, DEAD_LETTER_TOPIC), in_log_order=in_log_order,
                           max_attempts=max_attempts, retry_delay=0)


async def drain(subscription: BusSubscription) -> None:
    for _ in range(10):
        await subscription.poll_once(timeout=0.01)
        if await subscription.lag() == 0:
            return


async def everything_on(bus: InMemoryBus, topic: str) -> list[Delivery]:
    consumer = bus.consumer(group(), [topic])
    await consumer.start()
    try:
        return await consumer.fetch(10_000, 0)
    finally:
        await consumer.stop()


async def lag_of(bus: InMemoryBus, group_name: str, topics: Sequence[str]) -> int:
    """Messages the group has not committed (measured by a member that joins and leaves)."""
    consumer = bus.consumer(group_name, topics)
    await consumer.start()
    try:
        return await consumer.lag()
    finally:
        await consumer.stop()


# --- tests ---------------------------------------------------------------------------------


async def test_hands_over_its_restaurants_events_in_order_and_commits_past_the_others() -> None:
    bus = await new_bus()
    records = log(MAIN_ORDERING, NORTH_ORDERING, MAIN_ORDERING, NORTH_ORDERING, MAIN_ORDERING,
                  NORTH_ORDERING)
    await bus.publish(list(messages(records).values()))
    handler = Recorder()
    subscription = await subscribe(bus, handler)

    await drain(subscription)

    assert handler.handled == [records[0], records[2], records[4]]
    assert await subscription.lag() == 0
    assert subscription.position == 5
    assert await everything_on(bus, DEAD_LETTER_TOPIC) == []


async def test_later_messages_are_handed_over_by_the_next_polls() -> None:
    bus = await new_bus()
    records = log(MAIN_ORDERING, NORTH_ORDERING, MAIN_ORDERING, MAIN_ORDERING)
    sent = messages(records)
    handler = Recorder()
    subscription = await subscribe(bus, handler)
    await bus.publish([sent[1], sent[2]])
    await drain(subscription)
    await bus.publish([sent[3], sent[4]])
    await drain(subscription)

    assert handler.calls == [[1], [3, 4]]
    assert await subscription.lag() == 0


async def test_a_malformed_message_goes_to_the_dead_letters_and_the_rest_is_handled() -> None:
    bus = await new_bus()
    records = log(MAIN_ORDERING, MAIN_ORDERING)
    sent = messages(records)
    garbage = Message(ORDERING_TOPIC, "main", b"this is no event")
    await bus.publish([sent[1], garbage, sent[2]])
    handler = Recorder()
    subscription = await subscribe(bus, handler)

    await drain(subscription)

    assert handler.positions == [1, 2]
    assert await subscription.lag() == 0
    [dead] = await everything_on(bus, DEAD_LETTER_TOPIC)
    assert dead.value == garbage.value
    assert dead.key == "main"
    error = dead.header("error")
    assert error is not None and error.startswith("undecodable") and "JSONDecodeError" in error
    assert dead.header("source-topic") == ORDERING_TOPIC
    assert dead.header("source-partition") == "0"
    assert dead.header("source-offset") == "1"
    assert dead.header("consumer") == NAME


async def test_another_restaurants_malformed_message_is_none_of_our_business() -> None:
    bus = await new_bus()
    sent = messages(log(MAIN_ORDERING))
    await bus.publish([Message(ORDERING_TOPIC, "north", b"garbage"), sent[1]])
    handler = Recorder()
    subscription = await subscribe(bus, handler)

    await drain(subscription)

    assert handler.positions == [1]
    assert await subscription.lag() == 0
    assert await everything_on(bus, DEAD_LETTER_TOPIC) == []


@pytest.mark.parametrize("max_attempts", [1, 4])
async def test_an_event_the_handler_refuses_goes_to_the_dead_letters_after_its_tries(
        max_attempts: int) -> None:
    bus = await new_bus()
    records = log(MAIN_ORDERING, MAIN_ORDERING, NORTH_ORDERING, MAIN_ORDERING)
    await bus.publish(list(messages(records).values()))
    handler = Recorder(lambda record: InvalidOrder("items.0.item", "no such item")
                       if record.position == 2 else None)
    subscription = await subscribe(bus, handler, max_attempts=max_attempts)

    await drain(subscription)

    assert handler.positions == [1, 4]
    assert handler.calls.count([2]) == max_attempts  # alone, after the batch [1, 2, 4] failed
    assert await subscription.lag() == 0
    [dead] = await everything_on(bus, DEAD_LETTER_TOPIC)
    assert CODEC.decode(dead).record == records[1]
    assert dead.header("error") == "InvalidOrder: no such item"
    assert dead.header("source-topic") == ORDERING_TOPIC
    assert dead.header("source-offset") == "1"


async def test_a_lone_event_the_handler_refuses_is_tried_max_attempts_times() -> None:
    bus = await new_bus()
    await bus.publish(list(messages(log(MAIN_ORDERING)).values()))
    handler = Recorder(lambda record: ValueError("bad quantity"))
    subscription = await subscribe(bus, handler, max_attempts=3)

    await drain(subscription)

    assert handler.calls == [[1], [1], [1]]
    assert await subscription.lag() == 0
    [dead] = await everything_on(bus, DEAD_LETTER_TOPIC)
    assert dead.header("error") == "ValueError: bad quantity"


async def test_an_outage_stops_the_subscription_and_commits_and_dead_letters_nothing() -> None:
    bus = await new_bus()
    records = log(MAIN_ORDERING, NORTH_ORDERING, MAIN_ORDERING)
    await bus.publish(list(messages(records).values()))
    store_down = True
    handler = Recorder(lambda record: ConnectionError("store unreachable") if store_down
                       else None)
    name = group()
    subscription = await subscribe(bus, handler, group_name=name, start=False)

    with pytest.raises(ConnectionError):
        async with asyncio.timeout(5):
            await subscription.run(after=0)

    assert handler.handled == []
    assert await everything_on(bus, DEAD_LETTER_TOPIC) == []
    assert await lag_of(bus, name, [ORDERING_TOPIC]) == 3

    store_down = False  # the supervisor runs it again: the group delivers everything again
    running = asyncio.create_task(subscription.run(after=0))
    try:
        await handler.wait_for(3)
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
    assert handler.handled == [records[0], records[2]]
    assert await lag_of(bus, name, [ORDERING_TOPIC]) == 0


async def test_an_outage_seen_by_poll_once_leaves_the_messages_to_the_next_member() -> None:
    bus = await new_bus()
    records = log(MAIN_ORDERING, MAIN_ORDERING)
    await bus.publish(list(messages(records).values()))
    name = group()
    failing = await subscribe(bus, Recorder(lambda r: ConnectionError("down")), group_name=name)

    with pytest.raises(ConnectionError):
        await failing.poll_once(timeout=0.01)
    await failing.consumer.stop()

    handler = Recorder()
    await drain(await subscribe(bus, handler, group_name=name))
    assert handler.handled == records
    assert await everything_on(bus, DEAD_LETTER_TOPIC) == []


@pytest.mark.parametrize("in_log_order", [False, True])
async def test_a_redelivery_hands_over_only_what_is_after_the_handlers_position(
        in_log_order: bool) -> None:
    bus = await new_bus()
    records = log(MAIN_ORDERING, MAIN_ORDERING, NORTH_ORDERING, MAIN_ORDERING, MAIN_ORDERING)
    await bus.publish(list(messages(records).values()))
    name = group()
    crashed = bus.consumer(name, [ORDERING_TOPIC])  # fetched, handled up to 2, never committed
    await crashed.start()
    assert len(await crashed.fetch(100, 0)) == 5
    await crashed.stop()

    handler = Recorder()
    subscription = await subscribe(bus, handler, group_name=name, in_log_order=in_log_order,
                                   start=False)
    running = asyncio.create_task(subscription.run(after=2))
    try:
        await handler.wait_for(5)
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    assert handler.positions == [4, 5]
    assert await lag_of(bus, name, [ORDERING_TOPIC]) == 0


async def test_a_new_group_skips_what_the_handler_already_has() -> None:
    bus = await new_bus()
    records = log(MAIN_ORDERING, MAIN_KITCHEN, MAIN_ORDERING, MAIN_KITCHEN)
    await bus.publish(list(messages(records).values()))
    first = Recorder()
    await drain(await subscribe(bus, first, [ORDERING_TOPIC, KITCHEN_TOPIC], in_log_order=True))
    assert first.positions == [1, 2, 3, 4]

    again = Recorder()
    subscription = await subscribe(bus, again, [ORDERING_TOPIC, KITCHEN_TOPIC],
                                   in_log_order=True)
    subscription.position = 3  # what run(after=3) sets: the handler's checkpoint
    await drain(subscription)

    assert again.positions == [4]
    assert await subscription.lag() == 0


async def test_without_log_order_a_fetch_of_two_topics_is_one_batch_by_position() -> None:
    """The handler stores its effects with its batch's last position: that must be the newest."""
    bus = await new_bus()
    records = log(MAIN_ORDERING, MAIN_KITCHEN, MAIN_ORDERING, MAIN_KITCHEN)
    await bus.publish(list(messages(records).values()))
    handler = Recorder()

    await drain(await subscribe(bus, handler, [ORDERING_TOPIC, KITCHEN_TOPIC]))

    assert handler.calls == [[1, 2, 3, 4]]


async def test_in_log_order_restores_the_global_order_across_topics() -> None:
    bus = await new_bus()
    records = log(MAIN_ORDERING, MAIN_KITCHEN, MAIN_KITCHEN, NORTH_ORDERING, NORTH_KITCHEN,
                  MAIN_ORDERING, MAIN_KITCHEN, MAIN_ORDERING)
    sent = messages(records)
    kitchen = [m for m in sent.values() if m.topic == KITCHEN_TOPIC]
    ordering = [m for m in sent.values() if m.topic == ORDERING_TOPIC]
    handler = Recorder()
    subscription = await subscribe(bus, handler, [ORDERING_TOPIC, KITCHEN_TOPIC],
                                   in_log_order=True)

    await bus.publish(kitchen)  # the kitchen topic is ahead: its messages wait for ordering's
    await drain(subscription)
    assert handler.calls == []
    assert await subscription.lag() == len(kitchen)

    await bus.publish(ordering)
    await drain(subscription)

    assert handler.positions == [1, 2, 3, 6, 7, 8]
    assert handler.handled == [r for r in records if r.event.restaurant_id == "main"]
    assert await subscription.lag() == 0


async def test_in_log_order_steps_over_a_malformed_message_that_says_where_it_was() -> None:
    bus = await new_bus()
    records = log(MAIN_ORDERING, MAIN_KITCHEN, MAIN_ORDERING, MAIN_KITCHEN, MAIN_ORDERING)
    sent = messages(records)
    sent[2] = dataclasses.replace(sent[2], value=b"{truncated")  # headers still say 2, after 1
    handler = Recorder()
    subscription = await subscribe(bus, handler, [ORDERING_TOPIC, KITCHEN_TOPIC],
                                   in_log_order=True)

    await bus.publish([sent[2], sent[4]])
    await bus.publish([sent[1], sent[3], sent[5]])
    await drain(subscription)

    assert handler.positions == [1, 3, 4, 5]
    assert await subscription.lag() == 0
    [dead] = await everything_on(bus, DEAD_LETTER_TOPIC)
    assert dead.value == b"{truncated"
    assert dead.header("source-topic") == KITCHEN_TOPIC
    assert dead.header("position") == "2"
    error = dead.header("error")
    assert error is not None and error.startswith("undecodable")


def test_the_log_helper_matches_what_the_relay_publishes() -> None:
    """Guards the helpers above: streams, versions and ``previous`` as the relay makes them."""
    records = log(MAIN_ORDERING, NORTH_KITCHEN, MAIN_KITCHEN)
    assert [(r.stream, r.version) for r in records] == [
        ("ordering-main", 1), ("kitchen-north", 1), ("kitchen-main", 1)]
    assert [category_of(r.stream) for r in records] == [ORDERING, KITCHEN, KITCHEN]
    assert [CODEC.decode(_delivered(m)).previous for m in messages(records).values()] == [0, 0, 1]


def _delivered(message: Message) -> Delivery:
    return Delivery(message.topic, 0, 0, message.key, message.value, message.headers)


async def test_in_log_order_a_malformed_message_without_its_place_cannot_jump_the_queue() -> None:
    """Headers that give a position but no predecessor say nothing about the order: such a
    message is dead-lettered, and events that came before it are not skipped."""
    bus = await new_bus()
    records = log(MAIN_ORDERING, MAIN_KITCHEN, MAIN_ORDERING)
    sent = messages(records)
    stray = Message(KITCHEN_TOPIC, "main", b"{truncated", (("position", b"5"),))
    handler = Recorder()
    subscription = await subscribe(bus, handler, [ORDERING_TOPIC, KITCHEN_TOPIC],
                                   in_log_order=True)

    await bus.publish([stray, sent[2]])
    await bus.publish([sent[1], sent[3]])
    await drain(subscription)

    assert handler.positions == [1, 2, 3]
    [dead] = await everything_on(bus, DEAD_LETTER_TOPIC)
    assert dead.value == b"{truncated"
