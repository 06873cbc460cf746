"""The EventStore contract against the in-memory fake that unit tests use."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from mcburger.adapters.eventstore.memory import InMemoryEventStore
from mcburger.application.ports import EventStore
from tests.contract.eventstore_contract import EventStoreContract


class TestInMemoryEventStore(EventStoreContract):
    @pytest.fixture
    async def store(self) -> AsyncIterator[EventStore]:
        store = InMemoryEventStore()
        yield store
        await store.close()
