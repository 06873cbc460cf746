"""Rule 2: an order has an opaque id, a sequential number, and a status that only moves forward:
REQUESTED -> IN_PROGRESS (a unit allocated or started) -> READY (all allocated) -> COLLECTED."""

from __future__ import annotations

import uuid

import pytest

from mcburger.application.simulator.simulation import Simulation
from mcburger.domain.errors import InvalidOrder, OrderNotReady, UnknownOrder
from mcburger.domain.events import (
    KitchenUnitsRequested,
    OrderCollected,
    OrderLine,
    OrderPlaced,
    OrderReady,
    OrderStarted,
    UnitAllocated,
)
from mcburger.domain.kitchen import KitchenSetup
from mcburger.domain.ordering import Ordering, OrderStatus
from tests.unit.builders import T0, fixed_menu, lines, of_type


def ordering_with_stock(**stock: int) -> Ordering:
    ordering = Ordering("main", fixed_menu())
    for name, count in stock.items():
        for index in range(count):
            ordering.receive_unit(name, f"{name}-{index}", T0)
    ordering.mark_saved()
    return ordering


def test_orders_get_consecutive_numbers_and_the_ids_they_were_given() -> None:
    ordering = Ordering("main", fixed_menu())
    ids = [str(uuid.uuid4()) for _ in range(3)]

    numbers = [ordering.place(order_id, lines(cola=1), T0).number for order_id in ids]

    assert numbers == [1, 2, 3]
    assert [ordering.orders[n].order_id for n in numbers] == ids
    assert ordering.order_by_id(ids[1]) is ordering.orders[2]


def test_the_simulation_gives_each_order_a_fresh_uuid() -> None:
    sim = Simulation(fixed_menu(), KitchenSetup(workers=1, stock_target=0), seed=3)

    numbers = [sim.place(lines(cola=1)) for _ in range(3)]

    ids = [sim.ordering.orders[n].order_id for n in numbers]
    assert len(set(ids)) == 3 and all(uuid.UUID(order_id) for order_id in ids)


def test_an_order_nothing_is_in_stock_for_is_requested_from_the_kitchen() -> None:
    ordering = Ordering("main", fixed_menu())

    order = ordering.place("o1", lines(cola=2, salad=1), T0)

    assert order.status is OrderStatus.REQUESTED
    requests = of_type(ordering.pending, KitchenUnitsRequested)
    assert [(r.item, r.quantity, r.number) for r in requests] == [("cola", 2, 1), ("salad", 1, 1)]
    assert not of_type(ordering.pending, OrderStarted)


def test_an_order_fully_in_stock_is_ready_at_once() -> None:
    ordering = ordering_with_stock(burger=2)

    order = ordering.place("o1", lines(burger=2), T0)

    assert order.status is OrderStatus.READY
    assert [type(e) for e in ordering.pending] == [
        OrderPlaced, UnitAllocated, OrderStarted, UnitAllocated, OrderReady]


def test_one_unit_from_stock_puts_the_order_in_progress() -> None:
    ordering = ordering_with_stock(burger=1)

    order = ordering.place("o1", lines(burger=2), T0)

    assert order.status is OrderStatus.IN_PROGRESS
    assert [(r.item, r.quantity) for r in of_type(ordering.pending, KitchenUnitsRequested)] == [
        ("burger", 1)]


def test_work_started_in_the_kitchen_puts_the_order_in_progress() -> None:
    ordering = Ordering("main", fixed_menu())
    ordering.place("o1", lines(cola=1), T0)

    ordering.note_work_started("o1", T0)

    assert ordering.orders[1].status is OrderStatus.IN_PROGRESS


def test_work_started_again_does_not_move_the_order_back() -> None:
    ordering = Ordering("main", fixed_menu())
    ordering.place("o1", lines(cola=1), T0)
    ordering.receive_unit("cola", "p1", T0)
    ordering.mark_saved()

    ordering.note_work_started("o1", T0)
    ordering.note_work_started("no-such-order", T0)

    assert ordering.orders[1].status is OrderStatus.READY
    assert ordering.pending == []


def test_the_order_is_ready_only_when_its_last_unit_arrives() -> None:
    ordering = Ordering("main", fixed_menu())
    ordering.place("o1", lines(cola=2, salad=1), T0)

    statuses = []
    for name, unit in [("cola", "p1"), ("salad", "p2"), ("cola", "p3")]:
        ordering.receive_unit(name, unit, T0)
        statuses.append(ordering.orders[1].status)

    assert statuses == [OrderStatus.IN_PROGRESS, OrderStatus.IN_PROGRESS, OrderStatus.READY]


def test_a_ready_order_can_be_collected_once() -> None:
    ordering = ordering_with_stock(burger=1)
    ordering.place("o1", lines(burger=1), T0)

    collected = ordering.collect(1, T0)

    assert collected.status is OrderStatus.COLLECTED
    assert len(of_type(ordering.pending, OrderCollected)) == 1
    with pytest.raises(OrderNotReady, match="COLLECTED"):
        ordering.collect(1, T0)


def test_a_collected_order_leaves_memory_but_its_number_stays_taken() -> None:
    ordering = ordering_with_stock(burger=2)
    ordering.place("o1", lines(burger=1), T0)
    ordering.collect(1, T0)
    ordering.place("o2", lines(burger=1), T0)

    assert list(ordering.orders) == [2]
    assert ordering.order_by_id("o1") is None
    with pytest.raises(OrderNotReady, match="order 1 is COLLECTED"):
        ordering.collect(1, T0)
    with pytest.raises(UnknownOrder):
        ordering.collect(3, T0)
    with pytest.raises(UnknownOrder):
        ordering.collect(0, T0)


def test_an_order_still_in_preparation_cannot_be_collected() -> None:
    ordering = ordering_with_stock(burger=1)
    ordering.place("o1", lines(cola=1), T0)
    ordering.place("o2", lines(burger=1, cola=1), T0)

    for number in (1, 2):
        with pytest.raises(OrderNotReady):
            ordering.collect(number, T0)
    assert [o.status for o in ordering.orders.values()] == [
        OrderStatus.REQUESTED, OrderStatus.IN_PROGRESS]


def test_collecting_an_unknown_number_names_the_problem() -> None:
    with pytest.raises(UnknownOrder):
        Ordering("main", fixed_menu()).collect(42, T0)


@pytest.mark.parametrize(("order_lines", "field"), [
    ([], "items"),
    ([OrderLine("pizza", 1)], "items.0.item"),
    ([OrderLine("cola", 1), OrderLine("cola", 2)], "items.1.item"),
    ([OrderLine("cola", 0)], "items.0.quantity"),
    ([OrderLine("cola", 21)], "items.0.quantity"),
    ([OrderLine("cola", 20), OrderLine("salad", 20), OrderLine("burger", 11)], "items"),
])
def test_an_invalid_order_is_refused_and_records_nothing(order_lines: list[OrderLine],
                                                         field: str) -> None:
    ordering = Ordering("main", fixed_menu())

    with pytest.raises(InvalidOrder) as refused:
        ordering.place("o1", order_lines, T0)

    assert refused.value.field == field
    assert ordering.pending == [] and ordering.orders == {}
    assert ordering.place("o2", lines(cola=1), T0).number == 1  # no number was used up


def test_a_rebuilt_ordering_has_the_same_orders_and_stock() -> None:
    ordering = ordering_with_stock(burger=2)
    ordering.place("o1", lines(burger=1, cola=1), T0)
    ordering.place("o2", lines(burger=2), T0)
    ordering.receive_unit("cola", "p9", T0)
    events = ordering.pending

    rebuilt = Ordering("main", fixed_menu())
    rebuilt.stock.update(burger=2)  # what ordering_with_stock saved before ``events``
    for event in events:
        rebuilt.replay(event)

    assert {n: o.status for n, o in rebuilt.orders.items()} == {
        1: OrderStatus.READY, 2: OrderStatus.IN_PROGRESS}
    assert rebuilt.stock["burger"] == 0
    assert list(rebuilt.waiting["burger"]) == [2]
    assert rebuilt.version == len(events)
