"""The Bus contract on the embedded (in-memory) bus, plus its ownership hand-over."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from mcburger.adapters.bus.memory import InMemoryBus
from mcburger.application.ports import Bus, CommitFailed, Message
from tests.contract.bus_contract import BusContract, take, unique


class TestInMemoryBus(BusContract):
    @pytest.fixture
    async def bus(self) -> AsyncIterator[Bus]:
        bus = InMemoryBus()
        yield bus
        await bus.close()

    async def test_a_member_that_lost_its_partition_cannot_commit_it(self, bus: Bus) -> None:
        topic, group = unique("t"), unique("g")
        await bus.create_topics([topic], 1)
        await bus.publish([Message(topic, "main", b"m")])
        first = bus.consumer(group, [topic])
        await first.start()
        got = await take(first, 1)
        await first.stop()  # e.g. its session expired: the partition goes elsewhere
        second = bus.consumer(group, [topic])
        await second.start()
        with pytest.raises(CommitFailed):
            await first.commit(got)
        assert [d.value for d in await take(second, 1)] == [b"m"]
        await second.stop()

    async def test_a_closed_bus_refuses_work(self, bus: Bus) -> None:
        await bus.close()
        with pytest.raises(ConnectionError):
            await bus.ping()
        with pytest.raises(ConnectionError):
            await bus.publish([Message("t", "k", b"v")])
