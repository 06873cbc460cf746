"""Smoke test of the test Kafka broker (tests/support/kafka_server.py) with aiokafka.

What later Kafka adapters rely on: topics made by the admin client, an idempotent producer with
acks=all, keyed messages staying in order on one partition, a consumer group with manual commits,
and committed offsets (and the messages) surviving a SIGKILL of the broker and its restart.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.support.kafka_server import KafkaBroker, kafka_broker

PARTITIONS = 3
KEYS = [f"order-{n}" for n in range(6)]


@pytest.fixture(scope="module")
def broker() -> Iterator[KafkaBroker]:
    """A broker of this module's own, not the session's `kafka`: these tests kill and restart it."""
    with kafka_broker() as started:
        yield started


async def create_topic(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        response = await admin.create_topics([NewTopic(name, PARTITIONS, 1)])
    finally:
        await admin.close()
    errors = [(topic, code) for topic, code, *_ in response.topic_errors if code != 0]
    assert not errors, f"create_topics failed: {errors}"


async def produce(bootstrap: str, topic: str, round_: str) -> dict[str, int]:
    """Send two messages per key; return the partition each key went to."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    partitions: dict[str, set[int]] = {}
    try:
        for seq in range(2):
            for key in KEYS:
                value = f"{round_}:{key}:{seq}".encode()
                sent = await producer.send_and_wait(topic, value, key=key.encode())
                partitions.setdefault(key, set()).add(sent.partition)
    finally:
        await producer.stop()
    assert all(len(p) == 1 for p in partitions.values()), f"a key moved partition: {partitions}"
    return {key: p.pop() for key, p in partitions.items()}


async def consume(bootstrap: str, topic: str, group: str, count: int) -> list[tuple[int, str]]:
    """Read ``count`` messages as a member of ``group``, commit, leave; (partition, value)s."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    received: list[tuple[int, str]] = []

    async def fetch(timeout_ms: int) -> None:
        batches = await consumer.getmany(timeout_ms=timeout_ms)
        for tp, records in batches.items():
            received.extend((tp.partition, (r.value or b"").decode()) for r in records)

    try:
        async with asyncio.timeout(30):
            while len(received) < count:
                await fetch(500)
        await fetch(300)  # nothing more is waiting: a reset to earliest would show here
        await consumer.commit()
    finally:
        await consumer.stop()
    return received


def expected(round_: str) -> set[str]:
    return {f"{round_}:{key}:{seq}" for key in KEYS for seq in range(2)}


async def test_topics_groups_and_commits_survive_a_broker_kill(broker: KafkaBroker) -> None:
    topic, group = f"smoke-{uuid.uuid4().hex[:8]}", f"group-{uuid.uuid4().hex[:8]}"
    await create_topic(broker.bootstrap, topic)

    placement = await produce(broker.bootstrap, topic, "before")
    assert len(set(placement.values())) > 1, "keys should spread over the partitions"
    first = await consume(broker.bootstrap, topic, group, len(KEYS) * 2)
    assert {value for _, value in first} == expected("before")
    assert len(first) == len(KEYS) * 2
    for key in KEYS:  # one key, one partition, in the order sent
        values = [(p, v) for p, v in first if v.split(":")[1] == key]
        assert values == [(placement[key], f"before:{key}:{seq}") for seq in range(2)]

    await asyncio.to_thread(broker.restart, hard=True)

    again = await produce(broker.bootstrap, topic, "after")
    assert again == placement, "the same keys must land on the same partitions after a restart"
    second = await consume(broker.bootstrap, topic, group, len(KEYS) * 2)
    assert sorted(value for _, value in second) == sorted(expected("after"))
    # And the messages from before the kill are all still there, for a group that starts over.
    everything = await consume(broker.bootstrap, topic, f"{group}-new", len(KEYS) * 4)
    assert sorted(v for _, v in everything) == sorted(expected("before") | expected("after"))


async def test_a_graceful_restart_keeps_topics(broker: KafkaBroker) -> None:
    topic = f"smoke-{uuid.uuid4().hex[:8]}"
    await create_topic(broker.bootstrap, topic)
    await asyncio.to_thread(broker.restart)
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    assert described["error_code"] == 0
    assert len(described["partitions"]) == PARTITIONS
