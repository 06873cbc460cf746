"""Benchmark: appends/s of our event store adapters against the `eventsourcing` library's
recorders on the same engines, in the same run (issue 11, item 2 "event store").

    .venv/bin/pip install -e '.[bench]'   # the eventsourcing library, for the comparison
    .venv/bin/python benchmarks/eventstore.py [--appends 2000] [--runs 5] [--engines sqlite ...]

For each engine and each shape, one writer appends `--appends` times, one after another:

- **single**: one event an append, to one stream (versions 1, 2, 3, ...);
- **batched**: ten events an append, to one stream.

Ours: `SQLiteEventStore` / `PostgresEventStore` (`append(stream, events, expected_version)`:
version check, events, commit). Theirs: `eventsourcing`'s `SQLiteApplicationRecorder` /
`PostgresApplicationRecorder` (`insert_events`: one originator, the same versions), its payload
the very JSON text ours stores. Both durable as shipped: SQLite in WAL mode with
`synchronous=FULL` (ours sets it; SQLite's default, which the library keeps), PostgreSQL a fresh
cluster of Debian's binaries with the default `fsync=on`, `synchronous_commit=on`, on this
machine's disk under a temporary directory. Each run starts from empty files/databases.

Prints the medians (min-max) of `--runs` runs and the ratio ours ÷ theirs, and writes
docs/benchmarks/eventstore.json. Only talks to its own PostgreSQL on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _server import ROOT, command_line, machine, print_machine, spread, write_json

sys.path.insert(0, str(ROOT))  # tests.contract.postgres_server starts the PostgreSQL cluster

from mcburger.adapters.eventstore.sqlite import SQLiteEventStore
from mcburger.adapters.serialization import EventSerializer
from mcburger.domain.events import Event, OrderLine, OrderPlaced

OUT = ROOT / "docs" / "benchmarks"
STREAM = "ordering-bench"
BATCH = 10
SHAPES = {"single": 1, "batched": BATCH}


def events(count: int) -> list[Event]:
    at = datetime(2026, 1, 1, 12, tzinfo=UTC)
    return [OrderPlaced(restaurant_id="main", occurred_at=at, order_id=str(uuid.uuid4()),
                        number=n, lines=(OrderLine("cola", 1), OrderLine("fries", 2)))
            for n in range(1, count + 1)]


async def ours(open_store: Callable[[], Any], appends: int, size: int) -> float:
    """Appends/s of one of our adapters: `appends` appends of `size` events to one stream."""
    store = await open_store()
    todo = events(appends * size)
    try:
        began = time.perf_counter()
        for index in range(appends):
            await store.append(STREAM, todo[index * size:(index + 1) * size], index * size)
        return appends / (time.perf_counter() - began)
    finally:
        await store.close()


def theirs(recorder: Any, appends: int, size: int) -> float:
    """Appends/s of an `eventsourcing` recorder, the same events as ours stores them."""
    from eventsourcing.persistence import StoredEvent

    serializer = EventSerializer()
    payloads = [serializer.serialize(event)[2].encode() for event in events(appends * size)]
    originator = uuid.uuid4()
    began = time.perf_counter()
    for index in range(appends):
        recorder.insert_events([
            StoredEvent(originator, index * size + offset + 1, "mcburger.OrderPlaced",
                        payloads[index * size + offset])
            for offset in range(size)])
    return appends / (time.perf_counter() - began)


def sqlite_run(scratch: Path, appends: int) -> dict[str, float]:
    from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

    found: dict[str, float] = {}
    for shape, size in SHAPES.items():
        with tempfile.TemporaryDirectory(dir=scratch) as work:
            path = Path(work) / "ours.db"
            found[f"ours_{shape}"] = asyncio.run(
                ours(functools.partial(SQLiteEventStore.open, path), appends, size))
            datastore = SQLiteDatastore(str(Path(work) / "theirs.db"))
            recorder = SQLiteApplicationRecorder(datastore)
            recorder.create_table()
            try:
                found[f"theirs_{shape}"] = theirs(recorder, appends, size)
            finally:
                datastore.close()
    return found


def postgres_run(admin_url: str, appends: int) -> dict[str, float]:
    from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
    from psycopg.conninfo import conninfo_to_dict
    from tests.contract.postgres_server import drop_database, fresh_database

    from mcburger.adapters.eventstore.postgres import PostgresEventStore

    found: dict[str, float] = {}
    for shape, size in SHAPES.items():
        url = fresh_database(admin_url)
        try:
            found[f"ours_{shape}"] = asyncio.run(
                ours(functools.partial(PostgresEventStore.open, url), appends, size))
        finally:
            drop_database(admin_url, url)
        url = fresh_database(admin_url)
        info = conninfo_to_dict(url)
        datastore = PostgresDatastore(str(info["dbname"]), str(info["host"]), str(info["port"]),
                                      str(info.get("user", "postgres")), "")
        try:
            recorder = PostgresApplicationRecorder(datastore)
            recorder.create_table()
            found[f"theirs_{shape}"] = theirs(recorder, appends, size)
        finally:
            datastore.close()
            drop_database(admin_url, url)
    return found


@contextlib.contextmanager
def durable_postgres() -> Iterator[str]:
    from tests.contract.postgres_server import throwaway_cluster

    with throwaway_cluster(durable=True) as url:
        yield url


def summarise(runs: list[dict[str, float]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for shape in SHAPES:
        ours_rates = [run[f"ours_{shape}"] for run in runs]
        theirs_rates = [run[f"theirs_{shape}"] for run in runs]
        summary[shape] = {"ours": spread(ours_rates), "theirs": spread(theirs_rates),
                          "ratio": spread([o / t for o, t in zip(ours_rates, theirs_rates,
                                                                 strict=True)])}
    return summary


def table(results: dict[str, Any]) -> str:
    rows = ["| engine | appends | ours, appends/s | eventsourcing, appends/s | ours ÷ theirs |",
            "| --- | --- | ---: | ---: | ---: |"]
    for engine, summary in results.items():
        for shape in SHAPES:
            cells = summary[shape]
            rows.append(f"| {engine} | {shape} ({SHAPES[shape]} event"
                        f"{'s' if SHAPES[shape] > 1 else ''}) | {fmt(cells['ours'], ',.0f')} | "
                        f"{fmt(cells['theirs'], ',.0f')} | {fmt(cells['ratio'], '.2f')} |")
    return "\n".join(rows)


def fmt(cell: dict[str, float], spec: str) -> str:
    return f"{cell['median']:{spec}} ({cell['min']:{spec}}-{cell['max']:{spec}})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--engines", nargs="+", default=["sqlite", "postgres"],
                        choices=["sqlite", "postgres"])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    info = machine()
    print_machine(info)
    results: dict[str, Any] = {}
    raw: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(dir=ROOT / ".cache") as scratch:
        for engine in args.engines:
            runs: list[dict[str, float]] = []
            with (durable_postgres() if engine == "postgres"
                  else contextlib.nullcontext("")) as url:
                for index in range(args.runs):
                    run = (postgres_run(url, args.appends) if engine == "postgres"
                           else sqlite_run(Path(scratch), args.appends))
                    runs.append(run)
                    print(f"  {engine} run {index + 1}/{args.runs}: "
                          + ", ".join(f"{k} {v:,.0f}/s" for k, v in run.items()), flush=True)
            raw[engine] = runs
            results[engine] = summarise(runs)
    print(table(results))
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "eventstore.json", {"machine": info, "command": command_line(),
                                              "appends": args.appends, "results": results,
                                              "runs": raw})
    print(f"wrote {args.out / 'eventstore.json'}")


if __name__ == "__main__":
    main()
