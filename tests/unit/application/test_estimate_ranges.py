"""Issue 14: estimates under FF.1 foresee the refills later customers trigger (favourite
takings learned from the log), every estimate carries a calibrated range, and accuracy is
measured as the order waits. Crafted sequences with answers worked out by hand."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest

from mcburger.adapters.eventstore.memory import InMemoryEventStore
from mcburger.adapters.readmodels.memory import InMemoryReadModelStore
from mcburger.application.analytics import ESTIMATES, SUMMARY, SUMMARY_KEY, Analytics
from mcburger.application.analytics.measurements import Measurements
from mcburger.application.analytics.mirror import RestaurantMirror
from mcburger.application.simulator.simulation import Simulation
from mcburger.domain.estimates import (
    COLD_WIDENING,
    NORMAL_QUANTILES,
    Calibration,
    FavouriteDemand,
    errors_before_ready,
    estimate_ready_times,
    forget_before,
)
from mcburger.domain.events import OrderLine
from mcburger.domain.kitchen import KitchenSetup
from mcburger.domain.menu import Menu
from tests.unit.application.test_estimates import feed
from tests.unit.builders import T0, default_menu, item

TIMES = {"burger": 100.0, "salad": 20.0}


def burger_and_salad() -> Menu:
    return Menu([item("burger", 100, favorite=True), item("salad", 20)])


def demand(*takings: tuple[float, int], min_span: float = 0.0) -> FavouriteDemand:
    """Burgers taken ``(seconds after T0, units)``."""
    learned = FavouriteDemand(min_span_seconds=min_span)
    for seconds, units in takings:
        learned.observe(T0 + timedelta(seconds=seconds), "burger", units)
    return learned


def stocked_kitchen(favorites_first: bool) -> Simulation:
    """One worker, one burger kept in stock, the stock full, nothing else going on."""
    sim = Simulation(burger_and_salad(), KitchenSetup(workers=1, stock_target=1,
                                                      favorites_first=favorites_first), seed=1)
    sim.run_until_quiet()
    assert sim.kitchen.stock["burger"] == 1
    return sim


def wait_of(sim: Simulation, number: int, learned: FavouriteDemand | None) -> float:
    estimates = estimate_ready_times(sim.now, sim.ordering, sim.kitchen, TIMES, (), learned)
    return (estimates[number] - sim.now).total_seconds()


# --- favourite takings foreseen under FF.1 --------------------------------------------------


def test_the_demand_is_the_units_taken_after_the_first_over_the_time_they_span() -> None:
    assert demand((0, 1), (600, 2), (1200, 1)).rates() == {"burger": pytest.approx(3 / 1200)}
    # a few takings close together say little: at least min_span seconds are counted
    assert demand((0, 1), (60, 1), min_span=1800).rates() == {"burger": pytest.approx(1 / 1800)}
    assert demand((0, 1)).rates() == {}  # one taking spans no time


def test_the_demand_forgets_takings_beyond_its_window() -> None:
    learned = FavouriteDemand(window=2, min_span_seconds=0)
    for seconds in (0, 10, 1010):
        learned.observe(T0 + timedelta(seconds=seconds), "burger", 1)
    assert learned.rates() == {"burger": pytest.approx(1 / 1000)}


def test_under_ff1_a_foreseen_refill_goes_before_the_queued_units_it_is_due_by() -> None:
    """Twelve salads (20 s each) for one worker: the 11th would start at 200 s. Burgers are
    taken at 1 per 200 s (2 in 400 s), so one is foreseen at 200 s: its refill (100 s) goes
    first, and the last salad is out at 340 s instead of 240 s."""
    sim = stocked_kitchen(favorites_first=True)
    number = sim.place([OrderLine("salad", 12)])
    sim.deliver()
    learned = demand((0, 1), (200, 1), (400, 1))

    assert wait_of(sim, number, learned) == pytest.approx(340.0)
    assert wait_of(sim, number, None) == pytest.approx(240.0)


def test_with_ff1_off_takings_never_go_before_the_queue() -> None:
    sim = stocked_kitchen(favorites_first=False)
    number = sim.place([OrderLine("salad", 12)])
    sim.deliver()

    assert wait_of(sim, number, demand((0, 1), (200, 1), (400, 1))) == pytest.approx(240.0)


def test_no_burger_is_foreseen_taken_while_orders_still_wait_for_burgers() -> None:
    """Order A takes the burger in stock and waits for a second: the refill goes to A (0-100),
    the queued burger unit to stock (100-200). Until A's burger is made, later customers find
    no burger to take (theirs would queue behind), so the first taking is foreseen a gap
    (200 s) after 100 s: the salads of order B (200-260) are not pushed back."""
    sim = stocked_kitchen(favorites_first=True)
    a = sim.place([OrderLine("burger", 2)])
    b = sim.place([OrderLine("salad", 3)])
    sim.deliver()
    learned = demand((0, 1), (200, 1), (400, 1))

    assert wait_of(sim, a, learned) == pytest.approx(100.0)
    assert wait_of(sim, b, learned) == pytest.approx(260.0)


def test_foreseen_refills_take_at_most_six_tenths_of_the_workers() -> None:
    """Demand beyond the workers empties the stock and queues like any order unit: a forecast
    never starves the queue for ever."""
    sim = stocked_kitchen(favorites_first=True)
    number = sim.place([OrderLine("salad", 20)])
    sim.deliver()
    flood = demand(*[(10 * n, 1) for n in range(50)])  # a burger (100 s) taken every 10 s

    wait = wait_of(sim, number, flood)
    # 400 s of salads, stretched by at most 1 / (1 - 0.6) (a delay busy period at 60 %
    # load), plus the refill under way when the last salad could start
    assert math.isfinite(wait) and 400.0 < wait <= 400.0 / (1 - 0.6) + 100.0


# --- the calibrated range -------------------------------------------------------------------


def test_before_anything_is_learned_the_range_is_the_normal_one() -> None:
    low, point, high = Calibration().range(100.0, 10.0)
    assert (low, point, high) == pytest.approx(
        (100 + NORMAL_QUANTILES[0] * 10, 100.0, 100 + NORMAL_QUANTILES[2] * 10))


def test_a_new_restaurants_range_widens_to_the_few_errors_seen_within_a_bound() -> None:
    """Before ``min_count`` errors: the normal's range, widened to the finite-sample conformal
    ranks of those seen (the 9th smallest of 9 for the 90th percentile), at most
    ``COLD_WIDENING`` times the normal's."""
    calibration = Calibration(min_count=30)
    for z in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7):  # 8 errors: too few for a rank
        calibration.observe(100.0 + 10 * z, 100.0, 10.0)
    assert calibration.quantiles(100.0) == NORMAL_QUANTILES

    calibration.observe(100.0 + 10 * 2.0, 100.0, 10.0)  # the 9th: +2 spreads, the largest
    low, middle, high = calibration.quantiles(100.0)
    assert (low, middle, high) == pytest.approx((NORMAL_QUANTILES[0], 0.0, 2.0))

    for _ in range(5):  # far larger errors widen it only so far
        calibration.observe(100.0 + 10 * 40.0, 100.0, 10.0)
    assert calibration.quantiles(100.0)[2] == pytest.approx(COLD_WIDENING * NORMAL_QUANTILES[2])


def test_the_range_is_the_10th_to_90th_percentile_of_past_errors_in_spreads() -> None:
    calibration = Calibration(min_count=10)
    for z in range(-50, 51):  # errors of -50 .. +50 spreads, estimates 1,000 s ahead
        calibration.observe(1000.0 + z * 2.0, 1000.0, 2.0)

    low, point, high = calibration.range(1000.0, 1.0)
    assert (low, point, high) == pytest.approx((1000 - 40, 1000, 1000 + 40))


def test_a_missed_range_widens_the_next_ones_and_a_held_one_narrows_them() -> None:
    calibration = Calibration(min_count=10, step=0.05)
    for z in range(-50, 51):
        calibration.observe(1000.0 + z, 1000.0, 1.0)
    before = calibration.range(1000.0, 1.0)
    calibration.observe(1000.0, 1000.0, 1.0, missed=True)
    wider = calibration.range(1000.0, 1.0)
    calibration.observe(1000.0, 1000.0, 1.0, missed=False)
    calibration.observe(1000.0, 1000.0, 1.0, missed=False)

    assert wider[0] < before[0] and wider[2] > before[2]
    assert calibration.range(1000.0, 1.0)[2] < wider[2]


def test_estimates_far_ahead_are_calibrated_apart_from_near_ones() -> None:
    calibration = Calibration(min_count=10)
    for z in range(-5, 6):
        calibration.observe(60.0 + z, 60.0, 1.0)  # a minute ahead: errors of +-5 spreads
        calibration.observe(900.0 + 4 * z, 900.0, 1.0)  # fifteen minutes: +-20

    near, far = calibration.range(60.0, 1.0), calibration.range(900.0, 1.0)
    assert far[2] - far[0] == pytest.approx(4 * (near[2] - near[0]))


def test_a_range_is_ordered_and_never_starts_before_now() -> None:
    calibration = Calibration(min_count=10)
    for z in range(11):
        calibration.observe(10.0 - 50 * z, 10.0, 1.0)  # orders far earlier than said
    low, point, high = calibration.range(10.0, 1.0)
    assert 0.0 <= low <= point <= high


def test_a_snapshot_from_before_the_ranges_opens_and_learns_from_there() -> None:
    """Analytics snapshots written by the previous release have no demand, calibration or
    placements: they restore as empty ones (learned again from the events that follow)."""
    sim = stocked_kitchen(favorites_first=True)
    sim.place([OrderLine("burger", 2)])
    sim.deliver()
    mirror = RestaurantMirror("main", burger_and_salad())
    for event in sim.log:
        mirror.apply(event)
    state = mirror.state()
    for key in ("demand", "calibration", "at_placement"):
        del state[key]

    restored = RestaurantMirror("main", burger_and_salad())
    restored.restore(state)
    assert restored.demand.rates() == {} and restored.calibration.observed == 0
    assert restored.estimate(sim.now).keys() == mirror.estimate(sim.now).keys()
    measured = Measurements().state()
    for key in ("placement_ranges", "ranged", "before_ready"):
        del measured[key]
    assert Measurements.restored(measured).before_ready == {}


# --- accuracy as the order waits ------------------------------------------------------------


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_error_before_ready_is_of_the_latest_estimate_then() -> None:
    history = [(at(0), at(500)), (at(100), at(450)), (at(250), at(420))]

    errors = errors_before_ready(at(0), at(400), history)

    # 300 s before (at 100): 450 was said; 120 s and 60 s before: 420
    assert errors == pytest.approx({300: -50.0, 120: -20.0, 60: -20.0})


def test_an_order_placed_less_than_five_minutes_before_ready_counts_only_shorter_spans() -> None:
    errors = errors_before_ready(at(0), at(200), [(at(0), at(190))])
    assert errors == pytest.approx({120: 10.0, 60: 10.0})


def test_seconds_before_ready_are_kitchen_seconds() -> None:
    # at speed 10, 300 kitchen seconds are 30 wall seconds; errors come back in kitchen seconds
    history = [(at(0), at(50)), (at(20), at(45))]
    assert errors_before_ready(at(0), at(40), history, speed=10) == pytest.approx(
        {300: -100.0, 120: -50.0, 60: -50.0})


def test_the_history_keeps_only_what_the_longest_span_before_ready_can_need() -> None:
    history = [(at(s), at(1000 + s)) for s in range(0, 1000, 100)]
    forget_before(history, at(1000))
    # the newest entry at or before 1000 - 300 s, and every later one
    assert [when for when, _ in history] == [at(s) for s in range(700, 1000, 100)]


# --- live in analytics ----------------------------------------------------------------------


async def test_analytics_documents_carry_the_range_the_promise_and_the_errors_before_ready(
        ) -> None:
    menu = default_menu()
    sim = Simulation(menu, KitchenSetup(workers=2, favorites_first=True), seed=4)
    read_models = InMemoryReadModelStore()
    analytics = Analytics(InMemoryEventStore(), read_models, menu, "main")
    promises: dict[int, tuple[str, str]] = {}
    done = 0
    for index in range(40):
        sim.place([OrderLine("nuggets", 1 + index % 2), OrderLine("hamburger", 1)])
        sim.advance(45)
        done = await feed(analytics, sim.log, done)
        for doc in await read_models.find(ESTIMATES):
            promise = (doc["promised_ready_from"], doc["promised_ready_by"])
            assert promises.setdefault(doc["number"], promise) == promise  # write-once
            if doc["ready_at"] is None:
                ends = [datetime.fromisoformat(doc[f]) for f in (
                    "estimated_ready_from", "estimated_ready_at", "estimated_ready_by")]
                assert ends == sorted(ends)
    sim.run_until_quiet()
    await feed(analytics, sim.log, done)

    docs = await read_models.find(ESTIMATES)
    assert len(docs) == 40
    for doc in docs:
        assert doc["estimated_ready_from"] == doc["estimated_ready_by"] == doc["ready_at"]
        assert doc["promised_ready_from"] <= doc["promised_ready_by"]
    waited = [doc for doc in docs if doc["wait_seconds"] > 300]
    assert waited and all(set(doc["error_before_ready_seconds"]) == {"300", "120", "60"}
                          for doc in waited)
    summary = await read_models.get(SUMMARY, SUMMARY_KEY)
    assert summary is not None
    coverage = summary["estimate_range"]
    assert coverage["orders"] > 0 and 0.0 <= coverage["coverage"] <= 1.0
    assert [row["seconds_before"] for row in summary["estimate_error_before_ready"]] == [
        300, 120, 60]
