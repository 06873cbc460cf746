"""What the e2e tests do again and again: wait for behaviour, place orders, read the log."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

from mcburger.adapters.eventstore.sqlite import SQLiteEventStore
from mcburger.application.ports import EventStore
from mcburger.domain.events import Event

T = TypeVar("T")

STOCK_TARGET = 3  # the default --stock-target
RANK = {"REQUESTED": 0, "IN_PROGRESS": 1, "READY": 2, "COLLECTED": 3}


async def wait_until(predicate: Callable[[], Awaitable[T | None]], timeout: float,
                     what: str, interval: float = 0.1) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = await predicate()
    while last is None or not last:
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting until {what}; "
                                 f"last value: {last!r}")
        await asyncio.sleep(interval)
        last = await predicate()
    return last


async def read_log(path: Path) -> list[Event]:
    """Every event of a (stopped) process's SQLite store, in log order."""
    return await events_in(await SQLiteEventStore.open(path))


async def events_in(store: EventStore) -> list[Event]:
    """Every event of ``store``, in log order; closes the store."""
    try:
        events: list[Event] = []
        position = 0
        while batch := await store.read_all(position, 500):
            events.extend(record.event for record in batch)
            position = batch[-1].position
        return events
    finally:
        await store.close()


async def favourites(client: httpx.AsyncClient) -> list[str]:
    menu = (await client.get("/menu")).json()["items"]
    return [item["id"] for item in menu if item["favorite"]]


async def configured_kitchen(client: httpx.AsyncClient, timeout: float = 20.0) -> dict[str, Any]:
    """``GET /kitchen`` once the views have projected the kitchen's start-up configuration."""
    async def kitchen() -> dict[str, Any] | None:
        document: dict[str, Any] = (await client.get("/kitchen")).json()
        return document if document["workers"] else None

    return await wait_until(kitchen, timeout, "GET /kitchen lists the workers")


async def kitchen_quiet_and_stocked(client: httpx.AsyncClient, favourite_ids: list[str],
                                    target: int = STOCK_TARGET) -> bool:
    """No busy worker, nothing queued, and every favourite at ``target`` in stock."""
    kitchen = (await client.get("/kitchen")).json()
    if kitchen["queue"] or any(w["state"] == "busy" for w in kitchen["workers"]):
        return False
    stock = (await client.get("/stock")).json()["items"]
    return all(stock[item] == target for item in favourite_ids)


async def wait_quiet(client: httpx.AsyncClient, timeout: float = 60.0) -> list[str]:
    """Wait until the kitchen is quiet with every favourite at target; returns the favourites."""
    favourite_ids = await favourites(client)
    assert favourite_ids, "the built-in menu has favourites"
    await wait_until(lambda: kitchen_quiet_and_stocked(client, favourite_ids), timeout,
                     f"the kitchen is quiet and {favourite_ids} are at {STOCK_TARGET}")
    return favourite_ids


def random_order(rng: random.Random, menu_ids: list[str], most: int = 3) -> dict[str, Any]:
    """1 to ``most`` distinct menu items, 1 to ``most`` of each."""
    items = rng.sample(menu_ids, rng.randint(1, most))
    return {"items": [{"item": item, "quantity": rng.randint(1, most)} for item in items]}


async def place(client: httpx.AsyncClient, body: dict[str, Any],
                estimated: bool = True) -> dict[str, Any]:
    """POST one order; check the answer is the accepted order, with an estimate if
    ``estimated`` (embedded: read-your-writes; a distributed api answers before analytics)."""
    response = await client.post("/orders", json=body)
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    lines = [{"item": line["item"], "quantity": line["quantity"]} for line in order["items"]]
    assert lines == body["items"], "the order does not echo what was asked"
    assert order["status"] in {"REQUESTED", "IN_PROGRESS", "READY"}
    if estimated:
        assert order["estimated_ready_at"] is not None, f"no estimate in {order}"
        estimate = datetime.fromisoformat(order["estimated_ready_at"])
        assert estimate >= datetime.fromisoformat(order["placed_at"])
    return order


async def place_orders(client: httpx.AsyncClient, count: int, seed: int,
                       pace: tuple[float, float], most: int = 3,
                       estimated: bool = True) -> list[dict[str, Any]]:
    """Place ``count`` seeded random orders at a customer's pace (a fresh restaurant)."""
    rng = random.Random(seed)
    menu_ids = [item["id"] for item in (await client.get("/menu")).json()["items"]]
    placed = []
    for _ in range(count):
        placed.append(await place(client, random_order(rng, menu_ids, most), estimated))
        await asyncio.sleep(rng.uniform(*pace))  # customers arrive at a steady pace
    numbers = [order["number"] for order in placed]
    assert numbers == list(range(1, count + 1)), f"order numbers not consecutive: {numbers}"
    return placed


async def statuses(client: httpx.AsyncClient, numbers: list[int]) -> dict[int, str]:
    answers = await asyncio.gather(*(client.get(f"/orders/{n}") for n in numbers))
    for number, answer in zip(numbers, answers, strict=True):
        assert answer.status_code == 200, f"order {number}: {answer.status_code} {answer.text}"
    return {n: a.json()["status"] for n, a in zip(numbers, answers, strict=True)}


async def wait_all_ready(client: httpx.AsyncClient, numbers: list[int], timeout: float) -> None:
    async def all_ready() -> bool:
        answers = await asyncio.gather(*(client.get(f"/orders/{n}") for n in numbers))
        for number, answer in zip(numbers, answers, strict=True):
            # 404: not on the views yet (a distributed api answers before the board has it)
            assert answer.status_code in (200, 404), f"order {number}: {answer.text}"
        return all(a.status_code == 200 and a.json()["status"] == "READY" for a in answers)

    await wait_until(all_ready, timeout, f"orders {numbers} are all READY")
