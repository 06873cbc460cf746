"""Rule 5: N workers fixed at start-up, one unit each at a time; order units FIFO by placement;
idle workers make the favourites missing from stock (target - projected); under FF.1 they refill
favourites BEFORE order units; finished units go to stock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest

from mcburger.application.policies import kitchen_reacts
from mcburger.application.simulator.simulation import Simulation
from mcburger.domain.events import (
    Event,
    KitchenConfigured,
    KitchenUnitsRequested,
    PreparationStarted,
    UnitPrepared,
    UnitsCovered,
    UnitStocked,
)
from mcburger.domain.kitchen import Kitchen, KitchenSetup
from mcburger.domain.menu import Menu
from tests.support.invariants import check_log, check_quiet
from tests.unit.builders import T0, default_menu, fixed_menu, item, lines, of_type


def kitchen(setup: KitchenSetup, menu: Menu | None = None) -> Kitchen:
    kitchen = Kitchen("main", menu or fixed_menu(), seed=1)
    kitchen.configure(setup, T0)
    kitchen.mark_saved()
    return kitchen


def request(kitchen: Kitchen, number: int, item_id: str, quantity: int = 1) -> None:
    kitchen_reacts(kitchen, KitchenUnitsRequested(
        restaurant_id="main", occurred_at=T0, order_id=f"o{number}", number=number,
        item=item_id, quantity=quantity), T0)


def started(events: Sequence[Event]) -> list[tuple[int, str, int | None]]:
    return [(e.worker, e.item, e.number) for e in events if isinstance(e, PreparationStarted)]


# --- workers --------------------------------------------------------------------------------


def test_the_start_up_set_up_is_recorded_once() -> None:
    k = Kitchen("main", fixed_menu(), seed=1)
    setup = KitchenSetup(workers=4, favorites_first=True, stock_target=2, speed=60)

    k.configure(setup, T0)
    k.configure(setup, T0)

    configured = of_type(k.pending, KitchenConfigured)
    assert [(c.workers, c.favorites_first, c.stock_target, c.speed) for c in configured] == [
        (4, True, 2, 60)]
    assert list(k.workers) == [1, 2, 3, 4]


def test_no_more_units_are_started_than_there_are_workers() -> None:
    k = kitchen(KitchenSetup(workers=2, stock_target=0))
    request(k, 1, "cola", 5)

    k.assign_work(T0)

    assert started(k.pending) == [(1, "cola", 1), (2, "cola", 1)]
    assert len(k.queue) == 3


def test_a_worker_takes_the_next_unit_only_when_its_unit_is_done() -> None:
    k = kitchen(KitchenSetup(workers=1, stock_target=0))
    request(k, 1, "cola", 2)
    k.assign_work(T0)
    k.assign_work(T0 + timedelta(seconds=5))
    assert len(started(k.pending)) == 1, "busy for 10 s"

    k.finish_due(T0 + timedelta(seconds=10))
    k.assign_work(T0 + timedelta(seconds=10))

    assert [type(e).__name__ for e in k.pending[-2:]] == ["UnitPrepared", "PreparationStarted"]
    assert started(k.pending) == [(1, "cola", 1), (1, "cola", 1)]


def test_over_a_busy_day_each_worker_cooks_one_unit_at_a_time() -> None:
    sim = Simulation(default_menu(), KitchenSetup(workers=3), seed=11)
    for minute in range(30):
        sim.place(lines(hamburger=2, fries=1, cola=minute % 3 + 1))
        sim.advance(60)
    sim.run_until_quiet()

    busy: dict[int, str] = {}
    for event in sim.log:
        if isinstance(event, PreparationStarted):
            assert event.worker not in busy, f"worker {event.worker} already cooking"
            assert 1 <= event.worker <= 3
            busy[event.worker] = event.preparation_id
        elif isinstance(event, UnitPrepared):
            assert busy.pop(event.worker) == event.preparation_id
    assert busy == {}
    check_log(sim.log)


# --- FIFO ----------------------------------------------------------------------------------


def test_order_units_are_made_in_placement_order() -> None:
    sim = Simulation(fixed_menu(), KitchenSetup(workers=1, stock_target=0), seed=1)
    sim.place(lines(cola=1, salad=1))
    sim.place(lines(salad=1))
    sim.place(lines(cola=2))

    sim.run_until_quiet()

    assert [(s.item, s.number) for s in of_type(sim.log, PreparationStarted)] == [
        ("cola", 1), ("salad", 1), ("salad", 2), ("cola", 3), ("cola", 3)]
    check_log(sim.log)


# --- refills -------------------------------------------------------------------------------


def test_an_idle_worker_refills_only_what_stock_is_missing() -> None:
    k = kitchen(KitchenSetup(workers=4, stock_target=3))
    for _ in range(2):
        k.observe(UnitStocked(restaurant_id="main", occurred_at=T0, item="burger",
                              unit_id="old"))

    k.assign_work(T0)

    assert started(k.pending) == [(1, "burger", None)], "3 wanted, 2 in stock: make 1"
    assert k.refill_need("burger") == 0


def test_refills_go_to_the_favourite_missing_most() -> None:
    menu = Menu([item("burger", 100, favorite=True), item("fries", 50, favorite=True)])
    k = kitchen(KitchenSetup(workers=1, stock_target=2), menu)
    k.observe(UnitStocked(restaurant_id="main", occurred_at=T0, item="burger", unit_id="u"))

    k.assign_work(T0)

    assert started(k.pending) == [(1, "fries", None)]


def test_items_that_are_not_favourites_are_never_made_for_stock() -> None:
    k = kitchen(KitchenSetup(workers=3, stock_target=3))
    k.observe(UnitStocked(restaurant_id="main", occurred_at=T0, item="burger", unit_id="u1"))
    for n in range(2):
        k.observe(UnitStocked(restaurant_id="main", occurred_at=T0, item="burger",
                              unit_id=f"u{n + 2}"))

    k.assign_work(T0)

    assert k.pending == [], "burger at target; cola and salad are made to order only"


def test_a_finished_unit_goes_to_stock() -> None:
    sim = Simulation(fixed_menu(), KitchenSetup(workers=1, stock_target=1), seed=1)

    sim.advance(100)

    prepared = of_type(sim.log, UnitPrepared)
    stocked = of_type(sim.log, UnitStocked)
    assert [p.preparation_id for p in prepared] == [s.unit_id for s in stocked] == ["p1"]
    assert sim.ordering.stock["burger"] == 1


# --- FF.1 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("favorites_first", "first_item"), [(False, "cola"), (True, "burger")])
def test_ff1_decides_whether_an_idle_worker_refills_or_serves_the_queue(
        favorites_first: bool, first_item: str) -> None:
    k = kitchen(KitchenSetup(workers=1, favorites_first=favorites_first, stock_target=1))
    request(k, 1, "cola")

    k.assign_work(T0)

    assert [s[1] for s in started(k.pending)] == [first_item]


def test_ff1_refills_only_what_is_missing_and_the_other_workers_take_orders() -> None:
    k = kitchen(KitchenSetup(workers=3, favorites_first=True, stock_target=1))
    request(k, 1, "cola", 2)

    k.assign_work(T0)

    assert started(k.pending) == [(1, "burger", None), (2, "cola", 1), (3, "cola", 1)]


@pytest.mark.parametrize(("favorites_first", "made_after_first_cola"),
                         [(False, ["cola", "burger"]), (True, ["burger", "cola"])])
def test_ff1_on_a_timeline_when_a_worker_frees_up(favorites_first: bool,
                                                  made_after_first_cola: list[str]) -> None:
    # Stock at target; order 1's cola keeps the only worker busy while order 2 takes the last
    # burger and order 3 queues a cola. When the worker frees up: refill or cola?
    sim = Simulation(fixed_menu(), KitchenSetup(1, favorites_first, stock_target=1), seed=1)
    sim.run_until_quiet()
    sim.place(lines(cola=1))
    sim.advance(1)
    sim.place(lines(burger=1))
    sim.place(lines(cola=1))

    sim.run_until_quiet()

    after_refill = [s.item for s in of_type(sim.log, PreparationStarted)][1:]
    assert after_refill == ["cola", *made_after_first_cola]
    check_log(sim.log)


def test_with_ff1_orders_wait_longer_but_stock_is_back_sooner() -> None:
    def run(favorites_first: bool) -> tuple[float, float]:
        sim = Simulation(fixed_menu(), KitchenSetup(1, favorites_first, stock_target=1), seed=1)
        sim.run_until_quiet()
        start = sim.now
        sim.place(lines(cola=2, burger=1))  # the worker starts cola 1 before the burger is taken
        sim.run_until_quiet()
        ready = next(e.occurred_at for e in sim.log if e.TYPE == "OrderReady")
        restocked = of_type(sim.log, UnitStocked)[-1].occurred_at
        return (ready - start).total_seconds(), (restocked - start).total_seconds()

    assert run(False) == (20, 120)
    assert run(True) == (120, 110)


def test_refills_and_units_owed_are_counted_together() -> None:
    # 3 burgers in stock, an order for 5: each burger taken from stock starts a refill at once,
    # the 2 owed units count on those refills, and 2 more refills put stock back at 3.
    sim = Simulation(fixed_menu(), KitchenSetup(workers=5, stock_target=3), seed=1)
    sim.run_until_quiet()
    sim.place(lines(burger=5))
    sim.run_until_quiet()

    assert [c.quantity for c in of_type(sim.log, UnitsCovered)] == [2]
    assert len(of_type(sim.log, PreparationStarted)) == 3 + 5, "2 for the order, 3 for stock"
    assert sim.ordering.stock["burger"] == 3
    check_quiet(sim.log, 3, ["burger"])
