"""The day simulator: the real rules on a virtual clock, measured. Invariants, not figures: a
fixed seed keeps runs reproducible, but the assertions hold for any seed."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

import pytest

from mcburger.adapters.eventstore.memory import InMemoryEventStore
from mcburger.adapters.readmodels.memory import InMemoryReadModelStore
from mcburger.application.analytics import ESTIMATES, Analytics
from mcburger.application.simulator import (
    DayResult,
    compare,
    comparison_setups,
    simulate_day,
)
from mcburger.application.simulator.bounds import wait_bounds
from mcburger.application.simulator.figures import day_figures, rolling_mae, time_averages
from mcburger.application.simulator.mix import (
    Arrival,
    InvalidMix,
    MenuMix,
    poisson_arrivals,
)
from mcburger.application.simulator.simulation import SIMULATION_START
from mcburger.domain.events import OrderLine, OrderPlaced
from mcburger.domain.kitchen import KitchenSetup
from mcburger.domain.menu import Menu
from tests.support.invariants import check_log, check_quiet
from tests.unit.application.test_estimates import feed
from tests.unit.builders import default_menu, fixed_menu, lines, of_type

SEED = 11
ORDERS = 150


def day(menu: Menu, orders: int = ORDERS, seed: int = SEED) -> list[Arrival]:
    mix = MenuMix.default(menu)
    return poisson_arrivals(orders, mix.arrival_rate(menu), mix, random.Random(seed))


@pytest.fixture(scope="module", params=[False, True], ids=["FF.1 off", "FF.1 on"])
def result(request: pytest.FixtureRequest) -> DayResult:
    return simulate_day(default_menu(), day(default_menu()),
                        KitchenSetup(workers=3, favorites_first=request.param), seed=SEED)


def test_every_order_is_ready_and_the_log_keeps_every_invariant(result: DayResult) -> None:
    menu = default_menu()
    check_log(result.log)
    check_quiet(result.log, result.setup.stock_target, [item.id for item in menu.favorites])
    assert len(result.orders) == ORDERS
    assert all(order.wait >= 0 for order in result.orders)


def test_no_wait_beats_its_lower_bound(result: DayResult) -> None:
    # waits are read from microsecond timestamps: allow their rounding
    below = [o.number for o in result.orders if o.wait < o.bound.seconds - 1e-5]
    assert not below
    figures = day_figures(result)
    assert figures["wait"]["mean_seconds"] >= figures["lower_bound"]["mean_seconds"] > 0
    assert figures["lower_bound"]["mean_wait_ratio"] >= 1


def test_figures_are_finite_and_in_range(result: DayResult) -> None:
    figures = day_figures(result)
    estimate = figures["estimate"]
    for key in ("mae_seconds", "p90_abs_error_seconds", "naive_mae_seconds",
                "naive_p90_abs_error_seconds", "bias_seconds"):
        assert math.isfinite(estimate[key]), key
    assert all(math.isfinite(o.error) and math.isfinite(o.naive_error) for o in result.orders)
    assert 0 < figures["utilisation"] <= 1
    assert 0 <= figures["stock_hit_rate"] <= 1
    assert figures["throughput_per_hour"] > 0
    wait = figures["wait"]
    assert wait["p50_seconds"] <= wait["p90_seconds"] <= wait["max_seconds"]


def test_ranges_hold_the_estimate_and_their_coverage_is_a_share(result: DayResult) -> None:
    for order in result.orders:
        assert 0.0 <= order.low <= order.estimate + 1e-9 <= order.high + 2e-9, order.number
        assert all(math.isfinite(e) for e in order.errors_before_ready.values())
    rng = day_figures(result)["estimate"]["range"]
    assert 0.0 <= rng["coverage"] <= 1.0 and 0.0 <= rng["coverage_all_orders"] <= 1.0
    assert rng["coverage"] + rng["below_low"] + rng["above_high"] == pytest.approx(1.0)
    assert rng["mean_width_seconds"] > 0


def test_accuracy_before_ready_counts_only_orders_placed_by_then(result: DayResult) -> None:
    rows = day_figures(result)["estimate"]["before_ready"]
    assert [row["seconds_before"] for row in rows] == [300, 120, 60]
    counts = [row["orders"] for row in rows]
    assert 0 < counts[0] <= counts[1] <= counts[2] <= len(result.orders)
    assert all(math.isfinite(row["mae_seconds"]) and math.isfinite(row["bias_seconds"])
               for row in rows)
    for order in result.orders:
        assert all(before <= order.wait + 1e-6 for before in order.errors_before_ready)


async def test_estimates_at_placement_are_the_ones_live_analytics_records(
        result: DayResult) -> None:
    read_models = InMemoryReadModelStore()
    await feed(Analytics(InMemoryEventStore(), read_models, default_menu(), "main"), result.log)

    recorded = {doc["number"]: datetime.fromisoformat(doc["estimated_at_placement"])
                for doc in await read_models.find(ESTIMATES)}
    ours = {o.number: SIMULATION_START + timedelta(seconds=o.placed + o.estimate)
            for o in result.orders}
    assert recorded.keys() == ours.keys()
    late = {n: (recorded[n] - ours[n]).total_seconds() for n in ours
            if abs((recorded[n] - ours[n]).total_seconds()) > 1e-5}
    assert not late


def test_comparison_runs_the_same_arrivals_under_each_setup() -> None:
    menu = default_menu()
    setups = comparison_setups(KitchenSetup(workers=2))
    assert [(s.workers, s.favorites_first) for s in setups] == [
        (1, False), (2, False), (3, False), (1, True), (2, True), (3, True)]

    results = compare(menu, day(menu, orders=40), setups, seed=SEED)

    placements = [[(e.occurred_at, e.lines) for e in of_type(r.log, OrderPlaced)]
                  for r in results]
    assert all(p == placements[0] for p in placements)
    assert len(placements[0]) == 40
    assert [r.setup.workers for r in results] == [1, 2, 3, 1, 2, 3]


def test_one_worker_is_never_asked_for_fewer() -> None:
    assert [s.workers for s in comparison_setups(KitchenSetup(workers=1))] == [1, 2, 1, 2]


# --- the lower bound ------------------------------------------------------------------------


def test_the_bound_counts_item_times_and_the_work_ordered_before() -> None:
    # variance 0, one worker, nothing kept in stock: three salads take 60 s whatever happens,
    # and a cola ordered a second later needs only its own 10 s
    orders = [(0.0, lines(salad=3)), (1.0, lines(cola=1))]
    bounds = wait_bounds(fixed_menu(), workers=1, stock_target=0, orders=orders)

    assert [(b.item_seconds, b.capacity_seconds) for b in bounds] == [(20.0, 60.0), (10.0, 10.0)]


def test_a_fifo_kitchen_meets_the_bound_when_nothing_can_be_reordered() -> None:
    arrivals = [Arrival(0.0, (OrderLine("salad", 3),)), Arrival(1.0, (OrderLine("cola", 1),))]
    result = simulate_day(fixed_menu(), arrivals, KitchenSetup(workers=1, stock_target=0), 1)

    first, second = result.orders
    assert first.wait == pytest.approx(first.bound.seconds)  # 60 s: tight
    assert second.wait == pytest.approx(69.0)  # behind the salads, FIFO
    assert second.bound.seconds == pytest.approx(10.0)  # a cola-first kitchen would take 10 s


def test_favourites_count_only_beyond_the_stock_target() -> None:
    orders = [(0.0, lines(burger=2))]
    assert wait_bounds(fixed_menu(), 1, stock_target=3, orders=orders)[0].seconds == 0
    assert wait_bounds(fixed_menu(), 1, stock_target=1, orders=orders)[0].seconds == 100


# --- estimates: ours and the naive baseline -------------------------------------------------


def test_the_naive_baseline_is_units_times_mean_time_over_workers() -> None:
    arrivals = [Arrival(0.0, (OrderLine("salad", 2),))]
    result = simulate_day(fixed_menu(), arrivals, KitchenSetup(workers=1, stock_target=0), 1)

    (order,) = result.orders
    assert order.naive == pytest.approx(2 * (100 + 10 + 20) / 3)  # nothing prepared yet: menu
    assert order.estimate == pytest.approx(40.0)
    assert order.wait == pytest.approx(40.0)


def test_an_order_served_from_stock_is_estimated_ready_at_once() -> None:
    arrivals = [Arrival(3600.0, (OrderLine("burger", 1),))]
    result = simulate_day(fixed_menu(), arrivals, KitchenSetup(workers=1, stock_target=1), 1)

    (order,) = result.orders
    assert (order.from_stock, order.wait, order.estimate, order.naive) == (1, 0.0, 0.0, 0.0)


# --- the mix and the arrivals ---------------------------------------------------------------


def test_expected_work_per_order_is_what_the_orders_drawn_add_up_to() -> None:
    menu = default_menu()
    mix = MenuMix.default(menu)
    rng = random.Random(SEED)
    drawn = [sum(line.quantity * menu[line.item].prep_seconds for line in mix.order(rng))
             for _ in range(20_000)]

    assert sum(drawn) / len(drawn) == pytest.approx(mix.expected_work_seconds(menu), rel=0.02)


def test_orders_follow_the_rules_and_the_arrival_rate() -> None:
    menu = default_menu()
    mix = MenuMix.default(menu)
    arrivals = poisson_arrivals(2000, 60.0, mix, random.Random(SEED))

    assert all(len({line.item for line in a.lines}) == len(a.lines) for a in arrivals)
    assert all(1 <= line.quantity <= 3 for a in arrivals for line in a.lines)
    assert [a.at_seconds for a in arrivals] == sorted(a.at_seconds for a in arrivals)
    assert arrivals[-1].at_seconds / 3600 == pytest.approx(2000 / 60.0, rel=0.1)


def test_the_default_rate_keeps_three_workers_about_eighty_percent_busy() -> None:
    result = simulate_day(default_menu(), day(default_menu(), orders=600),
                          KitchenSetup(workers=3), seed=SEED)
    assert 0.7 < result.utilisation < 0.9


def test_a_mix_file_names_menu_items_with_weights() -> None:
    menu = default_menu()
    mix = MenuMix.parse({"items": {"cola": 1, "salad": 3}, "quantities": {"1": 1}}, menu)
    orders = [mix.order(random.Random(n)) for n in range(50)]

    assert {line.item for order in orders for line in order} == {"cola", "salad"}
    assert {line.quantity for order in orders for line in order} == {1}
    for bad in ({"items": {"pizza": 1}}, {"items": {}}, {"items": {"cola": -1}},
                {"items": {"cola": 1}, "quantities": {"one": 1}}, {"item": {"cola": 1}}):
        with pytest.raises(InvalidMix):
            MenuMix.parse(bad, menu)


# --- what the plots draw --------------------------------------------------------------------


def test_queue_length_is_averaged_over_time_per_bucket() -> None:
    # 2 units for the first half hour, then 0, then 4 from 1.5 h until 2 h
    points = [(0.0, 2), (0.5, 0), (1.5, 4)]
    assert time_averages(points, end=2.0, width=1.0) == [(0.0, 1.0), (1.0, 2.0)]


def test_the_rolling_mae_forgets_errors_older_than_its_window() -> None:
    assert rolling_mae([2.0, -4.0, 0.0, 1.0], window=2) == [2.0, 3.0, 2.0, 0.5]
