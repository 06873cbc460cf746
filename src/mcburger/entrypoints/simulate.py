"""``mcburger simulate``: a restaurant day on a virtual clock, with a table, report.json and
PNG plots (waits.png, queue.png, estimate_error.png) in ``--out``; or, with ``--into``, the day
written into an empty data directory for ``mcburger run`` (``simulate_into``).

The simulator itself is ``mcburger.application.simulator``; this module turns options into its
inputs and its results into output (one command's options, table, report and plots: over 300
lines, kept together as the command's one page). Plots use matplotlib's Agg canvas: no display
needed.
"""

from __future__ import annotations

import json
import math
import random
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

import mcburger.application.simulator.bounds as simulator_bounds
import mcburger.application.simulator.estimates as simulator_estimates
import mcburger.application.simulator.figures as simulator_figures
from mcburger.adapters.datadir import DataDirectoryInUse
from mcburger.application.simulator import (
    DayResult,
    comparison_setups,
    simulate_day,
)
from mcburger.application.simulator.mix import (
    DEFAULT_UTILISATION,
    Arrival,
    InvalidMix,
    MenuMix,
    poisson_arrivals,
)
from mcburger.config import Settings
from mcburger.domain.errors import InvalidMenu
from mcburger.domain.estimates import BEFORE_READY
from mcburger.domain.kitchen import KitchenSetup
from mcburger.domain.menu import Menu
from mcburger.entrypoints import simulate_into

MAX_REPORTED_ORDERS = 100_000  # a report holds every order and event in memory; --into does not


def simulate(
    orders: Annotated[int, typer.Option(
        min=1, max=1_000_000,
        help=f"Orders in the day (at most {MAX_REPORTED_ORDERS:,} without --into)")] = 1000,
    arrival_rate: Annotated[float | None, typer.Option(
        min=0.001, help="Poisson arrivals, orders per HOUR [default: the rate that keeps "
                        f"--workers {DEFAULT_UTILISATION:.0%} busy with the mix]")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Kitchen workers")] = 3,
    seed: Annotated[int, typer.Option(
        help="Seed of the arrivals, the mix and the preparation times")] = 1,
    favorites_first: Annotated[bool, typer.Option(
        "--favorites-first/--no-favorites-first",
        help="FF.1: idle workers refill favourites before order units")] = False,
    menu: Annotated[Path | None, typer.Option(help="Menu TOML file [built-in menu]")] = None,
    mix: Annotated[Path | None, typer.Option(
        help="Mix TOML: [items] item = weight; optional [lines] and [quantities] "
             "count = weight [burgers, fries and cola popular; 1-3 items, 1-3 of each]")
    ] = None,
    stock_target: Annotated[int, typer.Option(
        min=0, max=100, help="Pre-made units kept of each favourite")] = 3,
    out: Annotated[Path | None, typer.Option(
        help="Where report.json and the plots go [simulation]")] = None,
    compare: Annotated[bool, typer.Option(
        "--compare", help="Also run FF.1 off/on x workers N-1, N, N+1 on the same arrivals "
                          "and print them in one table (comparison.json)")] = False,
    into: Annotated[Path | None, typer.Option(
        help="Instead of a report, write the day (every order collected once READY) into "
             "this new or empty data directory, for mcburger run --data-dir")] = None,
) -> None:
    """Simulate a restaurant day (no sleeping): waits, utilisation, stock, estimate accuracy."""
    _check_into(into, out, compare, orders)
    settings = _settings(menu)
    the_menu = _menu(settings)
    the_mix = _mix(mix, the_menu)
    rate = (arrival_rate if arrival_rate is not None
            else the_mix.arrival_rate(the_menu, workers))
    arrivals = poisson_arrivals(orders, rate, the_mix, random.Random(seed))
    setup = KitchenSetup(workers=workers, favorites_first=favorites_first,
                         stock_target=stock_target)
    setups = comparison_setups(setup) if compare else [setup]
    console = Console()
    if not console.is_terminal:  # a log or a pipe: room for the comparison's columns
        console = Console(width=max(console.width, 120))
    console.print(f"{orders} orders, Poisson arrivals at {rate:.2f} orders/hour "
                  f"({the_mix.expected_work_seconds(the_menu):.0f} s of kitchen work per order "
                  f"on average), seed {seed}")
    if into is not None:
        _write_into(console, into, settings, arrivals, setup, seed)
        return
    out = out or Path("simulation")
    results = _run(console, the_menu, arrivals, setups, seed)
    main = results[setups.index(setup)]
    console.print(figures_table(results))
    console.print(("" if len(results) == 1 else f"{_label(setup)}: ")
                  + _targets_line(simulator_figures.day_figures(main)))
    out.mkdir(parents=True, exist_ok=True)
    parameters = {"orders": orders, "arrival_rate_per_hour": rate,
                  "arrival_rate_given": arrival_rate is not None, "seed": seed,
                  "menu": str(menu) if menu else None, "mix_file": str(mix) if mix else None,
                  "mix": {"items": dict(the_mix.items), "lines": dict(the_mix.lines),
                          "quantities": dict(the_mix.quantities)},
                  "expected_work_seconds_per_order": the_mix.expected_work_seconds(the_menu)}
    _write_json(out / "report.json", report(main, parameters))
    if compare:
        _write_json(out / "comparison.json", {
            "parameters": parameters,
            "runs": [simulator_figures.day_figures(result) for result in results]})
    plot_day(main, out)
    console.print(f"Wrote {out / 'report.json'}"
                  + (f", {out / 'comparison.json'}" if compare else "")
                  + ", waits.png, queue.png, estimate_error.png")


def _check_into(into: Path | None, out: Path | None, compare: bool, orders: int) -> None:
    if into is None:
        if orders > MAX_REPORTED_ORDERS:
            raise typer.BadParameter(f"at most {MAX_REPORTED_ORDERS:,} orders for a report "
                                     "(--into takes more)", param_hint="--orders")
        return
    if compare or out is not None:
        raise typer.BadParameter("--into writes a data directory, not a report: "
                                 "leave out --compare and --out", param_hint="--into")
    try:
        simulate_into.refuse_unless_empty(into)
    except simulate_into.NotEmpty as error:
        raise typer.BadParameter(f"{error}: give a new or empty directory "
                                 "(the day becomes its whole history)",
                                 param_hint="--into") from error


def _settings(menu: Path | None) -> Settings:
    """The settings ``mcburger run`` would read (MCBURGER_*), with ``--menu`` if given."""
    try:
        return Settings(menu=menu) if menu is not None else Settings()  # else MCBURGER_MENU
    except ValidationError as error:
        raise typer.BadParameter(str(error)) from error


def _menu(settings: Settings) -> Menu:
    try:
        return settings.load_menu()
    except (InvalidMenu, OSError, tomllib.TOMLDecodeError) as error:
        raise typer.BadParameter(f"menu: {error}", param_hint="--menu") from error


def _write_into(console: Console, into: Path, settings: Settings, arrivals: Sequence[Arrival],
                setup: KitchenSetup, seed: int) -> None:
    steps = {"simulate": "Simulating the day", "write": f"Writing {into / 'events.db'}",
             "project": "Building the read models"}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        tasks: dict[str, TaskID] = {}

        def advance(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = progress.add_task(steps[step], total=total)
            progress.update(tasks[step], completed=done, total=total)

        try:
            written = simulate_into.write_day(into, settings, arrivals, setup, seed, advance)
        except DataDirectoryInUse as error:
            typer.echo(f"mcburger: {error}; stop it or choose another --into", err=True)
            raise typer.Exit(1) from None
        except simulate_into.NotEmpty as error:
            raise typer.BadParameter(f"{error}: give a new or empty directory",
                                     param_hint="--into") from error
    console.print(f"Wrote {written.orders:,} orders, every one collected, as {written.events:,} "
                  f"events from {written.start:%Y-%m-%d %H:%M} to {written.end:%Y-%m-%d %H:%M} "
                  f"UTC into {into}. Open it with the kitchen it was simulated with: "
                  f"mcburger run --data-dir {into} --workers {setup.workers}"
                  + (" --favorites-first" if setup.favorites_first else "")
                  + (f" --stock-target {setup.stock_target}" if setup.stock_target != 3 else ""))


def _mix(path: Path | None, menu: Menu) -> MenuMix:
    if path is None:
        return MenuMix.default(menu)
    try:
        return MenuMix.parse(tomllib.loads(path.read_text("utf-8")), menu)
    except (InvalidMix, OSError, tomllib.TOMLDecodeError) as error:
        raise typer.BadParameter(f"mix: {error}", param_hint="--mix") from error


def _label(setup: KitchenSetup, sep: str = ", ") -> str:
    return f"{setup.workers} workers{sep}FF.1 {'on' if setup.favorites_first else 'off'}"


def _run(console: Console, menu: Menu, arrivals: Sequence[Arrival], setups: Sequence[KitchenSetup],
         seed: int) -> list[DayResult]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    results = []
    with Progress(*columns, console=console, transient=False) as progress:
        for setup in setups:
            task = progress.add_task(_label(setup), total=len(arrivals))

            def advance(done: int, _total: int, task: TaskID = task) -> None:
                progress.update(task, completed=done)

            results.append(simulate_day(menu, arrivals, setup, seed, advance))
    return results


def _duration(seconds: float) -> str:
    if math.isnan(seconds):
        return "-"
    if seconds < 600:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 3 * 3600 else f"{seconds / 3600:.1f} h"


def _percent(share: float) -> str:
    return "-" if math.isnan(share) else f"{share:.1%}"


def figures_table(results: Sequence[DayResult]) -> Table:
    """One column per run, one row per figure."""
    table = Table(title="Simulated day" if len(results) == 1 else "Comparison (same arrivals)",
                  box=box.SIMPLE_HEAD)
    table.add_column("Figure", no_wrap=True)
    figures = [simulator_figures.day_figures(result) for result in results]
    for result in results:
        table.add_column(_label(result.setup, "\n"), justify="right", no_wrap=True)
    rows: list[tuple[str, Any]] = [
        ("Orders", lambda f: str(f["orders"])),
        ("Mean wait", lambda f: _duration(f["wait"]["mean_seconds"])),
        ("p50 wait", lambda f: _duration(f["wait"]["p50_seconds"])),
        ("p90 wait", lambda f: _duration(f["wait"]["p90_seconds"])),
        ("Max wait", lambda f: _duration(f["wait"]["max_seconds"])),
        ("Throughput (orders/h)", lambda f: f"{f['throughput_per_hour']:.1f}"),
        ("Worker utilisation", lambda f: _percent(f["utilisation"])),
        ("Stock hit rate", lambda f: _percent(f["stock_hit_rate"])),
        ("Estimate MAE", lambda f: _duration(f["estimate"]["mae_seconds"])),
        ("  as share of mean wait",
         lambda f: _percent(f["estimate"]["mae_share_of_mean_wait"])),
        ("Estimate p90 abs error", lambda f: _duration(f["estimate"]["p90_abs_error_seconds"])),
        ("Naive MAE", lambda f: _duration(f["estimate"]["naive_mae_seconds"])),
        ("Naive p90 abs error",
         lambda f: _duration(f["estimate"]["naive_p90_abs_error_seconds"])),
        ("Our MAE below naive", lambda f: _percent(f["estimate"]["below_naive"])),
        # with their counts: each is over other orders than the MAE at placement
        ("Range (p10-p90) coverage", lambda f: _percent(f["estimate"]["range"]["coverage"])),
        ("  of orders that waited", lambda f: str(f["estimate"]["range"]["orders"])),
        ("  mean range width", lambda f: _duration(f["estimate"]["range"]["mean_width_seconds"])),
        *((f"MAE {before // 60} min before ready",
           lambda f, i=index: _duration(f["estimate"]["before_ready"][i]["mae_seconds"]))
          for index, before in enumerate(BEFORE_READY)),
        ("  orders placed by then: "
         + "/".join(str(before // 60) for before in BEFORE_READY) + " min",
         lambda f: "/".join(str(row["orders"]) for row in f["estimate"]["before_ready"])),
        ("Mean wait lower bound", lambda f: _duration(f["lower_bound"]["mean_seconds"])),
        ("Mean wait / bound", lambda f: f"{f['lower_bound']['mean_wait_ratio']:.2f}"),
        ("Simulated time", lambda f: f"{f['simulated_hours']:.1f} h"),
        ("Wall time", lambda f: f"{f['wall_seconds']:.2f} s"),
    ]
    for name, cell in rows:
        table.add_row(name, *(cell(f) for f in figures))
    return table


def _targets_line(figures: dict[str, Any]) -> str:
    estimate, met = figures["estimate"], figures["targets"]
    return ("Estimate targets: MAE <= 15% of mean wait: "
            f"{'met' if met['mae_within_15pct_of_mean_wait'] else 'MISSED'} "
            f"({_percent(estimate['mae_share_of_mean_wait'])}); MAE >= 40% below naive: "
            f"{'met' if met['mae_40pct_below_naive'] else 'MISSED'} "
            f"({_percent(estimate['below_naive'])} below); range coverage 75-85%: "
            f"{'met' if met['range_coverage_75_to_85pct'] else 'MISSED'} "
            f"({_percent(estimate['range']['coverage'])}) "
            f"at {_percent(figures['utilisation'])} utilisation")


def report(result: DayResult, parameters: dict[str, Any]) -> dict[str, Any]:
    """report.json: parameters, every figure, the definitions, per-order records, the queue."""
    return {"parameters": {**parameters, "workers": result.setup.workers,
                           "favorites_first": result.setup.favorites_first,
                           "stock_target": result.setup.stock_target},
            "figures": simulator_figures.day_figures(result),
            "wall_seconds": result.wall_seconds,
            "definitions": {
                "figures": simulator_figures.__doc__,
                "naive_baseline": simulator_estimates.PlacementObserver.naive_wait.__doc__,
                "lower_bound": simulator_bounds.__doc__},
            "orders": simulator_figures.order_rows(result),
            "queue_length": [{"seconds": at, "length": n} for at, n in result.queue]}


def _finite(value: Any) -> Any:
    """JSON has no NaN: a figure that cannot be computed is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(_finite(document), indent=1, allow_nan=False) + "\n", "utf-8")


QUEUE_AVERAGE_HOURS = 0.5
ROLLING_ORDERS = 50


def plot_day(result: DayResult, out: Path) -> None:
    """waits.png, queue.png and estimate_error.png in ``out``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    title = _label(result.setup)
    orders = result.orders
    waits = [o.wait / 60 for o in orders]
    bins = [max(waits) * step / 60 for step in range(61)]
    figure = Figure(figsize=(8, 4.5), layout="constrained")
    axes = figure.subplots()
    axes.hist(waits, bins=bins, color="#c8102e", alpha=0.8, label="wait (placed to READY)")
    axes.hist([o.bound.seconds / 60 for o in orders], bins=bins, histtype="step",
              color="#333333", label="lower bound per order")
    mean = sum(waits) / len(waits)
    axes.axvline(mean, color="#222222", linestyle="--", label=f"mean {mean:.1f} min")
    axes.set(xlabel="minutes", ylabel="orders", title=f"Wait distribution ({title})")
    axes.legend()
    _save(FigureCanvasAgg(figure), out / "waits.png")

    figure = Figure(figsize=(8, 4.5), layout="constrained")
    axes = figure.subplots()
    points = [(0.0, 0)] + [(at / 3600, n) for at, n in result.queue]
    axes.step([t for t, _ in points], [n for _, n in points], where="post", color="#1f5fa8",
              linewidth=0.6, alpha=0.6, label="units queued")
    averages = simulator_figures.time_averages(points, result.makespan / 3600, QUEUE_AVERAGE_HOURS)
    axes.step([t for t, _ in averages], [n for _, n in averages], where="post",
              color="#0b2545", linewidth=2,
              label=f"mean over {QUEUE_AVERAGE_HOURS * 60:.0f} min")
    axes.legend()
    axes.set(xlabel="hours since opening", ylabel="units queued",
             title=f"Kitchen queue length ({title})")
    _save(FigureCanvasAgg(figure), out / "queue.png")

    figure = Figure(figsize=(8, 4.5), layout="constrained")
    axes = figure.subplots()
    hours = [o.placed / 3600 for o in orders]
    naive_errors = [o.naive_error / 60 for o in orders]
    our_errors = [o.error / 60 for o in orders]
    axes.scatter(hours, naive_errors, s=6, color="#999999", alpha=0.6, label="naive baseline")
    axes.scatter(hours, our_errors, s=6, color="#c8102e", alpha=0.8, label="our estimate")
    axes.axhline(0, color="#222222", linewidth=0.8)
    for errors, colour, name in ((naive_errors, "#555555", "naive"),
                                 (our_errors, "#7a0019", "ours")):
        rolling = simulator_figures.rolling_mae(errors, ROLLING_ORDERS)
        axes.plot(hours, rolling, color=colour, linewidth=1.5,
                  label=f"{name}: MAE of the last {ROLLING_ORDERS} orders")
    axes.set(xlabel="placed at (hours since opening)",
             ylabel="actual - estimated wait (minutes)",
             title=f"Estimate error at placement ({title})")
    axes.legend()
    _save(FigureCanvasAgg(figure), out / "estimate_error.png")


def _save(canvas: Any, path: Path) -> None:
    canvas.print_png(str(path))
