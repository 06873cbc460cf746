"""Benchmark: what placing an order costs against the kitchen's backlog (issue 10, item 6).

    .venv/bin/python benchmarks/backlog.py

Each run starts `mcburger run --speed 1 --workers 3` on a brand-new data directory (at speed 1
nothing finishes for minutes, so the queue only grows), then places orders one after another
(2 hamburgers, 1 cola, 1 fries: 4 units) until about 5,000 units are queued. GET /kitchen counts
the queue every few orders; the queue at each POST is interpolated between those counts. Reports
the p50 latency of POST /orders per 500 queued units, the median over the runs with min and max,
and p50 at 4,500-5,000 over p50 at 0-500 (the issue's target: <= 1.5). Writes
docs/benchmarks/backlog.json and backlog.png. This script is the load generator, in its own
process; it only talks to its own server on 127.0.0.1. `--commit REV` measures a clean export
of that commit's src/ instead of the working tree (uncommitted edits included).
"""

from __future__ import annotations

import argparse
import bisect
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _server import (
    ROOT,
    Server,
    command_line,
    lag_is_zero,
    machine,
    print_machine,
    spread,
    use_commit,
    write_json,
)

OUT = ROOT / "docs" / "benchmarks"
ORDER: dict[str, list[dict[str, Any]]] = {"items": [
    {"item": "hamburger", "quantity": 2}, {"item": "cola", "quantity": 1},
    {"item": "fries", "quantity": 1}]}
BIN_UNITS = 500
TARGET_UNITS = 5_000
COUNT_EVERY = 25  # orders between two counts of the queue (~100 units)
MAX_ORDERS = 3_000  # a bound in case the queue stops growing
START_TIMEOUT = 120.0


def check_menu(client: httpx.Client) -> None:
    ids = {item["id"] for item in client.get("/menu").json()["items"]}
    missing = {line["item"] for line in ORDER["items"]} - ids
    if missing:
        raise SystemExit(f"not on the menu: {sorted(missing)}")


def queued_units(client: httpx.Client) -> int:
    return len(client.get("/kitchen").json()["queue"])


def place_until_backlog(client: httpx.Client) -> tuple[list[float], list[tuple[int, int]]]:
    """Latencies (s) of each POST, and (orders placed, units queued) counts along the way."""
    latencies: list[float] = []
    counts = [(0, queued_units(client))]
    while counts[-1][1] < TARGET_UNITS + BIN_UNITS // 5 and len(latencies) < MAX_ORDERS:
        began = time.perf_counter()
        response = client.post("/orders", json=ORDER)
        latencies.append(time.perf_counter() - began)
        response.raise_for_status()
        if len(latencies) % COUNT_EVERY == 0:
            counts.append((len(latencies), queued_units(client)))
    return latencies, counts


def queue_at(counts: list[tuple[int, int]], placed: int) -> float:
    """Units queued when `placed` orders had been answered, interpolated between counts."""
    xs = [orders for orders, _ in counts]
    right = min(max(bisect.bisect_left(xs, placed), 1), len(counts) - 1)
    (x0, y0), (x1, y1) = counts[right - 1], counts[right]
    return y0 + (y1 - y0) * (placed - x0) / (x1 - x0)


def p50_per_bin(latencies: list[float], counts: list[tuple[int, int]]) -> list[float | None]:
    """p50 latency (ms) of the POSTs made with 0-500, 500-1000, ... units queued."""
    bins: list[list[float]] = [[] for _ in range(TARGET_UNITS // BIN_UNITS)]
    for placed, latency in enumerate(latencies):
        index = int(queue_at(counts, placed) // BIN_UNITS)
        if 0 <= index < len(bins):
            bins[index].append(latency * 1000)
    return [statistics.median(b) if b else None for b in bins]


def one_run(scratch: Path, workers: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(dir=scratch) as work:
        data = Path(work) / "data"
        server = Server.start(data, Path(work) / "server.log", "--speed", "1",
                              "--workers", str(workers))
        try:
            with server.client() as client:
                server.wait_for(client, lag_is_zero(), START_TIMEOUT)
                check_menu(client)
                began = time.monotonic()
                latencies, counts = place_until_backlog(client)
                seconds = time.monotonic() - began
                rss = server.rss_mib()
        finally:
            server.stop()
        problems = [line for line in server.log_path.read_text(errors="replace").splitlines()
                    if "ERROR" in line or "Traceback" in line][:20]
    return {"orders": len(latencies), "seconds": seconds, "queue_counts": counts,
            "p50_ms": p50_per_bin(latencies, counts), "rss_mib_at_end": rss,
            "latencies_ms": [round(x * 1000, 2) for x in latencies], "log_problems": problems}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    bins = []
    for index in range(TARGET_UNITS // BIN_UNITS):
        values = [run["p50_ms"][index] for run in runs if run["p50_ms"][index] is not None]
        bins.append({"units": [index * BIN_UNITS, (index + 1) * BIN_UNITS],
                     "p50_ms": spread(values) if values else None, "runs": len(values)})
    ratios = [run["p50_ms"][-1] / run["p50_ms"][0] for run in runs
              if run["p50_ms"][0] and run["p50_ms"][-1]]
    return {"bins": bins, "ratio_last_over_first": spread(ratios) if ratios else None}


def table(summary: dict[str, Any]) -> str:
    rows = ["| units queued | p50 of POST /orders, ms: median (min-max) over runs |",
            "| --- | --- |"]
    for b in summary["bins"]:
        p50 = b["p50_ms"]
        figure = f"{p50['median']:.1f} ({p50['min']:.1f}-{p50['max']:.1f})" if p50 else "—"
        rows.append(f"| {b['units'][0]:,}-{b['units'][1]:,} | {figure} |")
    ratio = summary["ratio_last_over_first"]
    if ratio:
        rows.append(f"| **4,500-5,000 over 0-500** | **{ratio['median']:.2f}** "
                    f"({ratio['min']:.2f}-{ratio['max']:.2f}); target <= 1.5 |")
    return "\n".join(rows)


def plot(summary: dict[str, Any], runs: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.2))
    for number, run in enumerate(runs, 1):
        xs = [queue_at(run["queue_counts"], i) for i in range(run["orders"])]
        ax.scatter(xs, run["latencies_ms"], s=2, alpha=0.15, label=f"each POST, run {number}")
    shown = [b for b in summary["bins"] if b["p50_ms"]]
    centres = [(b["units"][0] + b["units"][1]) / 2 for b in shown]
    medians = [b["p50_ms"]["median"] for b in shown]
    spreads = [[m - b["p50_ms"]["min"] for m, b in zip(medians, shown, strict=True)],
               [b["p50_ms"]["max"] - m for m, b in zip(medians, shown, strict=True)]]
    ax.errorbar(centres, medians, yerr=spreads, color="black", marker="o", capsize=4,
                label="p50 per 500 units (median, min-max over runs)")
    if shown:
        ax.axhline(1.5 * medians[0], color="grey", ls="--", lw=1,
                   label="target: 1.5 x p50 at 0-500")
    ax.set(xlabel="units queued in the kitchen", ylabel="POST /orders latency, ms",
           title="Order placement against the kitchen's backlog (--speed 1, 3 workers)")
    ax.set_ylim(0, max([*medians, 1.0]) * 3)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--commit", help="measure this commit's src/ (a clean export) instead "
                        "of the working tree")
    args = parser.parse_args()
    if args.commit:
        use_commit(args.commit, ROOT / ".cache" / "benchmarks")
    info = machine()
    print_machine(info)
    scratch = Path(tempfile.mkdtemp(prefix="mcburger-backlog-"))
    runs = []
    try:
        for number in range(1, args.runs + 1):
            runs.append(one_run(scratch, args.workers))
            print(f"  run {number}/{args.runs}: {runs[-1]['orders']} orders in "
                  f"{runs[-1]['seconds']:.0f} s, {runs[-1]['queue_counts'][-1][1]} units "
                  f"queued, RSS {runs[-1]['rss_mib_at_end']:.0f} MiB"
                  + (f", {len(runs[-1]['log_problems'])} log problem lines"
                     if runs[-1]["log_problems"] else ""), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    summary = summarise(runs)
    print(table(summary))
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"command": command_line(), "machine": info, "order": ORDER, **summary,
              "runs": runs}
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(f"load average at end: {info['load_average_at_end']}")
    write_json(args.out / "backlog.json", report)
    plot(summary, runs, args.out / "backlog.png")
    print(f"wrote {args.out / 'backlog.json'} and {args.out / 'backlog.png'}")


if __name__ == "__main__":
    main()
