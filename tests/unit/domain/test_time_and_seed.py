"""Rule 6: a speed factor shrinks kitchen time (speed 60: a 180 s burger takes 3 wall seconds);
a seed makes a run reproducible; the clock is a port, so tests move time by hand."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

from mcburger.adapters.clock import VirtualClock
from mcburger.application.simulator.simulation import Simulation
from mcburger.domain.events import Event, OrderReady, PreparationStarted, UnitPrepared
from mcburger.domain.kitchen import Kitchen, KitchenSetup
from mcburger.domain.menu import Menu
from tests.support.invariants import check_log
from tests.unit.builders import T0, default_menu, item, lines, of_type, without_ids


def busy_day(seed: int, speed: float = 1.0, interleave: int | None = None) -> list[Event]:
    sim = Simulation(default_menu(), KitchenSetup(workers=3, speed=speed), seed=seed,
                     interleave=None if interleave is None else random.Random(interleave))
    customers = random.Random(99)  # the same customers for every run
    for _ in range(25):
        sim.place(lines(**{customers.choice(["hamburger", "fries", "nuggets", "cola"]): 2}))
        sim.advance(customers.uniform(0, 120) / speed)
        ready = [n for n, o in sim.ordering.orders.items() if o.status == "READY"]
        if ready:
            sim.collect(ready[0])
    sim.run_until_quiet()
    return sim.log


def test_speed_60_makes_a_180_second_burger_take_3_seconds() -> None:
    menu = Menu([item("burger", 180, favorite=True)])
    sim = Simulation(menu, KitchenSetup(workers=1, stock_target=0, speed=60), seed=1)
    sim.place(lines(burger=1))

    sim.run_until_quiet()

    assert [s.duration_seconds for s in of_type(sim.log, PreparationStarted)] == [3.0]
    assert of_type(sim.log, UnitPrepared)[0].occurred_at == T0 + timedelta(seconds=3)
    assert of_type(sim.log, OrderReady)[0].occurred_at == T0 + timedelta(seconds=3)


def test_wall_durations_are_the_sampled_kitchen_time_divided_by_the_speed() -> None:
    slow = of_type(busy_day(seed=4, speed=1), PreparationStarted)[:20]
    fast = of_type(busy_day(seed=4, speed=60), PreparationStarted)[:20]

    assert [s.item for s in slow] == [f.item for f in fast]
    for kitchen_time, wall in zip(slow, fast, strict=True):
        assert abs(wall.duration_seconds - kitchen_time.duration_seconds / 60) < 1e-9
    hamburgers = [f.duration_seconds for f in fast if f.item == "hamburger"]
    assert hamburgers and all(2.5 <= d <= 3.5 for d in hamburgers)


def test_the_same_seed_gives_the_same_log_apart_from_event_ids() -> None:
    first, second = busy_day(seed=21), busy_day(seed=21)

    assert without_ids(first) == without_ids(second)
    assert {e.event_id for e in first}.isdisjoint(e.event_id for e in second)
    check_log(first)


def test_the_same_seeds_give_the_same_log_when_delivery_is_interleaved() -> None:
    assert without_ids(busy_day(seed=8, interleave=3)) == without_ids(
        busy_day(seed=8, interleave=3))


def test_another_seed_gives_other_preparation_times() -> None:
    def durations(seed: int) -> list[float]:
        return [s.duration_seconds for s in of_type(busy_day(seed), PreparationStarted)]

    assert durations(1) != durations(2)


def test_a_kitchen_rebuilt_from_its_log_samples_the_same_times() -> None:
    # Times are seeded per preparation, not by a generator's position, so a kitchen rebuilt
    # after a crash draws exactly what the lost process would have drawn.
    sim = Simulation(default_menu(), KitchenSetup(workers=2), seed=6)
    sim.place(lines(nuggets=3, cola=2))
    sim.advance(100)
    rebuilt = Kitchen("main", default_menu(), seed=6)
    for event in sim.log:
        if event.CATEGORY == "kitchen":
            rebuilt.replay(event)
        else:
            rebuilt.observe(event)
    due = sim.kitchen.next_finish()
    assert due is not None and rebuilt.next_finish() == due

    for kitchen in (sim.kitchen, rebuilt):
        kitchen.finish_due(due)
        kitchen.assign_work(due)

    assert of_type(sim.kitchen.pending, PreparationStarted), "the test needs a new preparation"
    assert without_ids(sim.kitchen.pending) == without_ids(rebuilt.pending)


async def test_the_virtual_clock_only_moves_when_told_and_wakes_sleepers_in_order() -> None:
    clock = VirtualClock(T0)
    woken: list[int] = []

    async def sleeper(seconds: int) -> None:
        await clock.sleep_until(T0 + timedelta(seconds=seconds))
        woken.append(seconds)

    tasks = [asyncio.create_task(sleeper(s)) for s in (30, 10, 20)]
    await asyncio.sleep(0)
    assert clock.now() == T0 and clock.next_deadline() == T0 + timedelta(seconds=10)

    clock.advance(20)
    await asyncio.sleep(0)
    assert woken == [10, 20]
    clock.advance_to(T0)  # time never goes back
    assert clock.now() == T0 + timedelta(seconds=20)
    clock.advance(10)
    await asyncio.gather(*tasks)
    assert woken == [10, 20, 30]


async def test_sleeping_until_a_past_deadline_returns_at_once() -> None:
    clock = VirtualClock(T0)

    await asyncio.wait_for(clock.sleep_until(T0 - timedelta(seconds=1)), timeout=1)

    assert clock.next_deadline() is None
