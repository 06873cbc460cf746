"""SQLite read-model store: the embedded default, documents as JSON text queried with JSON1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import sqlite3
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from mcburger.adapters.readmodels.commit_signal import CommitSignal
from mcburger.application.ports import JSON, Put, ReadModelStore

log = logging.getLogger(__name__)

# Field names end up in a JSON path; anything but a plain identifier could reach into nested
# objects or array items ("a.b", "a[0]") and silently change what the query means.
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# How often a waiter re-reads the checkpoint: commits made by another process on the same file
# cannot notify our in-process condition, so this bounds how late such a commit is noticed. In
# the process that writes the views this matters only for a rebuild in a worker process.
_CROSS_PROCESS_RECHECK = 0.25
# ...and in a process that follows another's commits (``board-feeds``): every change reaches its
# screens that much later at most (10 ms on average), for 50 reads a second of one row, ~0.3 %
# of a core while idle (``open(..., follower=True)``).
FOLLOWER_RECHECK = 0.02

Scalar = str | int | float | bool | None

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    collection TEXT NOT NULL,
    key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    position INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (collection, key)
);
CREATE INDEX IF NOT EXISTS documents_by_seq ON documents (collection, seq);
CREATE TABLE IF NOT EXISTS checkpoints (
    consumer TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
"""

# The WHERE on DO UPDATE makes a stale Put a no-op in SQL itself, the same rule as the port's.
_UPSERT_DOCUMENT = """
INSERT INTO documents (collection, key, seq, position, body) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (collection, key) DO UPDATE
SET seq = excluded.seq, position = excluded.position, body = excluded.body
WHERE documents.position < excluded.position
"""

_UPSERT_CHECKPOINT = """
INSERT INTO checkpoints (consumer, position) VALUES (?, ?)
ON CONFLICT (consumer) DO UPDATE SET position = excluded.position
"""


class SQLiteReadModelStore(ReadModelStore):
    """One aiosqlite connection, guarded by a lock so transactions never interleave.

    Each ``commit`` is one ``BEGIN IMMEDIATE`` transaction: the redelivery check, the documents
    and the checkpoint move together. WAL with ``synchronous=NORMAL`` survives a process kill
    (not necessarily a power cut), which is enough for data that can be rebuilt from the log.
    """

    def __init__(self, db: aiosqlite.Connection, path: Path | str = ":memory:",
                 follower: bool = False) -> None:
        self._db = db
        self._path = str(path)
        self._lock = asyncio.Lock()
        self._follower = follower
        self._committed = CommitSignal(FOLLOWER_RECHECK if follower else _CROSS_PROCESS_RECHECK)
        self._identity = _identity(self._path) if follower else None

    @classmethod
    async def open(cls, path: Path | str, follower: bool = False) -> SQLiteReadModelStore:
        """Open (creating if needed) the database at ``path``; ``":memory:"`` for a private one.

        ``follower``: another process writes these read models and this one only reads them
        (``board-feeds``). ``wait_for_checkpoint`` then notices that process's commits within
        ``FOLLOWER_RECHECK`` s (0.25 s otherwise: this process's own commits wake it at once),
        and when the file at ``path`` is replaced (the restaurant's read models deleted and
        rebuilt, or another data directory moved in), the next ``checkpoint`` reopens it: an
        open connection would go on reading the deleted file for ever.

        Raises ``sqlite3.Error`` when the file is not an SQLite database or cannot be opened.
        """
        db = await _connect(str(path))
        return cls(db, path, follower)

    async def _follow_replacement(self) -> None:
        """Reopen ``path`` when the file there is no longer the one open (a follower only;
        called holding ``_lock``)."""
        # One stat of a local file (microseconds), inline: a thread hop would cost more.
        now = _identity(self._path)
        if now is None or now == self._identity:
            return  # the same file, or none yet (deleted, the writer not restarted)
        old, self._db = self._db, await _connect(self._path)
        self._identity = now
        await old.close()
        log.warning("the read models at %s were replaced: reading the new file", self._path)

    async def get(self, collection: str, key: str) -> JSON | None:
        async with self._lock:  # one round trip to the driver's thread, not two
            rows = list(await self._db.execute_fetchall(
                "SELECT body FROM documents WHERE collection = ? AND key = ?", (collection, key)
            ))
        return _decode(rows[0][0]) if rows else None

    async def get_versioned(self, collection: str, key: str) -> tuple[JSON, int] | None:
        async with self._lock:
            rows = list(await self._db.execute_fetchall(
                "SELECT body, position FROM documents WHERE collection = ? AND key = ?",
                (collection, key),
            ))
        return (_decode(rows[0][0]), int(rows[0][1])) if rows else None

    async def get_versioned_many(
        self, collection: str, keys: Collection[str]
    ) -> dict[str, tuple[JSON, int]]:
        wanted = sorted(set(keys))
        found: dict[str, tuple[JSON, int]] = {}
        # SQLite allows 32,766 parameters a statement; stay far below it.
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            async with self._lock:
                rows = await self._db.execute_fetchall(
                    "SELECT key, body, position FROM documents "
                    f"WHERE collection = ? AND key IN ({marks})", (collection, *chunk))
            found.update((key, (_decode(body), int(position))) for key, body, position in rows)
        return found

    async def find(
        self,
        collection: str,
        where: Mapping[str, Scalar] | None = None,
        after_seq: int | None = None,
        limit: int | None = None,
    ) -> list[JSON]:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        sql = ["SELECT body FROM documents WHERE collection = ?"]
        params: list[Any] = [collection]
        if after_seq is not None:
            sql.append("AND seq > ?")
            params.append(after_seq)
        for field, value in (where or {}).items():
            condition, condition_params = _condition(field, value)
            sql.append(f"AND {condition}")
            params.extend(condition_params)
        sql.append("ORDER BY seq, key LIMIT ?")
        params.append(-1 if limit is None else limit)  # -1: no limit
        async with self._lock:
            cursor = await self._db.execute(" ".join(sql), params)
            rows = await cursor.fetchall()
        return [_decode(row[0]) for row in rows]

    async def checkpoint(self, consumer: str) -> int:
        async with self._lock:
            if self._follower:
                await self._follow_replacement()
            return await self._checkpoint(consumer)

    async def commit(self, consumer: str, position: int, puts: Sequence[Put]) -> None:
        # Encode before the transaction: a bad document fails without holding the write lock.
        rows = [
            (put.collection, put.key, put.seq, put.position, _encode(put.document)) for put in puts
        ]
        async with self._lock:
            # IMMEDIATE takes the write lock now, so the checkpoint we compare against cannot be
            # moved by another process before we write.
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                if position <= await self._checkpoint(consumer):
                    await self._db.execute("ROLLBACK")
                    return  # redelivery
                await self._db.executemany(_UPSERT_DOCUMENT, rows)
                await self._db.execute(_UPSERT_CHECKPOINT, (consumer, position))
                await self._db.execute("COMMIT")
            except BaseException:
                # The transaction may already be over (a COMMIT that went through just before a
                # cancellation): then ROLLBACK fails and would hide the error that brought us here.
                with contextlib.suppress(sqlite3.OperationalError):
                    await self._db.execute("ROLLBACK")
                raise
        await self._committed.notify()

    # The port fixes the signature, hence a timeout argument rather than asyncio.timeout().
    async def wait_for_checkpoint(
        self,
        consumer: str,
        position: int,
        timeout: float,
    ) -> bool:
        async def reached() -> bool:
            return await self.checkpoint(consumer) >= position

        return await self._committed.wait_until(reached, timeout)

    async def close(self) -> None:
        async with self._lock:
            await self._db.close()

    async def _checkpoint(self, consumer: str) -> int:
        cursor = await self._db.execute(
            "SELECT position FROM checkpoints WHERE consumer = ?", (consumer,)
        )
        row = await cursor.fetchone()
        return 0 if row is None else int(row[0])


async def _connect(path: str) -> aiosqlite.Connection:
    # Autocommit mode: transactions are begun explicitly, never implicitly by the driver.
    db = await aiosqlite.connect(path, isolation_level=None)
    try:
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("PRAGMA busy_timeout=5000")  # another process may hold the lock
        await db.executescript(_SCHEMA)
    except BaseException:
        await db.close()
        raise
    return db


def _identity(path: str) -> tuple[int, int] | None:
    """Which file is at ``path`` (device, inode), None when there is none."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _condition(field: str, value: Scalar) -> tuple[str, list[Any]]:
    """SQL matching one top-level field with JSON equality (true is not 1, "1" is not 1).

    ``json_extract`` alone would blur those (it returns 1 for true, and an object's JSON text
    for an object), so the JSON type is checked too. The path is a bound parameter.
    """
    if not _FIELD.fullmatch(field):
        raise ValueError(f"not a top-level field name: {field!r}")
    path = f"$.{field}"
    if value is None:  # a missing field counts as null
        return "json_extract(body, ?) IS NULL", [path]
    if isinstance(value, bool):
        return "json_type(body, ?) = ?", [path, "true" if value else "false"]
    if isinstance(value, int | float):
        return "json_type(body, ?) IN ('integer', 'real') AND json_extract(body, ?) = ?", [
            path,
            path,
            value,
        ]
    if isinstance(value, str):
        return "json_type(body, ?) = 'text' AND json_extract(body, ?) = ?", [path, path, value]
    raise TypeError(f"can only match scalars, got {type(value)} for {field!r}")


# One encoder for every document (json.dumps with options builds one a call); NaN refused.
_ENCODER = json.JSONEncoder(allow_nan=False, check_circular=False)


def _encode(document: JSON) -> str:
    if not isinstance(document, dict):
        raise TypeError(f"a read-model document must be a JSON object, got {type(document)}")
    return _ENCODER.encode(document)


def _decode(body: str) -> JSON:
    document: JSON = json.loads(body)
    return document
