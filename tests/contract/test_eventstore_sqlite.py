"""The EventStore contract against SQLite, plus what only a file-backed engine can show."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mcburger.adapters.eventstore.sqlite import SQLiteEventStore
from mcburger.application.ports import EventStore, Tracking
from tests.contract.eventstore_contract import (
    ORDERS,
    EventStoreContract,
    placed,
)


class TestSQLiteEventStore(EventStoreContract):
    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[EventStore]:
        store = await SQLiteEventStore.open(tmp_path / "events.db")
        yield store
        await store.close()

    @pytest.fixture
    async def twin(self, tmp_path: Path) -> AsyncIterator[EventStore]:
        twin = await SQLiteEventStore.open(tmp_path / "events.db")  # another connection
        yield twin
        await twin.close()

    async def test_events_and_tracking_survive_reopen(self, tmp_path: Path) -> None:
        path = tmp_path / "events.db"
        store = await SQLiteEventStore.open(path)
        written = await store.append(ORDERS, [placed(1), placed(2)], 0, Tracking("relay", 7))
        await store.close()

        reopened = await SQLiteEventStore.open(path)
        try:
            assert await reopened.read_stream(ORDERS) == written
            assert await reopened.tracked_position("relay") == 7
            assert await reopened.last_position() == written[-1].position
            more = await reopened.append(ORDERS, [placed(3)], expected_version=2)
            assert more[0].version == 3
            assert more[0].position > written[-1].position
        finally:
            await reopened.close()

    async def test_file_uses_write_ahead_log(self, tmp_path: Path) -> None:
        path = tmp_path / "events.db"
        store = await SQLiteEventStore.open(path)
        await store.close()
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)

    async def test_wait_notices_an_append_from_another_connection(self, tmp_path: Path) -> None:
        # A second connection stands in for another process: it cannot notify our condition.
        path = tmp_path / "events.db"
        waiter = await SQLiteEventStore.open(path, poll_seconds=0.05)
        writer = await SQLiteEventStore.open(path)
        try:

            async def append_soon() -> None:
                await asyncio.sleep(0.05)
                await writer.append(ORDERS, [placed(1)], expected_version=0)

            task = asyncio.create_task(append_soon())
            started = time.monotonic()
            assert await waiter.wait_for_append(0, timeout=5)
            assert time.monotonic() - started < 1.0
            await task
        finally:
            await waiter.close()
            await writer.close()

    async def test_in_memory_database(self) -> None:
        store = await SQLiteEventStore.open(":memory:")
        try:
            written = await store.append(ORDERS, [placed(1)], expected_version=0)
            assert await store.read_all() == written
        finally:
            await store.close()
