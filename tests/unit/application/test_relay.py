"""The relay publishes the event log to the bus: every event, keyed by restaurant, in log order,
each message saying where the restaurant's previous event is; a crash before the checkpoint
only ever duplicates messages, never loses or garbles one."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence

import pytest

from mcburger.adapters.bus.memory import InMemoryBus
from mcburger.adapters.eventstore.memory import InMemoryEventStore
from mcburger.adapters.serialization import DEAD_LETTER_TOPIC, JsonEventCodec, topic_of_category
from mcburger.application.feeds.bus import BusSubscription, DeadLetters
from mcburger.application.feeds.log import Subscription
from mcburger.application.ports import (
    Delivery,
    Envelope,
    Message,
    RecordedEvent,
    Tracking,
)
from mcburger.application.relay import CONSUMER, Relay
from mcburger.domain.events import (
    CATEGORIES,
    KITCHEN,
    ORDERING,
    Event,
    category_of,
    stream_name,
)
from tests.unit.builders import category_event as event

CODEC = JsonEventCodec()
TOPICS = [topic_of_category(category) for category in CATEGORIES]
PARTITIONS = 3
_groups = itertools.count(1)


# --- building a log ------------------------------------------------------------------------


async def append(store: InMemoryEventStore, category: str, restaurant: str,
                 count: int = 1) -> list[RecordedEvent]:
    stream = stream_name(category, restaurant)
    version = len(await store.read_stream(stream))
    events = [event(category, restaurant, version + i) for i in range(1, count + 1)]
    return await store.append(stream, events, version)


async def interleaved_log(store: InMemoryEventStore) -> list[RecordedEvent]:
    """Two restaurants, both categories, interleaved in the global log:

    1 main/ordering  2 main/ordering  3 main/kitchen  4 north/ordering  5 north/kitchen
    6 main/ordering  7 main/kitchen   8 main/kitchen
    """
    await append(store, ORDERING, "main", 2)
    await append(store, KITCHEN, "main")
    await append(store, ORDERING, "north")
    await append(store, KITCHEN, "north")
    await append(store, ORDERING, "main")
    await append(store, KITCHEN, "main", 2)
    return await store.read_all(0, 1000)


# --- the bus side --------------------------------------------------------------------------


class FlakyBus(InMemoryBus):
    """An in-memory bus whose broker can be made unreachable."""

    down = False

    async def publish(self, messages: Sequence[Message]) -> None:
        if self.down:
            raise ConnectionError("broker unreachable")
        await super().publish(messages)


class CheckpointFails(InMemoryEventStore):
    """A store that goes away right when the relay writes its checkpoint."""

    broken = True

    async def append(self, stream: str, events: Sequence[Event], expected_version: int,
                     tracking: Tracking | None = None) -> list[RecordedEvent]:
        if self.broken and tracking is not None and tracking.consumer == CONSUMER:
            raise ConnectionError("store went away before the checkpoint")
        return await super().append(stream, events, expected_version, tracking)


async def new_bus(bus: InMemoryBus | None = None) -> InMemoryBus:
    made = bus or InMemoryBus()
    await made.create_topics([*TOPICS, DEAD_LETTER_TOPIC], PARTITIONS)
    return made


def following(store: InMemoryEventStore, relay: Relay, after: int = 0) -> Subscription:
    """The relay's subscription to the log, as production wires it."""
    subscription = Subscription("relay", store, relay.publish, CATEGORIES)
    subscription.position = after
    return subscription


async def published(bus: InMemoryBus) -> list[Delivery]:
    """Everything on the event topics, read by a fresh consumer group."""
    consumer = bus.consumer(f"reader-{next(_groups)}", TOPICS)
    await consumer.start()
    try:
        return await consumer.fetch(10_000, 0)
    finally:
        await consumer.stop()


def decoded(deliveries: Sequence[Delivery]) -> list[Envelope]:
    return [CODEC.decode(delivery) for delivery in deliveries]


def chains(envelopes: Sequence[Envelope]) -> dict[str, list[tuple[int, int]]]:
    """Per restaurant, ``(position, previous)`` in log order."""
    found: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for envelope in sorted(envelopes, key=lambda e: e.record.position):
        found[envelope.record.event.restaurant_id].append(
            (envelope.record.position, envelope.previous))
    return dict(found)


async def handed_over_in_log_order(bus: InMemoryBus, restaurant: str) -> list[int]:
    """What a consumer of both topics that restores log order hands to its handler."""
    positions: list[int] = []

    async def handle(batch: Sequence[RecordedEvent]) -> None:
        positions.extend(record.position for record in batch)

    consumer = bus.consumer(f"consumer-{next(_groups)}", TOPICS)
    await consumer.start()
    subscription = BusSubscription("consumer", consumer, CODEC, handle, restaurant,
                                   DeadLetters(bus, DEAD_LETTER_TOPIC), in_log_order=True,
                                   retry_delay=0)
    try:
        for _ in range(5):
            await subscription.poll_once(timeout=0.01)
    finally:
        await consumer.stop()
    return positions


# --- tests ---------------------------------------------------------------------------------


async def test_every_event_is_published_once_to_its_category_topic_keyed_by_restaurant() -> None:
    store, bus = InMemoryEventStore(), await new_bus()
    log = await interleaved_log(store)
    relay = Relay(store, bus, CODEC)

    assert await following(store, relay).poll_once() == len(log)

    got = await published(bus)
    envelopes = decoded(got)
    assert sorted(e.record.position for e in envelopes) == [r.position for r in log]
    assert {e.record.position: e.record for e in envelopes} == {r.position: r for r in log}
    for delivery, envelope in zip(got, envelopes, strict=True):
        assert delivery.topic == topic_of_category(category_of(envelope.record.stream))
        assert delivery.key == envelope.record.event.restaurant_id
    by_key: dict[tuple[str, str | None], list[int]] = defaultdict(list)
    for delivery, envelope in zip(got, envelopes, strict=True):
        by_key[(delivery.topic, delivery.key)].append(envelope.record.position)
    assert by_key == {("mcburger.ordering", "main"): [1, 2, 6],
                      ("mcburger.kitchen", "main"): [3, 7, 8],
                      ("mcburger.ordering", "north"): [4],
                      ("mcburger.kitchen", "north"): [5]}


async def test_a_pass_over_nothing_new_publishes_nothing_and_the_next_only_the_new() -> None:
    store, bus = InMemoryEventStore(), await new_bus()
    log = await interleaved_log(store)
    relay = Relay(store, bus, CODEC)
    follow = following(store, relay)
    await follow.poll_once()

    assert await follow.poll_once() == 0
    assert len(await published(bus)) == len(log)

    later = await append(store, KITCHEN, "north")
    assert await follow.poll_once() == 1
    positions = [e.record.position for e in decoded(await published(bus))]
    assert sorted(positions) == [*range(1, len(log) + 1), later[0].position]


async def test_previous_chains_each_restaurants_events_across_both_topics() -> None:
    store, bus = InMemoryEventStore(), await new_bus()
    await interleaved_log(store)
    await following(store, Relay(store, bus, CODEC)).poll_once()

    assert chains(decoded(await published(bus))) == {
        "main": [(1, 0), (2, 1), (3, 2), (6, 3), (7, 6), (8, 7)],
        "north": [(4, 0), (5, 4)],
    }


async def test_previous_is_also_in_the_headers() -> None:
    store, bus = InMemoryEventStore(), await new_bus()
    await interleaved_log(store)
    await following(store, Relay(store, bus, CODEC)).poll_once()

    got = await published(bus)
    assert len(got) == 8  # every event of the log, so the loop below checks something
    for delivery, envelope in zip(got, decoded(got), strict=True):
        assert delivery.header("position") == str(envelope.record.position)
        assert delivery.header("previous") == str(envelope.previous)


async def test_the_checkpoint_moves_to_each_batchs_last_position() -> None:
    store, bus = InMemoryEventStore(), await new_bus()
    await interleaved_log(store)
    relay = Relay(store, bus, CODEC)
    assert await relay.checkpoint() == 0

    await relay.publish(await store.read_all(0, 3))
    assert await relay.checkpoint() == 3
    assert len(await published(bus)) == 3

    await relay.publish(await store.read_all(3, 4))
    assert await relay.checkpoint() == 7

    await following(store, relay, after=await relay.checkpoint()).poll_once()
    assert await relay.checkpoint() == 8
    assert sorted(e.record.position for e in decoded(await published(bus))) == list(range(1, 9))


async def test_a_restarted_relay_publishes_only_later_events_with_the_right_previous() -> None:
    store, bus = InMemoryEventStore(), await new_bus()
    await interleaved_log(store)  # main's newest is in kitchen (8), north's in kitchen (5)
    await append(store, ORDERING, "north")  # 9: north's newest is now in ordering
    await following(store, Relay(store, bus, CODEC)).poll_once()
    assert len(await published(bus)) == 9

    await append(store, ORDERING, "main")  # 10: previous 8, found in the kitchen stream
    await append(store, KITCHEN, "north")  # 11: previous 9, found in the ordering stream
    await append(store, ORDERING, "south")  # 12: a restaurant never seen: previous 0
    await append(store, ORDERING, "main")  # 13: previous 10
    restarted = Relay(store, bus, CODEC)
    assert await following(store, restarted, after=await restarted.checkpoint()).poll_once() == 4

    envelopes = decoded(await published(bus))
    assert sorted(e.record.position for e in envelopes) == list(range(1, 14))
    assert {(e.record.position, e.previous) for e in envelopes if e.record.position > 9} == {
        (10, 8), (11, 9), (12, 0), (13, 10)}
    assert await restarted.checkpoint() == 13


async def test_a_crash_before_the_checkpoint_duplicates_messages_and_loses_none() -> None:
    store, bus = CheckpointFails(), await new_bus()
    log = await interleaved_log(store)
    with pytest.raises(ConnectionError):
        await following(store, Relay(store, bus, CODEC)).poll_once()
    first = await published(bus)
    assert len(first) == len(log)

    store.broken = False  # the process restarts: a new relay, from the (unmoved) checkpoint
    restarted = Relay(store, bus, CODEC)
    assert await restarted.checkpoint() == 0
    await following(store, restarted).poll_once()

    everything = await published(bus)
    assert sorted(e.record.position for e in decoded(everything)) == sorted(
        [r.position for r in log] * 2)
    assert sorted(d.value for d in everything) == sorted([d.value for d in first] * 2)
    assert await restarted.checkpoint() == len(log)
    assert await handed_over_in_log_order(bus, "main") == [1, 2, 3, 6, 7, 8]
    assert await handed_over_in_log_order(bus, "north") == [4, 5]


async def test_a_batch_published_again_by_the_same_relay_is_an_exact_duplicate() -> None:
    """The supervisor restarts the relay's subscription in the same process: the Relay object
    that already published the batch publishes it again."""
    store, bus = CheckpointFails(), await new_bus()
    log = await interleaved_log(store)
    relay = Relay(store, bus, CODEC)
    with pytest.raises(ConnectionError):
        await following(store, relay).poll_once()
    first = await published(bus)

    store.broken = False
    await following(store, relay, after=await relay.checkpoint()).poll_once()

    everything = await published(bus)
    assert len(everything) == 2 * len(log)
    assert sorted(d.value for d in everything) == sorted([d.value for d in first] * 2)
    assert await handed_over_in_log_order(bus, "main") == [1, 2, 3, 6, 7, 8]


async def test_a_batch_the_bus_refused_is_published_whole_and_in_order_on_retry() -> None:
    store, bus = InMemoryEventStore(), FlakyBus()
    await new_bus(bus)
    log = await interleaved_log(store)
    relay = Relay(store, bus, CODEC)
    follow = following(store, relay)
    bus.down = True
    with pytest.raises(ConnectionError):
        await follow.poll_once()
    assert await published(bus) == []
    assert await relay.checkpoint() == 0

    bus.down = False  # the supervisor runs the same subscription again
    await following(store, relay, after=await relay.checkpoint()).poll_once()

    envelopes = decoded(await published(bus))
    assert sorted(e.record.position for e in envelopes) == [r.position for r in log]
    assert chains(envelopes) == {
        "main": [(1, 0), (2, 1), (3, 2), (6, 3), (7, 6), (8, 7)],
        "north": [(4, 0), (5, 4)],
    }
    assert await handed_over_in_log_order(bus, "main") == [1, 2, 3, 6, 7, 8]
    assert await handed_over_in_log_order(bus, "north") == [4, 5]
