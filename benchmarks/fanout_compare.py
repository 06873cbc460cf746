"""Plot several fanout.py result files side by side: one bar group per measured set.

.venv/bin/python benchmarks/fanout_compare.py --out docs/benchmarks/fanout-board-feeds.png \
    --title "10,000 WebSocket clients, an order every 0.5 s or 0.25 s" \
    'docs/benchmarks/fanout-ws-10k-one-process.json:ws=one process, 0.5 s' \
    'docs/benchmarks/fanout-ws-10k-board-feeds-1.json:ws=1 board-feeds, 0.5 s' \
    'docs/benchmarks/fanout-ws-10k-board-feeds-2.json:ws=2 board-feeds, 0.5 s' \
    'docs/benchmarks/fanout-ws-10k-board-feeds-2.json:centrifugo=Centrifugo, 0.5 s' \
    'docs/benchmarks/fanout-ws-10k-one-process-interval-0.25s.json:ws=one process, 0.25 s' \
    'docs/benchmarks/fanout-ws-10k-board-feeds-2-interval-0.25s.json:ws=2 board-feeds, 0.25 s' \
    'docs/benchmarks/fanout-ws-10k-board-feeds-2-interval-0.25s.json:centrifugo=Centrifugo, 0.25 s'

Each argument is FILE:VARIANT=LABEL (VARIANT: a `variant` of the file's results, as fanout.py
names them: ws, ws+slow, sse, poll, centrifugo, centrifugo+slow; the file's first client count
is taken). Drawn for each set: the median of its runs with a min-max bar, for the delivery
latency p50 and p99 (ms), the messages delivered a second, and an order's POST (ms: on our server
the time to place the order; on Centrifugo's, to publish). Measures nothing itself.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from _server import spread

PANELS = (  # (title, unit, key path in a run)
    ("Delivery latency p50", "ms", ("latency_ms", "p50")),
    ("Delivery latency p99", "ms", ("latency_ms", "p99")),
    ("Messages delivered per second", "messages/s", ("messages_per_s",)),
    ("POST /orders (peer: publish)", "ms", ("post_ms", "median")),
)


def runs_of(spec: str) -> tuple[str, list[dict[str, Any]]]:
    """The label and the runs that FILE:VARIANT=LABEL names; ValueError when it names none."""
    where, _, label = spec.partition("=")
    path, _, variant = where.rpartition(":")
    if not (path and variant and label):
        raise ValueError(f"expected FILE:VARIANT=LABEL, got {spec!r}")
    results = json.loads(Path(path).read_text())["results"]
    for result in results:
        if result["variant"] == variant:
            return label, result["runs"]
    raise ValueError(f"{path} has no variant {variant!r}: {[r['variant'] for r in results]}")


def value(run: dict[str, Any], keys: tuple[str, ...]) -> float:
    found: Any = run
    for key in keys:
        found = found[key]
    return float(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sets", nargs="+", help="FILE:VARIANT=LABEL")
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    parser.add_argument("--title", default="", help="what the sets have in common")
    args = parser.parse_args()
    sets = [runs_of(spec) for spec in args.sets]

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PANELS), figsize=(4.2 * len(PANELS), 4.2))
    labels = [label for label, _ in sets]
    for axis, (title, unit, keys) in zip(axes, PANELS, strict=True):
        figures = [spread([value(run, keys) for run in runs]) for _, runs in sets]
        medians = [f["median"] for f in figures]
        lows = [f["median"] - f["min"] for f in figures]
        highs = [f["max"] - f["median"] for f in figures]
        axis.bar(range(len(sets)), medians, yerr=[lows, highs], capsize=4,
                 color=[f"C{index}" for index in range(len(sets))])
        axis.set_xticks(range(len(sets)), labels, rotation=20, ha="right", fontsize=8)
        axis.set_title(title, fontsize=10)
        axis.set_ylabel(unit)
        axis.grid(axis="y", alpha=0.3)
    fig.suptitle(f"{args.title}{': ' if args.title else ''}median of runs, min-max bars",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
