"""Benchmark: what a restart costs against the restaurant's history (issue 10, item 6).

    .venv/bin/python benchmarks/history.py

For 0, 10,000, 50,000 and 200,000 served orders: a data directory written by
`mcburger simulate --orders N --seed 1 --into DIR` (built once, cached in
.cache/benchmarks/history-N/ and reused; size 0 is a brand-new directory). Every run works on a
fresh copy of it (running changes a directory), and measures:

- restart: from launching `mcburger run --speed 1` until GET /healthz answers 200 and every
  consumer's lag is 0 (the time to the first 200 is reported too);
- the latency of the first `POST /orders` (one cola) after that, and the server's RSS after it;
- rebuild: in another fresh copy without readmodels.db, the events in the log divided by the wall
  seconds from launch until the views, views-kitchen and analytics consumers are caught up
  (--rebuild-runs times, fewer where they would take more than 10 minutes a size; at least once).

Prints a table, writes docs/benchmarks/history.json and history.png. Only ever talks to its own
servers on 127.0.0.1. `--commit REV` measures a clean export of that commit's src/ instead of
the working tree (which the editable install runs, uncommitted edits included).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _server import (
    ROOT,
    Server,
    command_line,
    errorbar,
    lag_is_zero,
    machine,
    mcburger_command,
    print_machine,
    spread,
    use_commit,
    write_json,
)

SIZES = (0, 10_000, 50_000, 200_000)
CACHE = ROOT / ".cache" / "benchmarks"
OUT = ROOT / "docs" / "benchmarks"
REBUILT = ("views", "views-kitchen", "analytics")
FIRST_ORDER = {"items": [{"item": "cola", "quantity": 1}]}
READY_TIMEOUT = 600.0
REBUILD_TIMEOUT = 3600.0
REBUILD_POLL_SECONDS = 0.25
REBUILD_BUDGET = 600.0  # seconds of rebuilding a size, beyond the first run
CAUGHT_UP = re.compile(
    r"(\S+): caught up at position (\d+) in ([\d.]+) s \((\d+) log positions/s\)")
PROBLEM = re.compile(r"\b(ERROR|CRITICAL|Traceback)\b")


def cached_history(orders: int) -> Path:
    """The cached data directory of `orders` served orders, written first if missing."""
    target = CACHE / f"history-{orders}"
    if (target / "events.db").exists():
        meta = CACHE / f"history-{orders}.json"
        built = json.loads(meta.read_text())["commit"] if meta.exists() else "unknown"
        print(f"reusing {target} (written by commit {built})", flush=True)
        return target
    partial = CACHE / f"history-{orders}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    print(f"building {target} (once; reused by later runs)", flush=True)
    began = time.monotonic()
    subprocess.run([*mcburger_command(), "simulate", "--orders", str(orders), "--seed", "1",
                    "--into", str(partial)], check=True)
    built = {"orders": orders, "seed": 1, "build_seconds": round(time.monotonic() - began, 1),
             "commit": machine()["commit"]}
    (CACHE / f"history-{orders}.json").write_text(json.dumps(built, indent=2))
    partial.rename(target)
    return target


def fresh_copy(source: Path | None, into: Path) -> Path:
    """A copy of `source` to run on (a new empty directory if None), without its lock file."""
    data = into / "data"
    if source is None:
        data.mkdir()
    else:
        shutil.copytree(source, data)
        (data / "lock").unlink(missing_ok=True)
    return data


def measure_restart(source: Path | None, scratch: Path) -> dict[str, Any]:
    """One restart: times to health and to lag 0, the first order, RSS, log problems."""
    with tempfile.TemporaryDirectory(dir=scratch) as work:
        data = fresh_copy(source, Path(work))
        server = Server.start(data, Path(work) / "server.log", "--speed", "1")
        try:
            with server.client() as client:
                first_ok, _ = server.wait_for(client, lambda _health: True, READY_TIMEOUT)
                ready, health = server.wait_for(client, lag_is_zero(), READY_TIMEOUT)
                began = time.perf_counter()
                response = client.post("/orders", json=FIRST_ORDER)
                first_post = time.perf_counter() - began
                response.raise_for_status()
                rss = server.rss_mib()
        finally:
            server.stop()
        return {"first_health_s": first_ok, "ready_s": ready, "first_post_ms": first_post * 1000,
                "rss_mib": rss, "events": health["event_store"]["last_position"],
                "status": health["status"], "log_problems": log_problems(server.log_path)}


def measure_rebuild(source: Path, scratch: Path) -> dict[str, Any]:
    """One rebuild of the read models from position 0 (readmodels.db deleted)."""
    with tempfile.TemporaryDirectory(dir=scratch) as work:
        data = fresh_copy(source, Path(work))
        for stale in data.glob("readmodels.db*"):
            stale.unlink()
        server = Server.start(data, Path(work) / "server.log", "--speed", "1")
        try:
            with server.client() as client:
                # Polled seldom: a rebuild is CPU-bound, and /healthz answers take their share
                seconds, health = server.wait_for(client, lag_is_zero(REBUILT), REBUILD_TIMEOUT,
                                                  poll=REBUILD_POLL_SECONDS)
        finally:
            server.stop()
        events = health["event_store"]["last_position"]
        return {"seconds": seconds, "events": events, "events_per_s": events / seconds,
                "logged": caught_up_lines(server.log_path),
                "log_problems": log_problems(server.log_path)}


def caught_up_lines(log_path: Path) -> dict[str, dict[str, float]]:
    """The consumers' own "caught up" lines: position, seconds, log positions/s."""
    found = {}
    for match in CAUGHT_UP.finditer(log_path.read_text(errors="replace")):
        found[match[1]] = {"position": int(match[2]), "seconds": float(match[3]),
                           "rate": float(match[4])}
    return found


def log_problems(log_path: Path) -> list[str]:
    lines = log_path.read_text(errors="replace").splitlines()
    return [line for line in lines if PROBLEM.search(line)][:20]


def measure_size(orders: int, runs: int, rebuild_runs: int, scratch: Path) -> dict[str, Any]:
    source = cached_history(orders) if orders else None
    restarts = []
    for run in range(runs):
        restarts.append(measure_restart(source, scratch))
        print(f"  {orders} orders, restart {run + 1}/{runs}: " + brief(restarts[-1]), flush=True)
    rebuilds: list[dict[str, Any]] = []
    while source and len(rebuilds) < rebuild_runs and another_rebuild_fits(rebuilds):
        rebuilds.append(measure_rebuild(source, scratch))
        print(f"  {orders} orders, rebuild {len(rebuilds)}/{rebuild_runs}: "
              f"{rebuilds[-1]['events_per_s']:,.0f} events/s "
              f"({rebuilds[-1]['seconds']:.1f} s)", flush=True)
    return {"orders": orders, "events": restarts[0]["events"], "restarts": restarts,
            "rebuilds": rebuilds, **summarise(restarts, rebuilds)}


def another_rebuild_fits(rebuilds: list[dict[str, Any]]) -> bool:
    """One rebuild a size at least; another while one more as long as the last would keep the
    size's rebuilding within REBUILD_BUDGET seconds (a slow rebuild of 200,000 orders: once)."""
    spent = sum(run["seconds"] for run in rebuilds)
    return not rebuilds or spent + rebuilds[-1]["seconds"] <= REBUILD_BUDGET


def brief(run: dict[str, Any]) -> str:
    return (f"health {run['first_health_s']:.2f} s, lag 0 {run['ready_s']:.2f} s, "
            f"first POST {run['first_post_ms']:.1f} ms, RSS {run['rss_mib']:.0f} MiB"
            + (f", {len(run['log_problems'])} log problem lines" if run["log_problems"] else ""))


def summarise(restarts: list[dict[str, Any]], rebuilds: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("first_health_s", "ready_s", "first_post_ms", "rss_mib")
    summary: dict[str, Any] = {key: spread([run[key] for run in restarts]) for key in keys}
    summary["rebuild_events_per_s"] = (
        spread([run["events_per_s"] for run in rebuilds]) if rebuilds else None)
    return summary


def table(sizes: Sequence[dict[str, Any]]) -> str:
    rows = ["| orders | events in the log | runs | restart to lag 0, s | first /healthz 200, s "
            "| first POST, ms | RSS, MiB | rebuild, events/s |",
            "| ---: | ---: | ---: | --- | --- | --- | --- | --- |"]
    for size in sizes:
        rebuild = size["rebuild_events_per_s"]
        rebuilt = f"{cell(rebuild, ',.0f')} ({len(size['rebuilds'])} runs)" if rebuild else "—"
        rows.append(
            f"| {size['orders']:,} | {size['events']:,} | {len(size['restarts'])} "
            f"| {cell(size['ready_s'], '.2f')} | {cell(size['first_health_s'], '.2f')} "
            f"| {cell(size['first_post_ms'], '.1f')} | {cell(size['rss_mib'], '.0f')} "
            f"| {rebuilt} |")
    return "\n".join(rows)


def cell(figures: dict[str, float], fmt: str) -> str:
    """Median (min-max)."""
    return (f"{figures['median']:{fmt}} ({figures['min']:{fmt}}-{figures['max']:{fmt}})")


def plot(sizes: Sequence[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    orders = [size["orders"] for size in sizes]
    fig, (restart_ax, rss_ax, rebuild_ax) = plt.subplots(1, 3, figsize=(15, 4.4),
                                                         sharex=True)
    errorbar(restart_ax, orders, [size["ready_s"] for size in sizes],
             "until every consumer's lag is 0")
    errorbar(restart_ax, orders, [size["first_health_s"] for size in sizes],
             "until the first /healthz 200", ls=":", marker="x")
    errorbar(rss_ax, orders, [size["rss_mib"] for size in sizes], "RSS after the first order")
    rebuilt = [size for size in sizes if size["rebuild_events_per_s"]]
    errorbar(rebuild_ax, [size["orders"] for size in rebuilt],
             [size["rebuild_events_per_s"] for size in rebuilt],
             "views, views-kitchen, analytics from position 0")
    rebuild_ax.axhline(25_000, color="grey", ls="--", lw=1, label="target: >= 25,000 events/s")
    empty = next((size for size in sizes if size["orders"] == 0), None)
    if empty:
        limit = min(2 * empty["ready_s"]["median"], 2.0)
        restart_ax.axhline(limit, color="grey", ls="--", lw=1,
                           label=f"target at 50k: <= 2 x empty and <= 2 s ({limit:.2f} s)")
        rss_ax.axhline(1.3 * empty["rss_mib"]["median"], color="grey", ls="--", lw=1,
                       label="target at 50k: <= 1.3 x empty")
    restart_ax.set(ylabel="seconds from launch", title="Restart (median, min-max)")
    rss_ax.set(ylabel="MiB", title="Resident memory (median, min-max)")
    rebuild_ax.set(ylabel="log events / wall second", title="Read-model rebuild (median, min-max)")
    for ax in (restart_ax, rss_ax, rebuild_ax):
        ax.set_xscale("symlog", linthresh=10_000, linscale=0.6)
        ax.set_xlim(-2_000, max(orders) * 1.4)
        ax.set_xticks(orders, [f"{n:,}" for n in orders])
        ax.set_xlabel("served orders in the data directory")
        ax.set_ylim(0, ax.get_ylim()[1] * 1.15)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--runs", type=int, default=3, help="restarts per size above 10,000")
    parser.add_argument("--small-runs", type=int, default=5, help="restarts up to 10,000")
    parser.add_argument("--rebuild-runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--commit", help="measure this commit's src/ (a clean export) instead "
                        "of the working tree")
    parser.add_argument("--replot", action="store_true",
                        help="only redraw history.png from the history.json in --out")
    args = parser.parse_args()
    if args.replot:
        plot(json.loads((args.out / "history.json").read_text())["sizes"],
             args.out / "history.png")
        return
    if args.commit:
        use_commit(args.commit, CACHE)
    info = machine()
    print_machine(info)
    scratch = Path(tempfile.mkdtemp(prefix="mcburger-history-"))
    try:
        sizes = [measure_size(n, args.small_runs if n <= 10_000 else args.runs,
                              args.rebuild_runs, scratch) for n in args.sizes]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(table(sizes))
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"command": command_line(), "machine": info, "sizes": sizes,
              "caches": cache_notes(args.sizes)}
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(f"load average at end: {info['load_average_at_end']}")
    write_json(args.out / "history.json", report)
    plot(sizes, args.out / "history.png")
    print(f"wrote {args.out / 'history.json'} and {args.out / 'history.png'}")


def cache_notes(sizes: Sequence[int]) -> dict[str, Any]:
    """How each cached directory was built (commit, seconds), where known."""
    notes = {}
    for orders in sizes:
        meta = CACHE / f"history-{orders}.json"
        if orders and meta.exists():
            notes[str(orders)] = json.loads(meta.read_text())
    return notes


if __name__ == "__main__":
    main()
