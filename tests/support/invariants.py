"""Invariants checked on an event log, whoever wrote it: the simulator, or a real process's
SQLite store. Each check raises AssertionError naming the first event that breaks it."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence

from mcburger.domain.events import (
    Event,
    KitchenUnitsRequested,
    OrderCollected,
    OrderPlaced,
    OrderReady,
    OrderStarted,
    PreparationStarted,
    UnitAllocated,
    UnitPrepared,
    UnitQueued,
    UnitStocked,
)

STATUS_STEPS = {OrderPlaced: 0, OrderStarted: 1, OrderReady: 2, OrderCollected: 3}


def check_log(events: Sequence[Event]) -> None:
    """Every rule that must hold at every point of any log."""
    stock: Counter[str] = Counter()
    waiting: dict[str, deque[int]] = {}
    wanted: dict[int, Counter[str]] = {}
    allocated: dict[int, Counter[str]] = {}
    step: dict[int, int] = {}
    prepared: set[str] = set()
    handed_on: set[str] = set()
    queued: list[str] = []
    started_requests: list[str] = []
    for index, event in enumerate(events):
        where = f"event #{index} {event.TYPE}"
        if type(event) in STATUS_STEPS:
            number = event.number  # type: ignore[attr-defined]
            new = STATUS_STEPS[type(event)]
            assert new == step.get(number, -1) + 1, (
                f"{where}: status of {number} skipped or went back")
            step[number] = new
        match event:
            case OrderPlaced():
                wanted[event.number] = Counter({line.item: line.quantity for line in event.lines})
                allocated[event.number] = Counter()
            case KitchenUnitsRequested():
                waiting.setdefault(event.item, deque()).extend([event.number] * event.quantity)
            case UnitAllocated():
                allocated[event.number][event.item] += 1
                assert allocated[event.number][event.item] <= wanted[event.number][event.item], (
                    f"{where}: order {event.number} got more {event.item} than it ordered")
                if event.source == "stock":
                    stock[event.item] -= 1
                    assert stock[event.item] >= 0, f"{where}: stock of {event.item} below zero"
                else:
                    head = waiting[event.item][0]
                    assert event.number == head, (
                        f"{where}: unit went to order {event.number}, oldest waiting is {head}")
                    waiting[event.item].popleft()
                    assert event.unit_id in prepared, f"{where}: unit {event.unit_id} not prepared"
                    assert event.unit_id not in handed_on, f"{where}: unit {event.unit_id} twice"
                    handed_on.add(event.unit_id or "")
            case UnitStocked():
                assert event.unit_id in prepared, f"{where}: unit {event.unit_id} not prepared"
                assert event.unit_id not in handed_on, f"{where}: unit {event.unit_id} twice"
                assert not waiting.get(event.item), (
                    f"{where}: {event.item} stocked while order {waiting[event.item][0]} waits")
                handed_on.add(event.unit_id)
                stock[event.item] += 1
            case OrderReady():
                assert allocated[event.number] == wanted[event.number], (
                    f"{where}: order {event.number} READY with units missing")
            case UnitQueued():
                queued.append(event.request_id)
            case PreparationStarted(request_id=str() as request_id):
                started_requests.append(request_id)
                assert started_requests == queued[: len(started_requests)], (
                    f"{where}: kitchen started {request_id} out of FIFO order")
            case UnitPrepared():
                prepared.add(event.preparation_id)


def check_quiet(events: Sequence[Event], stock_target: int, favourites: Sequence[str]) -> None:
    """Once the kitchen is quiet: every order READY or COLLECTED, favourites back at target."""
    check_log(events)
    status: dict[int, int] = {}
    stock: Counter[str] = Counter()
    for event in events:
        if type(event) in STATUS_STEPS:
            status[event.number] = STATUS_STEPS[type(event)]  # type: ignore[attr-defined]
        if isinstance(event, UnitStocked):
            stock[event.item] += 1
        if isinstance(event, UnitAllocated) and event.source == "stock":
            stock[event.item] -= 1
    not_ready = sorted(number for number, step in status.items() if step < 2)
    assert not not_ready, f"orders never READY: {not_ready}"
    for item in favourites:
        assert stock[item] == stock_target, f"{item}: stock {stock[item]}, target {stock_target}"
