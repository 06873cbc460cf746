"""What one read-model write costs on FerretDB v1 as the collection grows, and why.

    .venv/bin/python benchmarks/readmodel_writes.py --runs 5        # about 4 minutes

Starts a FerretDB of its own (scripts/install-ferretdb's build) on each of its two handlers in
turn: SQLite in a temporary directory, and PostgreSQL on a throwaway cluster (Debian's
binaries), each on a free port of 127.0.0.1. For each collection size it stores that many
documents in the shape ``MongoReadModelStore`` keeps them, then times one ``commit`` that
replaces ``--batch`` of them (the guarded update the adapter sends: ``{_id: key, position:
{$lt: p}}``), and, beside it, the same number of plain ``{_id: key}`` updates, the only filter
FerretDB v1 turns into SQL. Figures: milliseconds per replaced document, median (min-max) of the
runs. What they show: on FerretDB v1 a write's cost follows the collection's size on either
handler (no lookup of it uses the ``_id`` index), the guarded write's most; MongoDB finds both
through the ``_id`` index.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _server import (
    ROOT,
    command_line,
    machine,
    print_machine,
    spread,
    write_json,
)
from pymongo import AsyncMongoClient

from mcburger.adapters.readmodels.mongo import MongoReadModelStore
from mcburger.application.ports import Put

BINARY = ROOT / ".cache" / "ferretdb" / "ferretdb"
OUT = ROOT / "docs" / "benchmarks" / "readmodel_writes.json"
HANDLERS = ("sqlite", "postgresql")

sys.path.insert(0, str(ROOT))  # tests.contract.postgres_server starts the PostgreSQL cluster


def _puts(keys: range, position: int) -> list[Put]:
    return [Put("bench", f"k{key:06}", key, position, {"key": key, "round": position})
            for key in keys]


async def one_size(url: str, database: str, size: int, batch: int) -> dict[str, float]:
    store = await MongoReadModelStore.open(url, database)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
    try:
        # Filled directly, in the adapter's document shape: through commit, each of the first
        # documents would already pay the scan this measures, and the fill alone take minutes
        await store.commit("bench", 1, _puts(range(1), 1))  # the collection and its index
        await client[database]["rm_bench"].insert_many(
            [{"_id": put.key, "seq": put.seq, "position": put.position, "body": put.document}
             for put in _puts(range(1, size), 1)])
        keys = range(0, size, max(1, size // batch))[:batch]  # spread over the collection
        began = time.perf_counter()
        await store.commit("bench", size + 1, _puts(keys, 2))
        guarded = (time.perf_counter() - began) / len(keys)
        collection = client[database]["rm_bench"]
        updates = [{"q": {"_id": f"k{key:06}"}, "u": {"$set": {"position": 3}}, "multi": True}
                   for key in keys]
        began = time.perf_counter()
        await client[database].command({"update": collection.name, "updates": updates})
        bare = (time.perf_counter() - began) / len(keys)
        return {"guarded_ms": guarded * 1000, "bare_id_ms": bare * 1000}
    finally:
        await client.drop_database(database)
        await client.close()
        await store.close()


async def measure(url: str, sizes: list[int], batch: int, run: int) -> dict[int, dict[str, float]]:
    return {size: await one_size(url, f"bench_{run}_{size}", size, batch) for size in sizes}


@contextlib.contextmanager
def ferretdb(handler: str) -> Iterator[str]:
    """A FerretDB on ``handler`` (tests.contract.ferretdb_server's; for postgresql, over a
    throwaway cluster durable as dev-up's); yields its MongoDB URL."""
    from tests.contract.ferretdb_server import throwaway_ferretdb
    from tests.contract.postgres_server import throwaway_cluster

    with contextlib.ExitStack() as stack:
        admin = (None if handler == "sqlite"
                 else stack.enter_context(throwaway_cluster(durable=True)))
        yield stack.enter_context(throwaway_ferretdb(BINARY, admin))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 1000, 4000])
    parser.add_argument("--batch", type=int, default=50, help="documents replaced a commit")
    parser.add_argument("--handlers", nargs="+", default=list(HANDLERS), choices=HANDLERS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if not BINARY.exists():
        sys.exit(f"{BINARY} not found: run scripts/install-ferretdb")
    info = machine()
    print_machine(info)
    runs: dict[str, list[dict[int, dict[str, float]]]] = {}
    for handler in args.handlers:
        with ferretdb(handler) as url:
            for run in range(1, args.runs + 1):
                found = asyncio.run(measure(url, args.sizes, args.batch, run))
                runs.setdefault(handler, []).append(found)
                print(f"  {handler} run {run}/{args.runs}: " + ", ".join(
                    f"{size}: guarded {f['guarded_ms']:.2f} ms, bare _id "
                    f"{f['bare_id_ms']:.2f} ms" for size, f in found.items()), flush=True)
    table = {handler: {size: {name: spread([run[size][name] for run in handler_runs])
                              for name in ("guarded_ms", "bare_id_ms")}
                       for size in args.sizes}
             for handler, handler_runs in runs.items()}
    print("\n| FerretDB handler | documents in the collection | guarded write, ms a document "
          "| bare `_id` update, ms a document |\n| --- | ---: | ---: | ---: |")
    for handler, sizes in table.items():
        for size, figures in sizes.items():
            cells = [f"{f['median']:.2f} ({f['min']:.2f}-{f['max']:.2f})"
                     for f in (figures["guarded_ms"], figures["bare_id_ms"])]
            print(f"| {handler} | {size:,} | {cells[0]} | {cells[1]} |")
    write_json(args.out, {"machine": info, "command": command_line(), "runs": args.runs,
                          "batch": args.batch,
                          "table": {handler: {str(size): figures for size, figures in sizes.items()}
                                    for handler, sizes in table.items()}})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
