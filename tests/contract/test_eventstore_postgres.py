"""The EventStore contract against a real PostgreSQL, plus what only a server engine can show."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest

from mcburger.adapters.eventstore.postgres import PostgresEventStore
from mcburger.application.ports import EventStore, RecordedEvent, Tracking
from tests.contract.eventstore_contract import (
    ORDERS,
    ORDERS_R2,
    EventStoreContract,
    placed,
)
from tests.contract.postgres_server import drop_database, fresh_database


@pytest.fixture
def database_url(postgres: str) -> Iterator[str]:
    """A database of this test's own, so that tests never see each other's events."""
    url = fresh_database(postgres)
    yield url
    drop_database(postgres, url)


class TestPostgresEventStore(EventStoreContract):
    @pytest.fixture
    async def store(self, database_url: str) -> AsyncIterator[EventStore]:
        store = await PostgresEventStore.open(database_url)
        yield store
        await store.close()

    @pytest.fixture
    async def twin(self, database_url: str) -> AsyncIterator[EventStore]:
        twin = await PostgresEventStore.open(database_url)  # another pool
        yield twin
        await twin.close()

    async def test_events_and_tracking_survive_reopen(self, database_url: str) -> None:
        store = await PostgresEventStore.open(database_url)
        written = await store.append(ORDERS, [placed(1), placed(2)], 0, Tracking("relay", 7))
        await store.close()

        reopened = await PostgresEventStore.open(database_url)  # the schema is there already
        try:
            assert await reopened.read_stream(ORDERS) == written
            assert await reopened.tracked_position("relay") == 7
            assert await reopened.last_position() == written[-1].position
            more = await reopened.append(ORDERS, [placed(3)], expected_version=2)
            assert more[0].version == 3
            assert more[0].position > written[-1].position
        finally:
            await reopened.close()

    async def test_follower_never_skips_an_append_that_commits_late(
        self, database_url: str
    ) -> None:
        # Two writers (think: two processes) and a follower, each with its own store.
        slow, fast, follower = [await PostgresEventStore.open(database_url) for _ in range(3)]
        blocker = await psycopg.AsyncConnection.connect(database_url)
        try:
            # An uncommitted tracking row for "slow" makes the slow append stop at its tracking
            # upsert: AFTER it has inserted its event and drawn that event's position.
            await blocker.execute("INSERT INTO tracking VALUES ('slow', 1)")
            slow_append = asyncio.create_task(
                slow.append(ORDERS, [placed(1)], 0, Tracking("slow", 5))
            )
            await asyncio.sleep(0.2)
            assert not slow_append.done()
            fast_append = asyncio.create_task(fast.append(ORDERS_R2, [placed(2)], 0))

            seen: list[RecordedEvent] = []

            async def follow(seconds: float) -> None:
                # A follower as the relay runs one: read past its checkpoint, move it, repeat.
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    seen.extend(await follower.read_all(seen[-1].position if seen else 0))
                    await asyncio.sleep(0.01)

            await follow(0.3)
            # The fast append must not commit a later position while the slow one is open.
            assert seen == []
            assert not fast_append.done()

            await blocker.rollback()
            slow_written, fast_written = await asyncio.gather(slow_append, fast_append)
            await follow(0.1)
            assert fast_written[0].position > slow_written[0].position
            assert seen == slow_written + fast_written
        finally:
            await blocker.close()
            for store in (slow, fast, follower):
                await store.close()

    async def test_wait_is_woken_by_an_append_from_another_store(self, database_url: str) -> None:
        # Polling only every 30 s: a prompt wake-up can only come from LISTEN/NOTIFY.
        waiter = await PostgresEventStore.open(database_url, poll_seconds=30)
        writer = await PostgresEventStore.open(database_url)
        try:

            async def append_soon(number: int) -> None:
                await asyncio.sleep(0.1)
                await writer.append(ORDERS, [placed(number)], expected_version=number - 1)

            for number in (1, 2):  # twice: the listening connection stays in use
                task = asyncio.create_task(append_soon(number))
                started = time.monotonic()
                assert await waiter.wait_for_append(number - 1, timeout=5)
                assert time.monotonic() - started < 1.0
                await task
        finally:
            await waiter.close()
            await writer.close()

    async def test_opening_an_unreachable_server_fails_clearly(self, postgres: str) -> None:
        unreachable = psycopg.conninfo.make_conninfo(postgres, port=1, connect_timeout=2)
        with pytest.raises(psycopg.OperationalError):
            await PostgresEventStore.open(unreachable)


async def test_writers_of_one_stream_in_two_processes_take_turns(database_url: str) -> None:
    first, second = [await PostgresEventStore.open(database_url) for _ in range(2)]
    seen: list[str] = []
    inside, leave = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with first.writer_turn(ORDERS):
            seen.append("first in")
            inside.set()
            await leave.wait()
            seen.append("first out")

    async def wait_turn() -> None:
        async with second.writer_turn(ORDERS):
            seen.append("second in")

    try:
        holder = asyncio.create_task(hold())
        await inside.wait()
        waiter = asyncio.create_task(wait_turn())
        async with second.writer_turn(ORDERS_R2):  # another stream's turn is free
            seen.append("other stream")
        await asyncio.sleep(0.2)
        assert not waiter.done(), "the second writer waits for the first's turn to end"
        leave.set()
        await asyncio.wait_for(asyncio.gather(holder, waiter), 5)
        assert seen == ["first in", "other stream", "first out", "second in"]

        # a writer cancelled inside its turn (a dropped request) hands the turn on
        inside.clear()
        leave.clear()
        holder = asyncio.create_task(hold())
        await inside.wait()
        holder.cancel()
        await asyncio.wait_for(wait_turn(), 5)
    finally:
        await first.close()
        await second.close()
