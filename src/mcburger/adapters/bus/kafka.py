"""The bus on Apache Kafka, through aiokafka.

- Producer: idempotent with ``acks=all``, so a retried send is neither duplicated nor reordered
  within its partition; ``publish`` returns once the broker has every message.
- Consumers: one ``AIOKafkaConsumer`` per group member, offsets committed by hand after the
  handler's effects are stored (at least once), new groups start at the earliest offset. The
  range assignor gives one member the same partition number of every topic it reads, which is
  what lets a consumer of two topics see all of one key's messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import (
    CommitFailedError,
    IllegalGenerationError,
    KafkaError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)
from aiokafka.structs import OffsetAndMetadata

from mcburger.application.ports import Bus, BusConsumer, CommitFailed, Delivery, Message

_TOPIC_ALREADY_EXISTS = 36
_COMMIT_LOST = (CommitFailedError, IllegalGenerationError, RebalanceInProgressError,
                UnknownMemberIdError)


class _RetriedAsWarning(logging.Filter):
    """aiokafka logs a group-coordinator request that failed with a *retriable* error at ERROR,
    then retries it. At every clean start the broker's coordinator is still loading
    (``GroupCoordinatorNotAvailableError`` for about a second), so each service's log opened
    with alarming ERROR lines that needed no one. Those become WARNING; a non-retriable error
    stays ERROR."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.args[0] if isinstance(record.args, tuple) and record.args else None
        if record.levelno == logging.ERROR and getattr(error, "retriable", False):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


_COORDINATOR_LOG = "aiokafka.consumer.group_coordinator"
_RETRIED_AS_WARNING = _RetriedAsWarning()


class KafkaBus(Bus):
    def __init__(self, bootstrap: str, client_id: str = "mcburger") -> None:
        # Once per process (a logger keeps one copy of a filter object)
        logging.getLogger(_COORDINATOR_LOG).addFilter(_RETRIED_AS_WARNING)
        self.bootstrap = bootstrap
        self._client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._producer_lock = asyncio.Lock()

    async def create_topics(self, topics: Collection[str], partitions: int) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap,
                                    client_id=self._client_id)
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            wanted = [NewTopic(topic, partitions, 1) for topic in topics if topic not in existing]
            if wanted:
                response = await admin.create_topics(wanted)
                for topic, code, *rest in response.topic_errors:
                    if code not in (0, _TOPIC_ALREADY_EXISTS):
                        raise KafkaError(f"creating topic {topic}: error {code} {rest}")
        finally:
            await admin.close()

    async def publish(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        producer = await self._started_producer()
        sent = [await producer.send(message.topic, message.value, key=message.key.encode(),
                                    headers=list(message.headers))
                for message in messages]
        await asyncio.gather(*sent)

    async def _started_producer(self) -> AIOKafkaProducer:
        async with self._producer_lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap, client_id=self._client_id,
                    enable_idempotence=True, acks="all", linger_ms=2,
                    request_timeout_ms=30_000)
                await producer.start()
                self._producer = producer
            return self._producer

    def consumer(self, group: str, topics: Sequence[str]) -> BusConsumer:
        return KafkaConsumer(self.bootstrap, group, tuple(topics), self._client_id)

    async def ping(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap,
                                    client_id=self._client_id, request_timeout_ms=3000)
        try:
            await asyncio.wait_for(admin.start(), 5)
            await asyncio.wait_for(admin.describe_cluster(), 5)
        finally:
            await admin.close()

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


class KafkaConsumer(BusConsumer):
    """One group member. An aiokafka consumer cannot start again once stopped, so each
    ``start`` makes a new one: a subscription restarted after an error rejoins the group."""

    def __init__(self, bootstrap: str, group: str, topics: tuple[str, ...],
                 client_id: str) -> None:
        self._bootstrap = bootstrap
        self._group = group
        self._topics = topics
        self._client_id = client_id
        # Made by ``start``: one made here and replaced there was never closed (an "Unclosed
        # AIOKafkaConsumer" ERROR at every start of every service)
        self._consumer: AIOKafkaConsumer | None = None
        self._started = False

    def _new_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            *self._topics, bootstrap_servers=self._bootstrap, group_id=self._group,
            client_id=self._client_id, enable_auto_commit=False, auto_offset_reset="earliest",
            partition_assignment_strategy=(RangePartitionAssignor,),
            session_timeout_ms=10_000, heartbeat_interval_ms=1_000, metadata_max_age_ms=30_000)

    async def start(self) -> None:
        if self._started:
            return
        self._consumer = self._new_consumer()
        await self._consumer.start()
        self._started = True

    def _running(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError(f"consumer {self._group} used before start()")
        return self._consumer

    async def fetch(self, max_messages: int, timeout: float) -> list[Delivery]:
        found = await self._running().getmany(timeout_ms=int(timeout * 1000),
                                             max_records=max_messages)
        deliveries: list[Delivery] = []
        for _, records in sorted(found.items()):
            deliveries.extend(
                Delivery(record.topic, record.partition, record.offset,
                         None if record.key is None else record.key.decode("utf-8", "replace"),
                         record.value or b"", tuple(record.headers))
                for record in records)
        return deliveries

    async def commit(self, deliveries: Sequence[Delivery]) -> None:
        offsets: dict[TopicPartition, int] = {}
        for delivery in deliveries:
            partition = TopicPartition(delivery.topic, delivery.partition)
            offsets[partition] = max(offsets.get(partition, 0), delivery.offset + 1)
        if not offsets:
            return
        try:
            await self._running().commit(
                {partition: OffsetAndMetadata(offset, "") for partition, offset in offsets.items()})
        except _COMMIT_LOST as error:
            raise CommitFailed(str(error)) from error

    def owned(self) -> set[tuple[str, int]]:
        if self._consumer is None:  # not started: owns nothing yet
            return set()
        return {(p.topic, p.partition) for p in self._consumer.assignment()}

    async def lag(self) -> int:
        consumer = self._consumer
        owned = [] if consumer is None else list(consumer.assignment())
        if consumer is None or not owned:
            return 0
        ends: dict[Any, int] = await consumer.end_offsets(owned)
        behind = 0
        for partition in owned:
            committed = await consumer.committed(partition) or 0
            behind += max(0, ends[partition] - committed)
        return behind

    async def stop(self) -> None:
        if self._started:
            self._started = False
            await self._running().stop()
