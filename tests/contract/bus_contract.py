"""The Bus contract: each adapter's test class subclasses it and provides ``bus``.

Topic and group names are unique per test, so a shared broker serves the whole session.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from mcburger.application.ports import Bus, BusConsumer, Delivery, Message

PARTITIONS = 3
KEYS = ("main", "north", "south", "east", "west", "harbour")


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


async def take(consumer: BusConsumer, count: int, timeout: float = 20.0) -> list[Delivery]:
    """Fetch until ``count`` messages came (or the timeout: then what came, for the assert)."""
    found: list[Delivery] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(found) < count and loop.time() < deadline:
        found.extend(await consumer.fetch(count - len(found), 0.5))
    return found


def values(deliveries: list[Delivery]) -> list[bytes]:
    return [delivery.value for delivery in deliveries]


class BusContract:
    """Behaviour every Bus adapter must share; subclasses override ``bus``."""

    @pytest.fixture
    async def bus(self) -> AsyncIterator[Bus]:
        raise NotImplementedError("an adapter's test class provides the bus")
        yield  # pragma: no cover

    @pytest.fixture
    async def topics(self, bus: Bus) -> tuple[str, str]:
        names = (unique("ordering"), unique("kitchen"))
        await bus.create_topics(names, PARTITIONS)
        return names

    async def test_one_keys_messages_arrive_in_order_with_key_and_headers(
            self, bus: Bus, topics: tuple[str, str]) -> None:
        topic = topics[0]
        sent = [Message(topic, "main", f"m{i}".encode(), (("position", str(i).encode()),))
                for i in range(20)]
        await bus.publish(sent[:7])
        await bus.publish(sent[7:])
        consumer = bus.consumer(unique("g"), [topic])
        await consumer.start()
        try:
            got = await take(consumer, 20)
        finally:
            await consumer.stop()
        assert values(got) == [m.value for m in sent]
        assert {d.key for d in got} == {"main"}
        assert [d.header("position") for d in got] == [str(i) for i in range(20)]
        assert got[0].header("missing") is None
        offsets = [d.offset for d in got]
        assert offsets == sorted(offsets) and len(set(offsets)) == 20

    async def test_a_key_has_the_same_partition_number_in_every_topic(
            self, bus: Bus, topics: tuple[str, str]) -> None:
        await bus.publish([Message(t, key, key.encode()) for key in KEYS for t in topics])
        consumer = bus.consumer(unique("g"), list(topics))
        await consumer.start()
        try:
            got = await take(consumer, 2 * len(KEYS))
        finally:
            await consumer.stop()
        partition_of = {(d.topic, d.key): d.partition for d in got}
        assert len(partition_of) == 2 * len(KEYS)
        for key in KEYS:
            assert partition_of[(topics[0], key)] == partition_of[(topics[1], key)]
        assert len({partition_of[(topics[0], key)] for key in KEYS}) > 1  # keys do spread

    async def test_committed_messages_are_not_delivered_again_to_the_group(
            self, bus: Bus, topics: tuple[str, str]) -> None:
        topic, group = topics[0], unique("g")
        await bus.publish([Message(topic, "main", f"m{i}".encode()) for i in range(10)])
        first = bus.consumer(group, [topic])
        await first.start()
        got = await take(first, 10)
        await first.commit(got[:6])
        await first.stop()

        second = bus.consumer(group, [topic])
        await second.start()
        try:
            again = await take(second, 4)
            assert values(again) == [f"m{i}".encode() for i in range(6, 10)]
            await second.commit(again)
            await bus.publish([Message(topic, "main", b"later")])
            assert values(await take(second, 1)) == [b"later"]
        finally:
            await second.stop()

    async def test_uncommitted_messages_are_delivered_again_at_least_once(
            self, bus: Bus, topics: tuple[str, str]) -> None:
        topic, group = topics[0], unique("g")
        await bus.publish([Message(topic, "main", f"m{i}".encode()) for i in range(5)])
        first = bus.consumer(group, [topic])
        await first.start()
        assert len(await take(first, 5)) == 5
        await first.stop()  # crashed before committing anything

        second = bus.consumer(group, [topic])
        await second.start()
        try:
            assert values(await take(second, 5)) == [f"m{i}".encode() for i in range(5)]
            assert await second.lag() == 5
        finally:
            await second.stop()

    async def test_a_stopped_member_can_start_again_and_gets_what_it_did_not_commit(
            self, bus: Bus, topics: tuple[str, str]) -> None:
        """A subscription restarted after an error reuses its consumer: it must rejoin."""
        topic = topics[0]
        await bus.publish([Message(topic, "main", f"m{i}".encode()) for i in range(3)])
        consumer = bus.consumer(unique("g"), [topic])
        await consumer.start()
        first = await take(consumer, 3)
        await consumer.commit(first[:1])
        await consumer.stop()

        await consumer.start()
        try:
            assert values(await take(consumer, 2)) == [b"m1", b"m2"]
        finally:
            await consumer.stop()

    async def test_each_group_reads_everything_from_the_beginning(
            self, bus: Bus, topics: tuple[str, str]) -> None:
        topic = topics[0]
        await bus.publish([Message(topic, key, key.encode()) for key in KEYS])
        for _ in range(2):
            consumer = bus.consumer(unique("g"), [topic])
            await consumer.start()
            try:
                assert sorted(values(await take(consumer, len(KEYS)))) == sorted(
                    k.encode() for k in KEYS)
            finally:
                await consumer.stop()

    async def test_fetch_returns_nothing_when_nothing_comes(
            self, bus: Bus, topics: tuple[str, str]) -> None:
        consumer = bus.consumer(unique("g"), [topics[0]])
        await consumer.start()
        try:
            assert await consumer.fetch(10, 0.3) == []
            assert await consumer.lag() == 0
        finally:
            await consumer.stop()

    async def test_lag_counts_what_the_group_has_not_committed(
            self, bus: Bus, topics: tuple[str, str]) -> None:
        topic = topics[0]
        consumer = bus.consumer(unique("g"), [topic])
        await consumer.start()
        try:
            await take(consumer, 0, timeout=0.5)  # joined and assigned before publishing
            await bus.publish([Message(topic, "main", f"m{i}".encode()) for i in range(4)])
            got = await take(consumer, 4)
            await consumer.commit(got[:1])
            assert await consumer.lag() == 3
            await consumer.commit(got)
            assert await consumer.lag() == 0
        finally:
            await consumer.stop()

    async def test_a_groups_members_share_partitions_one_owner_each(
            self, bus: Bus, topics: tuple[str, str]) -> None:
        group = unique("g")
        first, second = bus.consumer(group, list(topics)), bus.consumer(group, list(topics))
        await first.start()
        await second.start()
        try:
            await bus.publish([Message(t, key, key.encode()) for key in KEYS for t in topics])
            got: list[Delivery] = []
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while len(got) < 2 * len(KEYS) and loop.time() < deadline:
                for member in (first, second):
                    got.extend(await member.fetch(100, 0.3))
            owned = (first.owned(), second.owned())
            assert owned[0] and owned[1] and not owned[0] & owned[1]
            assert owned[0] | owned[1] == {(t, p) for t in topics for p in range(PARTITIONS)}
            for mine in owned:  # a partition number goes with every topic to one member
                assert {(t, p) for _, p in mine for t in topics} == mine
            assert sorted(values(got)) == sorted(k.encode() for k in KEYS for _ in topics)
        finally:
            await first.stop()
            await second.stop()

    async def test_ping_answers_when_the_bus_is_up(self, bus: Bus) -> None:
        await bus.ping()
