"""Benchmark: what reading the board costs against the restaurant's history (orders collected).

    .venv/bin/python benchmarks/board_reads.py [--orders 1000 10000 100000] [--runs 5]
        [--against REV] [--out DIR]

For each history size N, a child process (this script's `measure` subcommand) writes a fresh
SQLite read-model database by projecting N orders through the views projection of the code
measured (`ViewsProjection.handle`, batches of 500 events): N - 3 orders placed, started, READY
and COLLECTED, then one READY, one IN_PROGRESS and one REQUESTED. It then times, --runs times
each, in process:

- `Queries.board()`: what `GET /board` and every board snapshot read;
- `Queries.orders(READY)`: what the kitchen display's `GET /orders?status=READY` (every second,
  per display) reads.

Reported: the median (min-max) milliseconds of each read per size and per code measured: the
working tree, and with `--against REV` a clean export of that commit's src/ (measured the same
way, each its own child, interleaved by size). Writes board_reads.json and board_reads.png into
--out (docs/benchmarks/). No server, no network: the database is in a temporary directory,
deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "benchmarks"
BATCH = 500


async def measure(orders: int, runs: int, directory: Path) -> dict[str, Any]:
    """Build the read models of ``orders`` orders and time the two reads (child process)."""
    from mcburger.adapters.readmodels.sqlite import SQLiteReadModelStore
    from mcburger.application.ports import RecordedEvent
    from mcburger.application.queries import Queries
    from mcburger.application.views import ViewsProjection
    from mcburger.config import Settings
    from mcburger.domain.events import (
        OrderCollected,
        OrderLine,
        OrderPlaced,
        OrderReady,
        OrderStarted,
    )
    from mcburger.domain.ordering import OrderStatus

    menu = Settings().load_menu()
    store = await SQLiteReadModelStore.open(directory / "readmodels.db")
    projection = ViewsProjection(store, menu)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    steps = (OrderStarted, OrderReady, OrderCollected)

    def events_of(number: int) -> list[Any]:
        at = t0 + timedelta(seconds=number)
        common = {"restaurant_id": "main", "order_id": f"o{number}", "number": number}
        kept = len(steps) if number <= orders - 3 else orders - number  # READY, STARTED, none
        return [OrderPlaced(occurred_at=at, lines=(OrderLine("cola", 1),), **common),
                *[kind(occurred_at=at, **common) for kind in steps[:kept]]]

    built = time.perf_counter()
    batch: list[RecordedEvent] = []
    position = 0
    for number in range(1, orders + 1):
        for event in events_of(number):
            position += 1
            batch.append(RecordedEvent(position, f"ordering-{event.restaurant_id}", position,
                                       event))
            if len(batch) == BATCH:
                await projection.handle(batch)
                batch = []
    if batch:
        await projection.handle(batch)
    built = time.perf_counter() - built
    queries = Queries(store, menu)
    board = await queries.board()
    assert (board["ready"], board["in_progress"], board["requested"]) == (
        [orders - 2], [orders - 1], [orders]), board
    timings: dict[str, list[float]] = {"board": [], "orders_ready": []}
    for _ in range(runs):
        started = time.perf_counter()
        await queries.board()
        timings["board"].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        answered = await queries.orders(OrderStatus.READY)  # a page and next_after since 8b48a50
        ready = answered[0] if isinstance(answered, tuple) else answered
        timings["orders_ready"].append((time.perf_counter() - started) * 1000)
        assert [order["number"] for order in ready] == [orders - 2]
    await store.close()
    return {"orders": orders, "build_seconds": round(built, 1),
            **{name: spread(values) for name, values in timings.items()}}


def spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2),
            "max": round(max(values), 2)}


def export(revision: str) -> tuple[str, Path]:
    """A clean export of ``revision``'s src/ (kept in .cache/benchmarks/src-SHA)."""
    sha = subprocess.run(["git", "rev-parse", "--verify", f"{revision}^{{commit}}"], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout.strip()
    target = ROOT / ".cache" / "benchmarks" / f"src-{sha}"
    if not (target / "src" / "mcburger").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", sha, "src"], cwd=ROOT, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return sha, target / "src"


def child(orders: int, runs: int, source: Path | None) -> dict[str, Any]:
    environment = dict(os.environ)
    if source is not None:
        environment["PYTHONPATH"] = str(source)
    with tempfile.TemporaryDirectory(prefix="mcburger-board-reads-") as directory:
        done = subprocess.run(
            [sys.executable, __file__, "measure", "--orders", str(orders), "--runs", str(runs),
             "--dir", directory], env=environment, check=True, capture_output=True, text=True,
            timeout=3600)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    one = sub.add_parser("measure")
    one.add_argument("--orders", type=int, required=True)
    one.add_argument("--runs", type=int, required=True)
    one.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--orders", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--against", help="also measure a clean export of this commit")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.command == "measure":
        print(json.dumps(asyncio.run(measure(args.orders, args.runs, args.dir))))
        return

    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()
    codes: list[tuple[str, Path | None]] = [(f"working tree ({head})", None)]
    if args.against:
        sha, source = export(args.against)
        codes.append((f"{args.against} ({sha[:7]})", source))
    print(f"command: {' '.join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])}")
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    results: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in codes}
    for orders in args.orders:
        for name, source in codes:
            found = child(orders, args.runs, source)
            results[name].append(found)
            print(f"  {name}: {orders:,} orders: GET /board {found['board']['median']} ms, "
                  f"GET /orders?status=READY {found['orders_ready']['median']} ms "
                  f"(built in {found['build_seconds']} s)", flush=True)

    print("\n| code | orders in history | board read, ms | READY list read, ms |")
    print("| --- | ---: | ---: | ---: |")
    for name, rows in results.items():
        for row in rows:
            board, ready = row["board"], row["orders_ready"]
            print(f"| {name} | {row['orders']:,} | {board['median']} ({board['min']}-"
                  f"{board['max']}) | {ready['median']} ({ready['min']}-{ready['max']}) |")
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"command": " ".join(sys.argv), "runs": args.runs, "results": results}
    (args.out / "board_reads.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(results, args.out / "board_reads.png")
    print(f"wrote {args.out / 'board_reads.json'} and {args.out / 'board_reads.png'}")


def plot(results: dict[str, list[dict[str, Any]]], path: Path) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 4.5), layout="constrained")
    ax = figure.subplots()
    for name, rows in results.items():
        xs = [row["orders"] for row in rows]
        for key, label, style in (("board", "board", "-o"), ("orders_ready", "READY list", "--s")):
            ax.plot(xs, [row[key]["median"] for row in rows], style, label=f"{label}, {name}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("orders in the history (all but 3 collected)")
    ax.set_ylabel("read, ms (median)")
    ax.set_title("Reading the board against history (SQLite read models)")
    ax.legend(fontsize=8)
    figure.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
