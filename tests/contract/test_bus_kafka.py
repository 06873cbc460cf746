"""The Bus contract on a real Kafka broker (KRaft, one node, started by the test session)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from mcburger.adapters.bus.kafka import KafkaBus
from mcburger.application.ports import Bus
from tests.contract.bus_contract import BusContract
from tests.support.kafka_server import KafkaBroker


class TestKafkaBus(BusContract):
    @pytest.fixture
    async def bus(self, kafka: KafkaBroker) -> AsyncIterator[Bus]:
        bus = KafkaBus(kafka.bootstrap)
        yield bus
        await bus.close()

    async def test_ping_fails_when_no_broker_listens(self) -> None:
        from tests.support.servers import free_port

        bus = KafkaBus(f"127.0.0.1:{free_port()}")
        with pytest.raises(Exception):  # noqa: B017 - whichever error the client raises
            await bus.ping()
        await bus.close()
