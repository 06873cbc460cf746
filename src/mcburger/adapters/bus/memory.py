"""The embedded bus: partitioned topics and consumer groups in one process's memory.

What Kafka does, minus durability across restarts: a key always goes to the same partition,
a group's partitions are shared out among its members (the same partition number of every topic
to the same member, as Kafka's range assignor does), offsets are committed per group and a
member that leaves hands its uncommitted messages to the next owner. Fast tests use it; the
contract suite in ``tests/contract/bus_contract.py`` holds it and the Kafka adapter to the
same behaviour.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from mcburger.application.ports import Bus, BusConsumer, CommitFailed, Delivery, Message

Partition = tuple[str, int]


@dataclass
class _Group:
    members: list[InMemoryConsumer] = field(default_factory=list)
    committed: dict[Partition, int] = field(default_factory=dict)


class InMemoryBus(Bus):
    def __init__(self) -> None:
        self._logs: dict[str, list[list[Delivery]]] = {}
        self._groups: dict[str, _Group] = {}
        self._published = asyncio.Condition()
        self.closed = False

    async def create_topics(self, topics: Collection[str], partitions: int) -> None:
        if partitions < 1:
            raise ValueError(f"a topic needs at least one partition, got {partitions}")
        for topic in topics:
            self._logs.setdefault(topic, [[] for _ in range(partitions)])

    async def publish(self, messages: Sequence[Message]) -> None:
        self._check_open()
        for message in messages:
            partitions = self._partitions(message.topic)
            number = zlib.crc32(message.key.encode()) % len(partitions)
            log = partitions[number]
            log.append(Delivery(message.topic, number, len(log), message.key, message.value,
                                message.headers))
        async with self._published:
            self._published.notify_all()

    def consumer(self, group: str, topics: Sequence[str]) -> BusConsumer:
        return InMemoryConsumer(self, group, tuple(topics))

    async def ping(self) -> None:
        self._check_open()

    async def close(self) -> None:
        self.closed = True

    # --- used by the consumers -------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise ConnectionError("the in-memory bus is closed")

    def _partitions(self, topic: str) -> list[list[Delivery]]:
        try:
            return self._logs[topic]
        except KeyError:
            raise LookupError(f"unknown topic {topic!r}") from None

    def _join(self, member: InMemoryConsumer) -> None:
        group = self._groups.setdefault(member.group, _Group())
        group.members.append(member)
        self._rebalance(group)

    def _leave(self, member: InMemoryConsumer) -> None:
        group = self._groups[member.group]
        group.members.remove(member)
        member._assign(set())
        self._rebalance(group)

    def _rebalance(self, group: _Group) -> None:
        for member in group.members:
            member._assign(set())
        if not group.members:
            return
        shares: list[set[Partition]] = [set() for _ in group.members]
        topics = sorted({topic for member in group.members for topic in member.topics})
        for topic in topics:
            for number in range(len(self._partitions(topic))):
                shares[number % len(shares)].add((topic, number))
        for member, share in zip(group.members, shares, strict=True):
            member._assign({p for p in share if p[0] in member.topics})

    def _committed(self, group: str, partition: Partition) -> int:
        return self._groups[group].committed.get(partition, 0)

    def _commit(self, group: str, partition: Partition, offset: int) -> None:
        committed = self._groups[group].committed
        committed[partition] = max(committed.get(partition, 0), offset)


class InMemoryConsumer(BusConsumer):
    def __init__(self, bus: InMemoryBus, group: str, topics: tuple[str, ...]) -> None:
        self._bus = bus
        self.group = group
        self.topics = topics
        self._positions: dict[Partition, int] = {}
        self._joined = False

    def _assign(self, partitions: set[Partition]) -> None:
        # A new owner starts from the group's committed offsets, like a Kafka consumer does.
        self._positions = {p: self._bus._committed(self.group, p) for p in partitions}

    async def start(self) -> None:
        self._bus._check_open()
        for topic in self.topics:
            self._bus._partitions(topic)
        self._bus._join(self)
        self._joined = True

    async def fetch(self, max_messages: int, timeout: float) -> list[Delivery]:
        self._bus._check_open()
        async with self._bus._published:
            try:
                async with asyncio.timeout(timeout):
                    await self._bus._published.wait_for(self._available)
            except TimeoutError:
                return []
        found: list[Delivery] = []
        for (topic, number), position in sorted(self._positions.items()):
            log = self._bus._partitions(topic)[number]
            taken = log[position:position + max_messages - len(found)]
            found.extend(taken)
            self._positions[(topic, number)] = position + len(taken)
        return found

    def _available(self) -> bool:
        return any(position < len(self._bus._partitions(topic)[number])
                   for (topic, number), position in self._positions.items())

    async def commit(self, deliveries: Sequence[Delivery]) -> None:
        self._bus._check_open()
        for delivery in deliveries:
            partition = (delivery.topic, delivery.partition)
            if partition not in self._positions:
                raise CommitFailed(f"{partition} is no longer owned by this member")
            self._bus._commit(self.group, partition, delivery.offset + 1)

    def owned(self) -> set[tuple[str, int]]:
        return set(self._positions)

    async def lag(self) -> int:
        return sum(len(self._bus._partitions(topic)[number])
                   - self._bus._committed(self.group, (topic, number))
                   for topic, number in self._positions)

    async def stop(self) -> None:
        if self._joined:
            self._joined = False
            self._bus._leave(self)
