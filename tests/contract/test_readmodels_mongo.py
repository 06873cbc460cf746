"""The ReadModelStore contract against MongoDB (FerretDB here), plus the no-transaction story."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from pymongo import AsyncMongoClient

from mcburger.adapters.readmodels.mongo import MongoReadModelStore
from mcburger.application.ports import Put, ReadModelStore
from tests.contract.ferretdb_server import fresh_database
from tests.contract.readmodels_contract import ReadModelStoreContract, keys, put


@pytest.fixture
async def database(mongo: str) -> AsyncIterator[str]:
    """A database of this test's own, dropped afterwards."""
    name = fresh_database()
    yield name
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo)
    try:
        async with asyncio.timeout(30):  # a database a failed test left deadlocked never answers
            await client.drop_database(name)
    finally:
        await client.close()


class TestMongoReadModelStore(ReadModelStoreContract):
    @pytest.fixture
    async def store(self, mongo: str, database: str) -> AsyncIterator[ReadModelStore]:
        store = await MongoReadModelStore.open(mongo, database=database)
        yield store
        await store.close()

    async def test_documents_and_checkpoint_survive_reopen(self, mongo: str, database: str) -> None:
        store = await MongoReadModelStore.open(mongo, database=database)
        await store.commit("board", 4, [Put("board", "o-1", 1, 4, {"status": "ready"})])
        await store.close()

        reopened = await MongoReadModelStore.open(mongo, database=database)
        try:
            assert await reopened.get("board", "o-1") == {"status": "ready"}
            assert await reopened.checkpoint("board") == 4
            await reopened.commit("board", 4, [Put("board", "o-1", 1, 9, {"status": "x"})])
            assert await reopened.get("board", "o-1") == {"status": "ready"}
        finally:
            await reopened.close()

    async def test_crash_before_checkpoint_then_redelivery_changes_nothing(
        self, mongo: str, database: str, store: ReadModelStore
    ) -> None:
        await store.commit("p", 3, [put("a", 1, 3, status="new")])
        await store.commit("p", 7, [put("a", 1, 7, status="ready"), put("b", 2, 7, n=1)])
        # The crash: event 7's Puts were written but the checkpoint never left 3.
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo)
        try:
            await client[database]["checkpoints"].update_one(
                {"_id": "p"}, {"$set": {"position": 3}}
            )
            # Another projection wrote b later (position 8): the replay must not undo that.
            await client[database]["rm_orders"].update_one(
                {"_id": "b"}, {"$set": {"position": 8, "body": {"key": "b", "n": 2}}}
            )
        finally:
            await client.close()
        assert await store.checkpoint("p") == 3

        # Redelivery of event 7, with the Puts recomputed as a projection would.
        await store.commit("p", 7, [put("a", 1, 7, status="replayed"), put("b", 2, 7, n=99)])
        assert await store.get("orders", "a") == {"key": "a", "status": "ready"}
        assert await store.get("orders", "b") == {"key": "b", "n": 2}
        assert keys(await store.find("orders")) == ["a", "b"]
        assert await store.checkpoint("p") == 7

    async def test_concurrent_first_puts_of_one_key_keep_the_newest(
        self, store: ReadModelStore
    ) -> None:
        # Both writers miss the conditional update and race to insert: the newer must win.
        for attempt in range(5):
            key = f"k{attempt}"
            await asyncio.gather(
                store.commit("old", attempt + 1, [put(key, 1, 10, v="old")]),
                store.commit("new", attempt + 1, [put(key, 1, 11, v="new")]),
            )
            assert await store.get("orders", key) == {"key": key, "v": "new"}

    async def test_rejects_collection_names_mongodb_would_misread(
        self, store: ReadModelStore
    ) -> None:
        with pytest.raises(ValueError):
            await store.commit("p", 1, [Put("orders.$x", "a", 1, 1, {})])
        with pytest.raises(ValueError):
            await store.find("")
        assert await store.checkpoint("p") == 0

    async def test_integer_too_big_for_bson_commits_nothing(self, store: ReadModelStore) -> None:
        with pytest.raises(ValueError):
            await store.commit("p", 1, [put("a", 1, 1), put("b", 2, 1, big=2**64)])
        assert await store.get("orders", "a") is None
        assert await store.checkpoint("p") == 0


class TestMongoReadModelStoreOnFerretDBOverPostgreSQL(TestMongoReadModelStore):
    """The same contract on FerretDB storing in PostgreSQL, as scripts/dev-up runs it."""

    @pytest.fixture
    def mongo(self, mongo_on_postgres: str) -> str:
        return mongo_on_postgres
