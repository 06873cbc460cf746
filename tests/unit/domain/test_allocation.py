"""Rules 3 and 4: each unit from stock if there is one, else from the kitchen; a prepared unit goes
to the OLDEST order waiting for that item; an order counts on refills already in preparation
(UnitsCovered) rather than queueing duplicates; stock never negative, no unit given twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from mcburger.application.simulator.simulation import Simulation
from mcburger.domain.events import (
    Event,
    PreparationStarted,
    UnitAllocated,
    UnitQueued,
    UnitsCovered,
    UnitStocked,
)
from mcburger.domain.kitchen import KitchenSetup
from mcburger.domain.ordering import Ordering, OrderStatus
from tests.support.invariants import check_log, check_quiet
from tests.unit.builders import T0, default_menu, fixed_menu, lines, of_type


def allocations(events: Sequence[Event]) -> list[tuple[int, str, str]]:
    return [(e.number, e.item, e.source) for e in events if isinstance(e, UnitAllocated)]


# --- the ordering aggregate -----------------------------------------------------------------


def test_a_prepared_unit_goes_to_the_oldest_order_waiting_for_it() -> None:
    ordering = Ordering("main", fixed_menu())
    ordering.place("o1", lines(cola=2), T0)
    ordering.place("o2", lines(cola=1), T0)
    ordering.mark_saved()

    for unit in ("p1", "p2", "p3"):
        ordering.receive_unit("cola", unit, T0)

    assert allocations(ordering.pending) == [(1, "cola", "kitchen"), (1, "cola", "kitchen"),
                                             (2, "cola", "kitchen")]
    assert [e.unit_id for e in of_type(ordering.pending, UnitAllocated)] == ["p1", "p2", "p3"]


def test_the_oldest_order_waiting_for_that_item_not_the_oldest_order() -> None:
    ordering = Ordering("main", fixed_menu())
    ordering.place("o1", lines(salad=1), T0)
    ordering.place("o2", lines(cola=1), T0)
    ordering.mark_saved()

    ordering.receive_unit("cola", "p1", T0)

    assert allocations(ordering.pending) == [(2, "cola", "kitchen")]
    assert ordering.orders[2].status is OrderStatus.READY
    assert ordering.orders[1].status is OrderStatus.REQUESTED


def test_a_unit_nobody_waits_for_goes_to_stock_and_serves_the_next_order() -> None:
    ordering = Ordering("main", fixed_menu())
    ordering.receive_unit("burger", "p1", T0)
    assert of_type(ordering.pending, UnitStocked)[0].unit_id == "p1"
    assert ordering.stock["burger"] == 1

    ordering.place("o1", lines(burger=1), T0)

    assert allocations(ordering.pending) == [(1, "burger", "stock")]
    assert ordering.stock["burger"] == 0


def test_stock_is_used_before_the_kitchen_and_never_goes_negative() -> None:
    ordering = Ordering("main", fixed_menu())
    for unit in ("p1", "p2"):
        ordering.receive_unit("burger", unit, T0)

    ordering.place("o1", lines(burger=3), T0)
    ordering.place("o2", lines(burger=1), T0)

    assert allocations(ordering.pending) == [(1, "burger", "stock"), (1, "burger", "stock")]
    assert ordering.stock["burger"] == 0
    assert list(ordering.waiting["burger"]) == [1, 2]


# --- through the kitchen, on a virtual timeline ---------------------------------------------


def test_with_one_worker_the_first_placed_order_gets_the_first_burger() -> None:
    sim = Simulation(fixed_menu(), KitchenSetup(workers=1, stock_target=0), seed=1)
    first = sim.place(lines(burger=1))
    second = sim.place(lines(burger=1))

    sim.advance(100)

    assert sim.ordering.orders[first].status is OrderStatus.READY
    assert sim.ordering.orders[second].status is OrderStatus.IN_PROGRESS
    sim.advance(100)
    assert sim.ordering.orders[second].status is OrderStatus.READY
    assert allocations(sim.log) == [(first, "burger", "kitchen"), (second, "burger", "kitchen")]
    check_log(sim.log)


def test_an_order_counts_on_a_refill_already_in_preparation() -> None:
    # One worker starts the single burger refill at once; the order arrives while it cooks.
    sim = Simulation(fixed_menu(), KitchenSetup(workers=1, stock_target=1), seed=1)
    sim.advance(30)
    number = sim.place(lines(burger=1))
    sim.advance(0)

    covered = of_type(sim.log, UnitsCovered)
    assert [(c.number, c.item, c.quantity) for c in covered] == [(number, "burger", 1)]
    assert not of_type(sim.log, UnitQueued), "no duplicate unit is queued"
    assert sim.ordering.orders[number].status is OrderStatus.IN_PROGRESS

    sim.advance(70)  # the refill is done at 100 s and serves the order
    assert sim.ordering.orders[number].status is OrderStatus.READY
    sim.run_until_quiet()
    burgers = [s for s in of_type(sim.log, PreparationStarted) if s.item == "burger"]
    assert len(burgers) == 2, "one for the order, one to put stock back at its target"
    check_quiet(sim.log, 1, ["burger"])


def test_only_the_units_no_refill_covers_are_queued() -> None:
    sim = Simulation(fixed_menu(), KitchenSetup(workers=1, stock_target=1), seed=1)
    number = sim.place(lines(burger=3))
    sim.advance(0)

    assert [c.quantity for c in of_type(sim.log, UnitsCovered)] == [1]
    assert [q.number for q in of_type(sim.log, UnitQueued)] == [number, number]
    sim.run_until_quiet()
    assert sim.ordering.orders[number].status is OrderStatus.READY
    assert sim.ordering.stock["burger"] == 1
    check_quiet(sim.log, 1, ["burger"])


def test_units_in_preparation_for_an_order_are_not_counted_twice() -> None:
    # Order 1's cola is cooking; order 2 must get its own cola, not count on order 1's.
    sim = Simulation(fixed_menu(), KitchenSetup(workers=1, stock_target=0), seed=1)
    sim.place(lines(cola=1))
    sim.advance(1)
    sim.place(lines(cola=1))
    sim.advance(0)

    assert not of_type(sim.log, UnitsCovered)
    assert [q.number for q in of_type(sim.log, UnitQueued)] == [1, 2]
    sim.run_until_quiet()
    assert allocations(sim.log) == [(1, "cola", "kitchen"), (2, "cola", "kitchen")]
    assert sim.ordering.stock["cola"] == 0


# --- rule 4: the stock target ---------------------------------------------------------------


def test_an_idle_kitchen_fills_every_favourite_to_the_default_target_of_three() -> None:
    menu = default_menu()
    sim = Simulation(menu, KitchenSetup(workers=3), seed=5)

    sim.run_until_quiet()

    favourites = {f.id for f in menu.favorites}
    assert {name: sim.ordering.stock[name] for name in favourites} == dict.fromkeys(favourites, 3)
    assert +sim.ordering.stock == Counter(dict.fromkeys(favourites, 3)), "no other item in stock"


def test_stock_taken_by_orders_is_made_again() -> None:
    sim = Simulation(fixed_menu(), KitchenSetup(workers=2, stock_target=3), seed=5)
    sim.run_until_quiet()

    first = sim.place(lines(burger=2))
    assert sim.ordering.orders[first].status is OrderStatus.READY
    assert sim.ordering.stock["burger"] == 1
    sim.run_until_quiet()

    assert sim.ordering.stock["burger"] == 3
    assert len(of_type(sim.log, PreparationStarted)) == 3 + 2
    check_quiet(sim.log, 3, ["burger"])


def test_a_target_of_zero_keeps_nothing_pre_made() -> None:
    sim = Simulation(default_menu(), KitchenSetup(workers=2, stock_target=0), seed=5)

    sim.run_until_quiet()

    assert sim.log[-1].TYPE == "KitchenConfigured" and len(sim.log) == 1
    assert +sim.ordering.stock == Counter()


def test_a_large_order_uses_all_stock_and_still_ends_at_the_target() -> None:
    sim = Simulation(fixed_menu(), KitchenSetup(workers=2, stock_target=3), seed=9)
    sim.run_until_quiet()

    number = sim.place(lines(burger=7))
    sim.run_until_quiet()

    assert sim.ordering.orders[number].status is OrderStatus.READY
    sources = Counter(source for n, _, source in allocations(sim.log) if n == number)
    assert sources == Counter(stock=3, kitchen=4)
    assert sim.ordering.stock["burger"] == 3
    check_quiet(sim.log, 3, ["burger"])
