"""Invariants over random days: random orders at random times, random collects of READY orders,
1-4 workers, stock target 0-4, FF.1 on or off, and (optionally) a random interleaving of the
events delivered between ordering and the kitchen, as two separate processes would see them."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from mcburger.application.simulator.simulation import Simulation
from mcburger.domain.events import (
    Event,
    OrderLine,
    OrderPlaced,
    PreparationStarted,
    UnitAllocated,
    UnitPrepared,
    UnitStocked,
)
from mcburger.domain.kitchen import KitchenSetup
from mcburger.domain.ordering import OrderStatus
from tests.support.invariants import check_log, check_quiet
from tests.unit.builders import default_menu, without_ids

MENU = default_menu()
FAVOURITES = [f.id for f in MENU.favorites]


@dataclass(frozen=True)
class Step:
    wait_seconds: float
    lines: tuple[OrderLine, ...]
    collect: int | None  # which READY order the next customer collects, if any


@dataclass(frozen=True)
class Day:
    setup: KitchenSetup
    seed: int
    interleave: int | None
    steps: tuple[Step, ...]


orders = st.dictionaries(st.sampled_from([i.id for i in MENU]), st.integers(1, 4),
                         min_size=1, max_size=3).map(
    lambda quantities: tuple(OrderLine(name, qty) for name, qty in quantities.items()))
steps = st.builds(Step, st.floats(0, 240), orders, st.none() | st.integers(0, 10))
setups = st.builds(KitchenSetup, workers=st.integers(1, 4), favorites_first=st.booleans(),
                   stock_target=st.integers(0, 4))
days = st.builds(Day, setups, st.integers(0, 2**32), st.none() | st.integers(0, 2**32),
                 st.lists(steps, max_size=25).map(tuple))


def live(day: Day, sim: Simulation | None = None) -> Simulation:
    """Play ``day`` (on ``sim``, or on a new simulation of it)."""
    if sim is None:
        interleave = None if day.interleave is None else random.Random(day.interleave)
        sim = Simulation(MENU, day.setup, day.seed, interleave=interleave)
    for step in day.steps:
        sim.advance(step.wait_seconds)
        sim.place(step.lines)
        ready = [n for n, o in sim.ordering.orders.items() if o.status is OrderStatus.READY]
        if step.collect is not None and ready:
            sim.collect(ready[step.collect % len(ready)])
    return sim


def check_workers(log: list[Event], workers: int) -> None:
    """Each of the N workers cooks one unit at a time."""
    busy: dict[int, str] = {}
    for event in log:
        if isinstance(event, PreparationStarted):
            assert 1 <= event.worker <= workers and event.worker not in busy
            busy[event.worker] = event.preparation_id
        elif isinstance(event, UnitPrepared):
            assert busy.pop(event.worker) == event.preparation_id


@settings(max_examples=150, deadline=None)
@given(day=days)
def test_every_rule_holds_at_every_point_and_the_kitchen_settles(day: Day) -> None:
    sim = live(day)
    check_log(sim.log)

    sim.run_until_quiet()

    check_quiet(sim.log, day.setup.stock_target, FAVOURITES)
    check_workers(sim.log, day.setup.workers)
    assert all(count >= 0 for count in sim.ordering.stock.values())


@settings(max_examples=100, deadline=None)
@given(day=days)
def test_nothing_is_made_twice_once_the_kitchen_settles(day: Day) -> None:
    sim = live(day)
    sim.run_until_quiet()

    made = Counter(e.item for e in sim.log if isinstance(e, PreparationStarted))
    ordered: Counter[str] = Counter()
    for placed in (e for e in sim.log if isinstance(e, OrderPlaced)):
        for line in placed.lines:
            ordered[line.item] += line.quantity
    stocked = Counter(e.item for e in sim.log if isinstance(e, UnitStocked))
    taken = Counter(e.item for e in sim.log
                    if isinstance(e, UnitAllocated) and e.source == "stock")
    for entry in MENU:
        # every unit made was either eaten or is still in stock at its target: no waste
        left = stocked[entry.id] - taken[entry.id]
        assert left == (day.setup.stock_target if entry.favorite else 0), entry.id
        assert made[entry.id] == ordered[entry.id] - taken[entry.id] + stocked[entry.id]


@settings(max_examples=40, deadline=None)
@given(day=days)
def test_the_same_day_and_seeds_give_the_same_log(day: Day) -> None:
    first, second = live(day), live(day)
    first.run_until_quiet()
    second.run_until_quiet()

    assert without_ids(first.log) == without_ids(second.log)
