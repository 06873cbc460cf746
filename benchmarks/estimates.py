"""Estimate accuracy in both kitchen modes, against the issue 14 targets and against the best
any estimator could do.

    .venv/bin/python benchmarks/estimates.py                       # about 15 seconds
    .venv/bin/python benchmarks/estimates.py --oracle 20           # + the bound, ~10 minutes

For FF.1 off and on, 2, 3 and 4 workers, seeds 1-5: a day of ``--orders`` Poisson arrivals at
the rate that keeps those workers 80 % busy (the default mix), run by the day simulator
(``mcburger simulate``: the real rules on a virtual clock, estimates taken exactly as the live
analytics consumer takes them). Per cell, the median (min-max) over the seeds of:

- MAE at placement as a share of the mean wait, and how far below the naive baseline's MAE;
- the range's coverage: the share of orders that waited for the kitchen whose wait fell
  within the 10th-90th percentile range given at placement, and the range's mean width;
- the MAE of the latest estimate 5, 2 and 1 minute before READY.

``--oracle K`` adds, for every ``--oracle-every``-th order (after 50), the best estimate at
placement possible from what can be known then: the median of K futures simulated from the
exact state with the real rules, the true arrival process and mix, and preparation times
drawn afresh (those under way too, given the time they have run: the simulated kitchen holds
their drawn durations, a real one does not); the median minimises the expected absolute
error. Its MAE, against ours on the same orders, is about the least any estimator could reach
(20 futures make its median a little noisy, so a little above the true least). Scaled to every
order (an order served from stock at once is exact for any estimator) it gives the least MAE
share of the mean wait.

Writes docs/benchmarks/estimates.json and estimates.png. CPU only, virtual time: the figures
do not depend on the machine's speed, only the wall time does.
"""

from __future__ import annotations

import argparse
import copy
import random
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import timedelta
from typing import Any

from _server import ROOT, command_line, machine, print_machine, spread, write_json

from mcburger.application.simulator import simulate_day
from mcburger.application.simulator.figures import day_figures
from mcburger.application.simulator.mix import MenuMix, poisson_arrivals
from mcburger.application.simulator.simulation import SIMULATION_START, Simulation
from mcburger.config import Settings
from mcburger.domain.events import OrderReady
from mcburger.domain.kitchen import KitchenSetup
from mcburger.domain.ordering import OrderStatus

OUT = ROOT / "docs" / "benchmarks" / "estimates.json"
PLOT = ROOT / "docs" / "benchmarks" / "estimates.png"
WARM_UP = 50  # orders before the oracle starts: the live estimator has learned little yet


def one_day(job: tuple[int, bool, int, int, int, int]) -> dict[str, Any]:
    """One cell's day: our figures, and the oracle's on the sampled orders when asked."""
    workers, favorites_first, seed, orders, oracle, every = job
    menu = Settings().load_menu()
    mix = MenuMix.default(menu)
    rate = mix.arrival_rate(menu, workers)
    arrivals = poisson_arrivals(orders, rate, mix, random.Random(seed))
    setup = KitchenSetup(workers=workers, favorites_first=favorites_first)
    began = time.perf_counter()
    result = simulate_day(menu, arrivals, setup, seed)
    figures = day_figures(result)
    estimate = figures["estimate"]
    row: dict[str, Any] = {
        "workers": workers, "favorites_first": favorites_first, "seed": seed,
        "arrival_rate_per_hour": rate, "utilisation": figures["utilisation"],
        "mean_wait_seconds": figures["wait"]["mean_seconds"],
        "mae_share_of_mean_wait": estimate["mae_share_of_mean_wait"],
        "below_naive": estimate["below_naive"],
        "coverage": estimate["range"]["coverage"],
        "range_width_seconds": estimate["range"]["mean_width_seconds"],
        "before_ready_mae_seconds": {str(r["seconds_before"]): r["mae_seconds"]
                                     for r in estimate["before_ready"]},
        "simulation_wall_seconds": time.perf_counter() - began}
    if oracle:
        row["oracle"] = oracle_figures(menu, mix, rate, arrivals, setup, seed, result, oracle,
                                       every)
    return row


def oracle_figures(menu: Any, mix: MenuMix, rate: float, arrivals: Any, setup: KitchenSetup,
                   seed: int, result: Any, samples: int, every: int) -> dict[str, Any]:
    """The conditional median of each sampled order's wait, by simulating ``samples`` futures
    from the exact state at its placement; MAE against ours on the same orders."""
    began = time.perf_counter()
    sim = Simulation(menu, setup, seed)
    rng = random.Random(seed * 7919)
    medians: dict[int, float] = {}
    for index, arrival in enumerate(arrivals):
        sim.advance_to(SIMULATION_START + timedelta(seconds=arrival.at_seconds))
        number = sim.place(arrival.lines)
        sim.deliver()
        if (index < WARM_UP or index % every
                or sim.ordering.orders[number].status is OrderStatus.READY):
            continue
        log, sim.log = sim.log, []  # not copied into each future
        futures = [_future_wait(copy.deepcopy(sim), number, rate, mix, rng)
                   for _ in range(samples)]
        sim.log = log
        medians[number] = statistics.median(futures)
    orders = {o.number: o for o in result.orders}
    sampled = [orders[n] for n in medians]
    oracle_mae = statistics.mean(abs(o.wait - medians[o.number]) for o in sampled)
    our_mae = statistics.mean(abs(o.error) for o in sampled)
    kitchen_share = sum(o.from_stock < o.units for o in result.orders) / len(result.orders)
    mean_wait = statistics.mean(o.wait for o in result.orders)
    return {"orders": len(sampled), "samples": samples, "oracle_mae_seconds": oracle_mae,
            "our_mae_seconds": our_mae,
            "oracle_mae_share_of_mean_wait": oracle_mae * kitchen_share / mean_wait,
            "wall_seconds": time.perf_counter() - began}


def _future_wait(future: Simulation, number: int, rate: float, mix: MenuMix,
                 rng: random.Random) -> float:
    """Run one possible future (new arrivals, new preparation times) until ``number`` is READY;
    its wait from now, in seconds."""
    start = future.now
    future.kitchen.seed = rng.getrandbits(32)  # preparation times drawn afresh
    # The simulated kitchen holds the drawn duration of each unit under way (in its event),
    # which no one in a real kitchen knows: draw it afresh too, given the time already spent.
    for worker, prep in list(future.kitchen.working.items()):
        item = future.kitchen.menu[prep.item]
        spent = (start - prep.started_at).total_seconds()
        low = max(item.prep_seconds - item.variance_seconds, spent)
        future.kitchen.working[worker] = replace(prep, duration_seconds=rng.uniform(
            low, max(low, item.prep_seconds + item.variance_seconds)))
    at = 0.0
    while True:
        at += rng.expovariate(rate / 3600.0)
        future.advance_to(start + timedelta(seconds=at))
        for event in future.log:
            if isinstance(event, OrderReady) and event.number == number:
                return (event.occurred_at - start).total_seconds()
        future.log = []
        future.place(mix.order(rng))


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cells = []
    for favorites_first in (False, True):
        for workers in sorted({r["workers"] for r in rows}):
            runs = [r for r in rows
                    if r["workers"] == workers and r["favorites_first"] == favorites_first]
            if not runs:
                continue
            cell: dict[str, Any] = {"workers": workers, "favorites_first": favorites_first,
                                    "seeds": [r["seed"] for r in runs]}
            for key in ("utilisation", "mean_wait_seconds", "mae_share_of_mean_wait",
                        "below_naive", "coverage", "range_width_seconds"):
                cell[key] = spread([r[key] for r in runs])
            cell["before_ready_mae_seconds"] = {
                before: spread([r["before_ready_mae_seconds"][before] for r in runs])
                for before in runs[0]["before_ready_mae_seconds"]}
            if all("oracle" in r for r in runs):
                cell["oracle_mae_share_of_mean_wait"] = spread(
                    [r["oracle"]["oracle_mae_share_of_mean_wait"] for r in runs])
                cell["oracle_over_ours_same_orders"] = spread(
                    [r["oracle"]["oracle_mae_seconds"] / r["oracle"]["our_mae_seconds"]
                     for r in runs])
            cell["targets"] = {
                "mae_within_15pct": cell["mae_share_of_mean_wait"]["max"] <= 0.15,
                "40pct_below_naive": cell["below_naive"]["min"] >= 0.40,
                "coverage_75_to_85pct": cell["coverage"]["min"] >= 0.75
                and cell["coverage"]["max"] <= 0.85}
            cells.append(cell)
    return cells


def _pct(figure: dict[str, float]) -> str:
    return f"{figure['median']:.1%} ({figure['min']:.1%}-{figure['max']:.1%})"


def _seconds(figure: dict[str, float]) -> str:
    return f"{figure['median']:.0f} ({figure['min']:.0f}-{figure['max']:.0f})"


def print_table(cells: list[dict[str, Any]]) -> None:
    oracle = any("oracle_mae_share_of_mean_wait" in c for c in cells)
    head = ["FF.1", "workers", "utilisation", "MAE / mean wait", "below naive",
            "coverage", "width, s", "5/2/1 min before, s"]
    if oracle:
        head.append("best possible MAE / mean wait")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for c in cells:
        before = c["before_ready_mae_seconds"]
        row = ["on" if c["favorites_first"] else "off", str(c["workers"]),
               f"{c['utilisation']['median']:.1%}", _pct(c["mae_share_of_mean_wait"]),
               _pct(c["below_naive"]), _pct(c["coverage"]), _seconds(c["range_width_seconds"]),
               " / ".join(f"{before[s]['median']:.0f}" for s in ("300", "120", "60"))]
        if oracle:
            row.append(_pct(c["oracle_mae_share_of_mean_wait"])
                       if "oracle_mae_share_of_mean_wait" in c else "-")
        print("| " + " | ".join(row) + " |")


def plot(cells: list[dict[str, Any]]) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4), layout="constrained")
    share, coverage, before = figure.subplots(1, 3)
    for favorites_first, colour in ((False, "#1f5fa8"), (True, "#c8102e")):
        mode = [c for c in cells if c["favorites_first"] == favorites_first]
        xs = [c["workers"] for c in mode]
        label = f"FF.1 {'on' if favorites_first else 'off'}"
        for axis, key in ((share, "mae_share_of_mean_wait"), (coverage, "coverage")):
            meds = [c[key]["median"] for c in mode]
            pairs = list(zip(meds, mode, strict=True))
            axis.errorbar(xs, meds, yerr=[[m - c[key]["min"] for m, c in pairs],
                                          [c[key]["max"] - m for m, c in pairs]],
                          marker="o", capsize=4, color=colour, label=label)
        if all("oracle_mae_share_of_mean_wait" in c for c in mode):
            share.plot(xs, [c["oracle_mae_share_of_mean_wait"]["median"] for c in mode],
                       linestyle="--", marker="x", color=colour, label=f"{label}: best possible")
        for before_s, style in (("300", "-"), ("120", "--"), ("60", ":")):
            before.plot(xs, [c["before_ready_mae_seconds"][before_s]["median"] for c in mode],
                        linestyle=style, marker="o", color=colour,
                        label=f"{label}, {int(before_s) // 60} min before")
    share.axhline(0.15, color="#333333", linewidth=0.8, label="target 15 %")
    share.set(xlabel="workers (80 % busy)", ylabel="MAE at placement / mean wait",
              title="Error at placement")
    coverage.axhspan(0.75, 0.85, color="#dddddd", label="target 75-85 %")
    coverage.set(xlabel="workers (80 % busy)", ylabel="share within the 10th-90th range",
                 title="Range coverage", ylim=(0.5, 1.0))
    before.set(xlabel="workers (80 % busy)", ylabel="MAE of the latest estimate, s",
               title="As the order waits")
    for axis in (share, coverage, before):
        axis.set_xticks(sorted({c["workers"] for c in cells}))
        axis.legend(fontsize=7)
    FigureCanvasAgg(figure).print_png(str(PLOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--oracle", type=int, default=0, metavar="K",
                        help="futures per sampled order for the best-possible bound (0: none)")
    parser.add_argument("--oracle-every", type=int, default=8,
                        help="sample every N-th order for the bound")
    parser.add_argument("--jobs", type=int, default=2, help="processes (the machine's cores)")
    args = parser.parse_args()
    info = machine()
    print_machine(info)
    jobs = [(workers, favorites_first, seed, args.orders, args.oracle, args.oracle_every)
            for favorites_first in (False, True) for workers in args.workers
            for seed in args.seeds]
    began = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(one_day, jobs))
    cells = summarise(rows)
    print_table(cells)
    write_json(OUT, {"command": command_line(), "machine": info,
                     "parameters": vars(args), "cells": cells, "runs": rows,
                     "wall_seconds": time.perf_counter() - began})
    plot(cells)
    print(f"wrote {OUT.relative_to(ROOT)} and {PLOT.relative_to(ROOT)} "
          f"in {time.perf_counter() - began:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
