"""The server ``EventStore``: PostgreSQL through psycopg 3 (async), a small connection pool.

Over 300 lines on purpose, as the SQLite adapter: one engine's whole adapter (schema, appends
with tracking, the log, snapshots, LISTEN/NOTIFY waits, the writer turn) shares one pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Collection, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from mcburger.adapters.serialization import EventSerializer
from mcburger.application.ports import (
    AlreadyProcessed,
    EventStore,
    RecordedEvent,
    Snapshot,
    Tracking,
    WrongExpectedVersion,
)
from mcburger.domain.events import Event, category_of

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    position BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream TEXT NOT NULL,
    version INTEGER NOT NULL,
    category TEXT NOT NULL,
    type TEXT NOT NULL,
    type_version INTEGER NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    restaurant_id TEXT NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    data JSONB NOT NULL,
    CONSTRAINT events_stream_version_key UNIQUE (stream, version)
);
CREATE INDEX IF NOT EXISTS events_by_category ON events (category, position);
CREATE TABLE IF NOT EXISTS tracking (
    consumer TEXT PRIMARY KEY,
    position BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshots (
    stream TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    position BIGINT NOT NULL,
    schema INTEGER NOT NULL,
    state JSONB NOT NULL
);
"""

# The newest snapshot per stream; an older one never replaces a newer (two writers may race).
_UPSERT_SNAPSHOT = """
INSERT INTO snapshots (stream, version, position, schema, state)
VALUES (%s, %s, %s, %s, %s::jsonb)
ON CONFLICT (stream) DO UPDATE SET version = excluded.version, position = excluded.position,
    schema = excluded.schema, state = excluded.state
WHERE snapshots.version <= excluded.version
"""

# Every event of an append in one statement
_ROW_MARKS = "(%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)"
# NOTIFY'd (with the newest position) by every append that wrote events, on commit.
CHANNEL = "mcburger_events"

# The events, and the notification that wakes waiters with the last position (delivered at
# commit, as pg_notify always is): one statement, one round trip for both.
_INSERT_EVENTS = """
WITH inserted AS (
    INSERT INTO events (stream, version, category, type, type_version, event_id, restaurant_id,
                        occurred_at, data)
    VALUES {rows}
    RETURNING position, version
), notified AS (
    SELECT pg_notify('""" + CHANNEL + """', MAX(position)::text) FROM inserted
)
SELECT position, version FROM inserted, notified
"""

# Read after the append lock is held (a statement of its own: its snapshot must not predate it)
_VERSION_AND_TRACKED = """
SELECT (SELECT COALESCE(MAX(version), 0) FROM events WHERE stream = %s),
       (SELECT COALESCE(MAX(position), 0) FROM tracking WHERE consumer = %s)
"""

_UPSERT_TRACKING = """
INSERT INTO tracking (consumer, position) VALUES (%s, %s)
ON CONFLICT (consumer) DO UPDATE SET position = excluded.position
"""

_SELECT = "SELECT position, stream, version, type, type_version, data FROM events"

# Every append (and the schema set-up) holds this transaction-level advisory lock, so appends
# run one at a time. Why: an identity value is drawn when a row is inserted, not when it commits.
# Two concurrent appends could draw 11 and 12 and commit 12 first; a follower reading
# ``position > 10`` would then see 12, move its checkpoint past 11 and never see 11. Under the
# lock, an append draws its positions only after every earlier append has committed or rolled
# back, so positions become visible in order. The price: appends to the whole store are serial
# (one commit round trip each, a few thousand a second), ample for a restaurant chain's orders;
# a higher-throughput design would let followers read only below the oldest open transaction.
# The key is "mcburger" in ASCII, so it cannot clash with another application's lock by chance.
APPEND_LOCK_KEY = 0x6D63_6275_7267_6572

# Safety net for waiters: a lost listening connection or a missed notification is noticed
# within this long. Normally a waiter is woken by NOTIFY within milliseconds.
POLL_SECONDS = 1.0


class PostgresEventStore(EventStore):
    """Events in one table: ``position`` is the global log, ``(stream, version)`` the streams.

    Appends borrow a pooled connection and run in one transaction under ``APPEND_LOCK_KEY``.
    Waiters share one dedicated connection that LISTENs on ``CHANNEL``, opened on first use.
    """

    def __init__(
        self,
        pool: AsyncConnectionPool[AsyncConnection[Any]],
        conninfo: str,
        serializer: EventSerializer,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self._pool = pool
        self._conninfo = conninfo
        self._serializer = serializer
        self._poll_seconds = poll_seconds
        self._listener: AsyncConnection[Any] | None = None
        self._listener_task: asyncio.Task[None] | None = None
        self._listener_lock = asyncio.Lock()
        # Replaced after each notification: a waiter takes the current one BEFORE reading the
        # log, so a notification that arrives between its read and its wait still wakes it.
        self._appended = asyncio.Event()

    @classmethod
    async def open(
        cls,
        url: str,
        serializer: EventSerializer | None = None,
        *,
        pool_size: int = 4,
        poll_seconds: float = POLL_SECONDS,
    ) -> PostgresEventStore:
        """Connect to ``url`` (a URL or a conninfo string), creating the schema if it is missing."""
        # A plain connection first: a bad URL or a down server raises its own, clear error
        # here, where a pool would only time out.
        conn = await AsyncConnection.connect(url, autocommit=True)
        async with conn, conn.transaction():
            # Two processes opening an empty database at once would race on CREATE TABLE.
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK_KEY,))
            await conn.execute(_SCHEMA)
        pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True},
            open=False,
            name="mcburger-events",
        )
        await pool.open(wait=True, timeout=10)
        return cls(pool, url, serializer or EventSerializer(), poll_seconds)

    async def append(
        self,
        stream: str,
        events: Sequence[Event],
        expected_version: int,
        tracking: Tracking | None = None,
    ) -> list[RecordedEvent]:
        # Serialize before taking the lock: a bad event fails without holding anyone up.
        rows = [self._row(stream, expected_version + i, e) for i, e in enumerate(events, 1)]
        try:
            async with self._pool.connection() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK_KEY,))
                positions = await self._write(conn, stream, rows, expected_version, tracking)
        except psycopg.errors.UniqueViolation as error:
            # Only a writer that skips the lock (an older version, a hand-run script) gets here.
            if error.diag.constraint_name == "events_stream_version_key":
                raise WrongExpectedVersion(f"{stream}: moved past {expected_version}") from error
            raise
        return [
            RecordedEvent(position, stream, expected_version + i, event)
            for i, (position, event) in enumerate(zip(positions, events, strict=True), start=1)
        ]

    @contextlib.asynccontextmanager
    async def writer_turn(self, stream: str) -> AsyncIterator[None]:
        # A transaction-level advisory lock on a connection of its own, held while the caller
        # works on other pooled connections: released by the commit, by the rollback the pool
        # makes of a connection handed back mid-transaction (a cancelled command), and by the
        # server when a killed process's connection drops. PostgreSQL queues lock waiters in
        # arrival order, which is what makes the turns fair.
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_turn_key(stream),))
            yield

    def _row(self, stream: str, version: int, event: Event) -> tuple[str | int | datetime, ...]:
        type_name, type_version, data = self._serializer.serialize(event)
        return (
            stream,
            version,
            category_of(stream),
            type_name,
            type_version,
            event.event_id,
            event.restaurant_id,
            event.occurred_at,
            data,
        )

    async def _write(
        self,
        conn: AsyncConnection[Any],
        stream: str,
        rows: list[tuple[str | int | datetime, ...]],
        expected_version: int,
        tracking: Tracking | None,
    ) -> list[int]:
        """The body of ``append``'s transaction; raising makes the caller roll back. Round
        trips: one for the checks, one for all the events, one for tracking."""
        cursor = await conn.execute(_VERSION_AND_TRACKED, (
            stream, tracking.consumer if tracking is not None else ""))
        checked = await cursor.fetchone()
        assert checked is not None  # two scalar subqueries: always one row
        current, recorded = int(checked[0]), int(checked[1])
        if current != expected_version:
            raise WrongExpectedVersion(f"{stream}: at {current}, expected {expected_version}")
        if tracking is not None:
            if tracking.position <= recorded:
                raise AlreadyProcessed(f"{tracking.consumer}: {tracking.position} <= {recorded}")
            if tracking.previous is not None and recorded != tracking.previous:
                raise WrongExpectedVersion(
                    f"{tracking.consumer}: tracking at {recorded}, expected {tracking.previous}")
        positions: list[int] = []
        if rows:
            cursor = await conn.execute(
                _INSERT_EVENTS.format(rows=", ".join([_ROW_MARKS] * len(rows))),
                [value for row in rows for value in row])
            # RETURNING's rows come in no promised order: by version, as they were inserted
            positions = [int(position) for position, _ in
                         sorted(await cursor.fetchall(), key=lambda found: int(found[1]))]
        if tracking is not None:
            await conn.execute(_UPSERT_TRACKING, (tracking.consumer, tracking.position))
        return positions

    async def read_stream(self, stream: str, after_version: int = 0) -> list[RecordedEvent]:
        sql = f"{_SELECT} WHERE stream = %s AND version > %s ORDER BY version"
        return await self._select(sql, (stream, after_version))

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        state = json.dumps(snapshot.state, separators=(",", ":"))
        async with self._pool.connection() as conn:
            await conn.execute(_UPSERT_SNAPSHOT, (snapshot.stream, snapshot.version,
                                                  snapshot.position, snapshot.schema, state))

    async def load_snapshot(self, stream: str) -> Snapshot | None:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT version, position, schema, state FROM snapshots WHERE stream = %s",
                (stream,))
            row = await cursor.fetchone()
        if row is None:
            return None
        version, position, schema, state = row  # psycopg parses JSONB into a dict
        return Snapshot(stream, int(version), int(position), int(schema), state)

    async def read_all(
        self,
        after_position: int = 0,
        limit: int = 500,
        categories: Collection[str] | None = None,
    ) -> list[RecordedEvent]:
        if limit <= 0:
            return []  # PostgreSQL rejects a negative LIMIT
        if categories is None:
            sql = f"{_SELECT} WHERE position > %s ORDER BY position LIMIT %s"
            return await self._select(sql, (after_position, limit))
        sql = f"{_SELECT} WHERE position > %s AND category = ANY(%s) ORDER BY position LIMIT %s"
        return await self._select(sql, (after_position, sorted(set(categories)), limit))

    async def last_position(self) -> int:
        async with self._pool.connection() as conn:
            return await _scalar(conn, "SELECT COALESCE(MAX(position), 0) FROM events", ())

    async def tracked_position(self, consumer: str) -> int:
        async with self._pool.connection() as conn:
            return await _tracked(conn, consumer)

    # ASYNC109 prefers asyncio.timeout at the call site, but the port fixes this signature.
    async def wait_for_append(self, after_position: int, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        await self._listen()  # before the first read: an append after it will wake us
        while True:
            appended = self._appended
            if await self.last_position() > after_position:
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, self._poll_seconds)):
                    await appended.wait()

    async def _listen(self) -> None:
        """Make sure the listening connection is up (again, if it was lost)."""
        async with self._listener_lock:
            if self._listener_task is not None and not self._listener_task.done():
                return
            if self._listener is not None:
                await self._listener.close()
            self._listener = await AsyncConnection.connect(self._conninfo, autocommit=True)
            await self._listener.execute(f"LISTEN {CHANNEL}")
            self._listener_task = asyncio.create_task(self._relay_notifications(self._listener))

    async def _relay_notifications(self, conn: AsyncConnection[Any]) -> None:
        # A lost connection ends the task: waiters poll until the next wait reconnects.
        with contextlib.suppress(psycopg.Error):
            async for _ in conn.notifies():
                appended, self._appended = self._appended, asyncio.Event()
                appended.set()

    async def close(self) -> None:
        if self._listener_task is not None:
            self._listener_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener_task
        if self._listener is not None:
            await self._listener.close()
        await self._pool.close()

    async def _select(self, sql: str, params: tuple[Any, ...]) -> list[RecordedEvent]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql, params)
            rows = await cursor.fetchall()
        # psycopg hands JSONB back already parsed into a dict.
        return [
            RecordedEvent(position, stream, version, self._serializer.deserialize(t, tv, data))
            for position, stream, version, t, tv, data in rows
        ]


def _turn_key(stream: str) -> int:
    """A signed 64-bit advisory-lock key from the stream's name, stable across processes."""
    digest = hashlib.sha256(f"mcburger writer turn {stream}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def _scalar(conn: AsyncConnection[Any], sql: str, params: Sequence[Any]) -> int:
    cursor = await conn.execute(sql, params)
    row = await cursor.fetchone()
    assert row is not None  # every query passed here returns exactly one row
    return int(row[0])


async def _tracked(conn: AsyncConnection[Any], consumer: str) -> int:
    cursor = await conn.execute("SELECT position FROM tracking WHERE consumer = %s", (consumer,))
    row = await cursor.fetchone()
    return int(row[0]) if row else 0
