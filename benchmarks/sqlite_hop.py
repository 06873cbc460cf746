"""Benchmark: where one SQLite append's time goes, beside the `eventsourcing` comparison
(issue 11, item 2 "event store"; docs/benchmarks.md, "Event store appends").

    .venv/bin/python benchmarks/sqlite_hop.py [--appends 1500] [--runs 5]

Three figures a run, in microseconds, each on a fresh file (WAL, `synchronous=FULL`, as
`SQLiteEventStore` opens it):

- **hop**: one `SELECT 1` through aiosqlite (the event loop hands the statement to the
  connection's thread and is woken with the answer): what an async adapter pays a trip on top of
  the statement;
- **statement**: our append's statement (`_INSERT_CHECKED`: the version check and the insert in
  one statement, its own transaction), one event, run synchronously with the standard `sqlite3`
  module, as the `eventsourcing` library's recorder runs its own;
- **append**: `SQLiteEventStore.append` of one event, the whole adapter (serialization, the
  hop, the statement, the wake-up of waiters).

Prints the median (min-max) of `--runs` runs. Writes nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import aiosqlite
from _server import machine, print_machine
from eventstore import STREAM, events

from mcburger.adapters.eventstore import sqlite as adapter
from mcburger.adapters.serialization import EventSerializer
from mcburger.domain.events import category_of


async def hop(path: Path, count: int) -> float:
    db = await aiosqlite.connect(str(path), isolation_level=None)
    try:
        began = time.perf_counter()
        for _ in range(count):
            await db.execute_fetchall("SELECT 1")
        return (time.perf_counter() - began) / count * 1e6
    finally:
        await db.close()


def statement(path: Path, count: int) -> float:
    serializer = EventSerializer()
    rows = []
    for version, event in enumerate(events(count), start=1):
        type_name, type_version, data = serializer.serialize(event)
        rows.append((STREAM, version, category_of(STREAM), type_name, type_version,
                     event.event_id, event.restaurant_id, event.occurred_at.isoformat(), data))
    db = sqlite3.connect(str(path), isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(adapter._SCHEMA)
        sql = adapter._INSERT_CHECKED.format(rows=adapter._ROW_MARKS)
        began = time.perf_counter()
        for version, row in enumerate(rows):
            db.execute(sql, (*row, STREAM, version)).fetchall()
        return (time.perf_counter() - began) / count * 1e6
    finally:
        db.close()


async def append(path: Path, count: int) -> float:
    store = await adapter.SQLiteEventStore.open(path)
    todo = events(count)
    try:
        began = time.perf_counter()
        for version, event in enumerate(todo):
            await store.append(STREAM, [event], version)
        return (time.perf_counter() - began) / count * 1e6
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=1500)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print_machine(machine())
    found: dict[str, list[float]] = {"hop": [], "statement": [], "append": []}
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory() as work:
            found["hop"].append(asyncio.run(hop(Path(work) / "hop.db", args.appends)))
            found["statement"].append(statement(Path(work) / "sync.db", args.appends))
            found["append"].append(asyncio.run(append(Path(work) / "ours.db", args.appends)))
        print(f"  run {run}/{args.runs}: " + ", ".join(
            f"{name} {values[-1]:.0f} µs" for name, values in found.items()), flush=True)
    for name, values in found.items():
        print(f"{name}: {statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f}) µs")


if __name__ == "__main__":
    main()
