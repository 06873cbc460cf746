"""The ReadModelStore contract against the in-memory fake that unit tests use."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from mcburger.adapters.readmodels.memory import InMemoryReadModelStore
from mcburger.application.ports import ReadModelStore
from tests.contract.readmodels_contract import ReadModelStoreContract


class TestInMemoryReadModelStore(ReadModelStoreContract):
    @pytest.fixture
    async def store(self) -> AsyncIterator[ReadModelStore]:
        store = InMemoryReadModelStore()
        yield store
        await store.close()
