"""``kill -9`` in the middle of a rush: nothing accepted is lost, nothing goes back, and the
restarted restaurant finishes every order with the log's invariants intact."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.helpers import (
    RANK,
    STOCK_TARGET,
    place,
    place_orders,
    read_log,
    statuses,
    wait_all_ready,
    wait_quiet,
    wait_until,
)
from tests.e2e.processes import CLEAN_EXIT, Launcher
from tests.support.invariants import check_quiet
from tests.support.servers import STAFF

pytestmark = pytest.mark.e2e

ORDERS = 8


async def _mid_rush(client: httpx.AsyncClient, numbers: list[int]) -> dict[str, Any] | None:
    """The kitchen and the orders while a worker is busy and an order is not READY, else None."""
    kitchen = (await client.get("/kitchen")).json()
    now = await statuses(client, numbers)
    busy = any(worker["state"] == "busy" for worker in kitchen["workers"])
    waiting = any(status != "READY" for status in now.values())
    return {"statuses": now, "kitchen": kitchen} if busy and waiting else None


async def test_every_order_survives_kill_9_and_is_finished_after_restart(
        launch: Launcher) -> None:
    flags = ("--speed", "120", "--workers", "2", "--seed", "3")
    first = launch(*flags, name="before-kill")
    async with httpx.AsyncClient(headers=STAFF, base_url=first.url, timeout=15.0) as client:
        placed = await place_orders(client, ORDERS, seed=3, pace=(0.0, 0.05), most=2)
        numbers = [order["number"] for order in placed]
        seen = await wait_until(lambda: _mid_rush(client, numbers), 30.0,
                                "a worker is busy and an order is not READY")
    before: dict[int, str] = seen["statuses"]
    first.kill_hard()
    assert first.process.returncode == -9

    second = launch(*flags, data_dir=first.data_dir, name="after-kill")
    async with httpx.AsyncClient(headers=STAFF, base_url=second.url, timeout=15.0) as client:
        listed = {o["number"]: o for o in (await client.get("/orders")).json()["orders"]}
        assert sorted(listed) == numbers, "accepted orders lost (or invented) by kill -9"
        for number, status in before.items():
            assert RANK[listed[number]["status"]] >= RANK[status], (
                f"order {number} went from {status} back to {listed[number]['status']}")
        for order in placed:
            assert _lines(listed[order["number"]]) == _lines(order), "an order's lines changed"

        await wait_all_ready(client, numbers, timeout=90.0)
        favourite_ids = await wait_quiet(client, timeout=90.0)
        after = await place(client, {"items": [{"item": "cola", "quantity": 1}]})
        assert after["number"] == ORDERS + 1, "numbering restarted after the crash"
        await wait_all_ready(client, [after["number"]], timeout=30.0)
        await wait_quiet(client)
    assert second.stop() in CLEAN_EXIT
    check_quiet(await read_log(second.events_db), STOCK_TARGET, favourite_ids)


def _lines(order: dict[str, Any]) -> list[tuple[str, int]]:
    return [(line["item"], line["quantity"]) for line in order["items"]]
