"""The embedded ``EventStore``: one SQLite file (WAL), one aiosqlite connection per process.

Over 300 lines on purpose: one engine's whole adapter (schema and its upgrades, appends with
tracking, the log, snapshots, waiting for appends) shares one connection and one write lock,
and reads best as one piece beside its contract suite.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

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
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    stream TEXT NOT NULL,
    version INTEGER NOT NULL,
    category TEXT NOT NULL,
    type TEXT NOT NULL,
    type_version INTEGER NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    restaurant_id TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (stream, version)
);
CREATE INDEX IF NOT EXISTS events_by_category ON events (category, position);
CREATE TABLE IF NOT EXISTS tracking (
    consumer TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshots (
    stream TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    position INTEGER NOT NULL,
    schema INTEGER NOT NULL,
    state TEXT NOT NULL
);
"""

# The newest snapshot per stream; an older one never replaces a newer (two writers may race).
_UPSERT_SNAPSHOT = """
INSERT INTO snapshots (stream, version, position, schema, state) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (stream) DO UPDATE SET version = excluded.version, position = excluded.position,
    schema = excluded.schema, state = excluded.state
WHERE snapshots.version <= excluded.version
"""

_INSERT_EVENT = """
INSERT INTO events (stream, version, category, type, type_version, event_id, restaurant_id,
                    occurred_at, data)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

# The events of one append, inserted only if the stream is at the expected version: one
# statement (RETURNING gives the positions; its rows come in no set order, hence the versions).
_ROW_MARKS = "(?, ?, ?, ?, ?, ?, ?, ?, ?)"
_INSERT_CHECKED = """
INSERT INTO events (stream, version, category, type, type_version, event_id, restaurant_id,
                    occurred_at, data)
SELECT * FROM (VALUES {rows})
WHERE (SELECT COALESCE(MAX(version), 0) FROM events WHERE stream = ?) = ?
ORDER BY 2
RETURNING position, version
"""

_VERSION_AND_TRACKED = """
SELECT (SELECT COALESCE(MAX(version), 0) FROM events WHERE stream = ?),
       (SELECT COALESCE(MAX(position), 0) FROM tracking WHERE consumer = ?)
"""

_UPSERT_TRACKING = """
INSERT INTO tracking (consumer, position) VALUES (?, ?)
ON CONFLICT (consumer) DO UPDATE SET position = excluded.position
"""

_SELECT = "SELECT position, stream, version, type, type_version, data FROM events"

_LAST_ASSIGNED = "SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'events'"


@dataclass(frozen=True)
class Append:
    """The arguments of one ``append``, for ``append_in_one_transaction``."""

    stream: str
    events: Sequence[Event]
    expected_version: int
    tracking: Tracking | None = None


# How often a waiter re-reads the log: appends by ANOTHER process on the same file wake no
# Condition of ours, so this bounds how late they are noticed. In-process appends wake at once.
CROSS_PROCESS_POLL_SECONDS = 0.5


class SQLiteEventStore(EventStore):
    """Events in one table: ``position`` is the global log, ``(stream, version)`` the streams.

    Writers take SQLite's write lock up front (``BEGIN IMMEDIATE``), so transactions commit in
    position order and a reader never sees a position before a smaller one has committed. One
    connection is shared by every task of the process, so every use of it holds ``_lock``: a read
    must never run inside another task's open transaction.
    """

    def __init__(
        self,
        db: aiosqlite.Connection,
        serializer: EventSerializer,
        poll_seconds: float = CROSS_PROCESS_POLL_SECONDS,
    ) -> None:
        self._db = db
        self._serializer = serializer
        self._poll_seconds = poll_seconds
        self._lock = asyncio.Lock()
        self._appended = asyncio.Condition()
        # The newest position this process appended: a waiter already behind it needs no query
        # (another process's appends are found by querying, at the poll bound)
        self._appended_up_to = 0

    @classmethod
    async def open(
        cls,
        path: Path | str,
        serializer: EventSerializer | None = None,
        *,
        poll_seconds: float = CROSS_PROCESS_POLL_SECONDS,
    ) -> SQLiteEventStore:
        """Connect to ``path`` (or ``":memory:"``), creating the schema if it is missing."""
        # isolation_level=None: the driver opens no implicit transactions; append issues BEGIN.
        db = await aiosqlite.connect(str(path), isolation_level=None)
        try:
            # First, so that the steps below wait for another process opening the same file.
            await db.execute("PRAGMA busy_timeout=5000")
            await db.execute("PRAGMA journal_mode=WAL")
            # FULL syncs the WAL on every commit: a committed append survives power loss.
            await db.execute("PRAGMA synchronous=FULL")
            await db.executescript(_SCHEMA)
        except BaseException:
            await db.close()
            raise
        return cls(db, serializer or EventSerializer(), poll_seconds)

    async def append(
        self,
        stream: str,
        events: Sequence[Event],
        expected_version: int,
        tracking: Tracking | None = None,
    ) -> list[RecordedEvent]:
        # Serialize before taking the lock: a bad event fails without holding anyone up.
        rows = [self._row(stream, expected_version + i, e) for i, e in enumerate(events, 1)]
        async with self._lock:
            if tracking is None and rows:
                # A command's append (placing an order): one statement, its own transaction
                positions = await self._insert(stream, rows, expected_version)
            else:
                await self._db.execute("BEGIN IMMEDIATE")
                try:
                    positions = await self._write(stream, rows, expected_version, tracking)
                    await self._db.execute("COMMIT")
                except BaseException:
                    await self._rollback()
                    raise
        if positions:
            self._appended_up_to = max(self._appended_up_to, positions[-1])
            async with self._appended:
                self._appended.notify_all()
        return [
            RecordedEvent(position, stream, expected_version + i, event)
            for i, (position, event) in enumerate(zip(positions, events, strict=True), start=1)
        ]

    def _row(self, stream: str, version: int, event: Event) -> tuple[str | int, ...]:
        type_name, type_version, data = self._serializer.serialize(event)
        return (
            stream,
            version,
            category_of(stream),
            type_name,
            type_version,
            event.event_id,
            event.restaurant_id,
            event.occurred_at.isoformat(),
            data,
        )

    async def _write(
        self,
        stream: str,
        rows: list[tuple[str | int, ...]],
        expected_version: int,
        tracking: Tracking | None,
    ) -> list[int]:
        """The body of ``append``'s transaction; raising makes the caller roll back."""
        consumer = tracking.consumer if tracking is not None else ""
        (current, recorded), = await self._db.execute_fetchall(_VERSION_AND_TRACKED,
                                                                (stream, consumer))
        _check_version(stream, int(current), expected_version)
        if tracking is not None:
            _check_tracking(tracking, int(recorded))
        positions = await self._insert(stream, rows, expected_version) if rows else []
        if tracking is not None:
            await self._db.execute(_UPSERT_TRACKING, (tracking.consumer, tracking.position))
        return positions

    async def _insert(self, stream: str, rows: list[tuple[str | int, ...]],
                      expected_version: int) -> list[int]:
        """Insert ``rows`` if ``stream`` is at ``expected_version``, in ONE statement (one trip
        to the connection's thread, whatever the number of events; on its own it is its own
        transaction, which takes the write lock before it reads the version); their positions,
        in version order."""
        marks = ", ".join([_ROW_MARKS] * len(rows))
        found = list(await self._db.execute_fetchall(
            _INSERT_CHECKED.format(rows=marks),
            (*(value for row in rows for value in row), stream, expected_version)))
        if len(found) != len(rows):  # nothing inserted: the version check failed
            _check_version(stream, await self._stream_version(stream), expected_version)
            raise WrongExpectedVersion(f"{stream}: expected {expected_version}")
        return [int(position) for position, _ in sorted(found, key=lambda row: row[1])]

    async def append_in_one_transaction(
        self, appends: Sequence[Append]
    ) -> list[list[RecordedEvent]]:
        """Make ``appends`` one after another, each exactly as ``append`` would, in ONE
        transaction: for bulk loading (``mcburger simulate --into``), where a transaction and
        an fsync per decision would be most of the cost.

        Each append is checked against the store as the appends before it left it
        (``WrongExpectedVersion``, ``AlreadyProcessed``); if one fails, nothing is written. The
        events get the positions and versions that separate appends would give them, and each
        consumer's tracking ends where its last append put it. Not part of the ``EventStore``
        port: only a bulk loader that owns the file uses it.
        """
        rows = [self._row(a.stream, a.expected_version + i, e)
                for a in appends for i, e in enumerate(a.events, 1)]
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                tracked = await self._check_in_order(appends)
                before = await self._scalar(_LAST_ASSIGNED, ())
                await self._db.executemany(_INSERT_EVENT, rows)
                await self._db.executemany(_UPSERT_TRACKING, tracked.items())
                after = await self._scalar(_LAST_ASSIGNED, ())
                if after - before != len(rows):  # AUTOINCREMENT numbers one transaction's rows
                    raise RuntimeError(f"positions {before + 1}..{after} for {len(rows)} events")
                await self._db.execute("COMMIT")
            except BaseException:
                await self._rollback()
                raise
        if rows:
            self._appended_up_to = max(self._appended_up_to, after)
            async with self._appended:
                self._appended.notify_all()
        recorded, position = [], before
        for append in appends:
            recorded.append([RecordedEvent(position + i, append.stream, append.expected_version + i,
                                           event) for i, event in enumerate(append.events, 1)])
            position += len(append.events)
        return recorded

    async def _check_in_order(self, appends: Sequence[Append]) -> dict[str, int]:
        """Check each append as ``_write`` would after the ones before it; return the
        tracking position each consumer ends at."""
        versions: dict[str, int] = {}
        tracked: dict[str, int] = {}
        for append in appends:
            if append.stream not in versions:
                versions[append.stream] = await self._stream_version(append.stream)
            _check_version(append.stream, versions[append.stream], append.expected_version)
            versions[append.stream] += len(append.events)
            if append.tracking is not None:
                consumer = append.tracking.consumer
                if consumer not in tracked:
                    tracked[consumer] = await self._tracked(consumer)
                _check_tracking(append.tracking, tracked[consumer])
                tracked[consumer] = append.tracking.position
        return tracked

    async def _rollback(self) -> None:
        # SQLite may already have ended the transaction (a COMMIT that went through before a
        # cancellation, or an I/O error that rolled back); then ROLLBACK fails and would hide
        # the error that brought us here.
        with contextlib.suppress(sqlite3.OperationalError):
            await self._db.execute("ROLLBACK")

    async def read_stream(self, stream: str, after_version: int = 0) -> list[RecordedEvent]:
        sql = f"{_SELECT} WHERE stream = ? AND version > ? ORDER BY version"
        return await self._select(sql, (stream, after_version))

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        state = json.dumps(snapshot.state, separators=(",", ":"))
        row = (snapshot.stream, snapshot.version, snapshot.position, snapshot.schema, state)
        async with self._lock:
            # Outside BEGIN: a single statement is its own (atomic) transaction.
            await self._db.execute(_UPSERT_SNAPSHOT, row)

    async def load_snapshot(self, stream: str) -> Snapshot | None:
        async with self._lock:
            rows = list(await self._db.execute_fetchall(
                "SELECT version, position, schema, state FROM snapshots WHERE stream = ?",
                (stream,)))
        if not rows:
            return None
        version, position, schema, state = rows[0]
        return Snapshot(stream, int(version), int(position), int(schema), json.loads(state))

    async def read_all(
        self,
        after_position: int = 0,
        limit: int = 500,
        categories: Collection[str] | None = None,
    ) -> list[RecordedEvent]:
        if limit <= 0:
            return []  # SQLite reads a negative LIMIT as "no limit"
        if categories is None:
            sql = f"{_SELECT} WHERE position > ? ORDER BY position LIMIT ?"
            return await self._select(sql, (after_position, limit))
        wanted = sorted(set(categories))
        marks = ", ".join("?" * len(wanted))
        sql = f"{_SELECT} WHERE position > ? AND category IN ({marks}) ORDER BY position LIMIT ?"
        return await self._select(sql, (after_position, *wanted, limit))

    async def last_position(self) -> int:
        async with self._lock:
            return await self._scalar("SELECT COALESCE(MAX(position), 0) FROM events", ())

    async def tracked_position(self, consumer: str) -> int:
        async with self._lock:
            return await self._tracked(consumer)

    # ASYNC109 prefers asyncio.timeout at the call site, but the port fixes this signature.
    async def wait_for_append(self, after_position: int, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # Holding the Condition while reading the log means an in-process append cannot notify
        # between our read and our wait (its notify needs the Condition we only release in wait).
        if self._appended_up_to > after_position:
            return True
        async with self._appended:
            while (self._appended_up_to <= after_position
                   and await self.last_position() <= after_position):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                try:
                    # Woken by our own appends; the poll bound catches other processes' appends.
                    async with asyncio.timeout(min(remaining, self._poll_seconds)):
                        await self._appended.wait()
                except TimeoutError:
                    pass
        return True

    async def close(self) -> None:
        async with self._lock:
            await self._db.close()

    async def _select(self, sql: str, params: tuple[Any, ...]) -> list[RecordedEvent]:
        async with self._lock:
            rows = await self._db.execute_fetchall(sql, params)
        return [
            RecordedEvent(position, stream, version, self._serializer.deserialize(t, tv, data))
            for position, stream, version, t, tv, data in rows
        ]

    async def _scalar(self, sql: str, params: tuple[Any, ...]) -> int:
        rows = list(await self._db.execute_fetchall(sql, params))
        return int(rows[0][0])

    async def _stream_version(self, stream: str) -> int:
        return await self._scalar(
            "SELECT COALESCE(MAX(version), 0) FROM events WHERE stream = ?", (stream,))

    async def _tracked(self, consumer: str) -> int:
        rows = list(
            await self._db.execute_fetchall(
                "SELECT position FROM tracking WHERE consumer = ?", (consumer,)
            )
        )
        return int(rows[0][0]) if rows else 0


def _check_version(stream: str, current: int, expected_version: int) -> None:
    if current != expected_version:
        raise WrongExpectedVersion(f"{stream}: at {current}, expected {expected_version}")


def _check_tracking(tracking: Tracking, recorded: int) -> None:
    if tracking.position <= recorded:
        raise AlreadyProcessed(f"{tracking.consumer}: {tracking.position} <= {recorded}")
    if tracking.previous is not None and recorded != tracking.previous:
        raise WrongExpectedVersion(
            f"{tracking.consumer}: tracking at {recorded}, expected {tracking.previous}")
