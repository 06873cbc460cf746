"""The upgrade path (issue 10): a data directory written by a release opens with this code and
keeps working, through a clean restart and through ``kill -9``.

Each ``tests/fixtures/datadir-<commit>/`` was written by that release with
``tests/fixtures/make_datadir.py``; its ``orders.json`` says what every order was at the stop.
The test runs on a copy, against every such directory.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.helpers import RANK, place, statuses, wait_all_ready, wait_until
from tests.e2e.processes import CLEAN_EXIT, Launcher
from tests.support.servers import STAFF

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RELEASES = sorted(path.parent for path in FIXTURES.glob("datadir-*/orders.json"))
FLAGS = ("--speed", "200", "--workers", "2", "--seed", "7")  # as the fixtures were written
OPEN = ("REQUESTED", "IN_PROGRESS")
WAIT = 60.0  # bounds every wait for the kitchen; at --speed 200 it needs a few seconds
# Items never kept in stock, so the kitchen is busy when the server is killed.
RUSH = [{"items": [{"item": "chicken-wrap", "quantity": 3}, {"item": "salad", "quantity": 1}]},
        {"items": [{"item": "nuggets", "quantity": 3}]},
        {"items": [{"item": "ice-cream", "quantity": 2}, {"item": "hamburger", "quantity": 1}]}]


@dataclass(frozen=True)
class Written:
    """A copy of a data directory a release wrote, and its orders as they were at the stop."""

    data_dir: Path
    orders: dict[int, dict[str, Any]]

    def numbers(self, *wanted: str) -> list[int]:
        return [n for n, order in self.orders.items() if order["status"] in wanted]

    @property
    def last(self) -> int:
        return max(self.orders)


@pytest.fixture(params=RELEASES, ids=lambda path: path.name)
def written(request: pytest.FixtureRequest, tmp_path: Path) -> Written:
    release: Path = request.param
    data_dir = tmp_path / f"{release.name}-copy"
    data_dir.mkdir()
    for database in release.glob("*.db*"):  # with any -wal / -shm the release left
        shutil.copy2(database, data_dir / database.name)
    listed = json.loads((release / "orders.json").read_text())["orders"]
    return Written(data_dir, {order["number"]: order for order in listed})


def test_there_is_a_data_directory_of_a_release() -> None:
    assert RELEASES, f"no datadir-*/orders.json under {FIXTURES}: the upgrade tests test nothing"


async def test_a_release_directory_opens_keeps_its_orders_and_takes_new_ones(
        launch: Launcher, written: Written) -> None:
    collected, ready = written.numbers("COLLECTED"), written.numbers("READY")
    still_open = written.numbers(*OPEN)
    assert collected and ready and still_open, "the fixture lacks a kind of order"
    new = written.last + 1

    upgraded = launch(*FLAGS, data_dir=written.data_dir, name="upgraded")
    async with httpx.AsyncClient(headers=STAFF, base_url=upgraded.url, timeout=15.0) as client:
        await _assert_kept(client, written)
        await wait_all_ready(client, still_open, timeout=WAIT)
        for number in collected:
            answer = await client.post(f"/orders/{number}/collect")
            assert answer.status_code == 409, f"collecting {number} again: {answer.text}"
        unknown = await client.get(f"/orders/{written.last + 1000}")
        assert unknown.status_code == 404, unknown.text

        assert (await place(client, RUSH[0]))["number"] == new, "numbering restarted"
        await wait_all_ready(client, [new], timeout=WAIT)
        await _assert_board_ready(client, [*ready, *still_open, new])
    assert upgraded.stop() in CLEAN_EXIT

    restarted = launch(*FLAGS, data_dir=written.data_dir, name="restarted")
    async with httpx.AsyncClient(headers=STAFF, base_url=restarted.url, timeout=15.0) as client:
        now = await statuses(client, [*written.orders, new])
        assert {n for n, s in now.items() if s == "COLLECTED"} == set(collected)
        assert {n for n, s in now.items() if s != "COLLECTED"} == {*ready, *still_open, new}
        assert {now[n] for n in [*ready, *still_open, new]} == {"READY"}
        assert (await place(client, RUSH[1]))["number"] == new + 1, "numbering restarted"
        await wait_all_ready(client, [new + 1], timeout=WAIT)
    assert restarted.stop() in CLEAN_EXIT


async def test_kill_9_of_the_upgraded_server_keeps_every_accepted_order(
        launch: Launcher, written: Written) -> None:
    upgraded = launch(*FLAGS, data_dir=written.data_dir, name="upgraded")
    async with httpx.AsyncClient(headers=STAFF, base_url=upgraded.url, timeout=15.0) as client:
        accepted = {**written.orders}
        for body in RUSH:
            order = await place(client, body)
            accepted[order["number"]] = order
        rush = list(accepted)[len(written.orders):]
        assert rush == list(range(written.last + 1, written.last + 1 + len(RUSH)))
        before = await wait_until(lambda: _mid_rush(client, list(accepted), rush), WAIT,
                                  "a worker is busy and a new order is not READY")
    upgraded.kill_hard()
    assert upgraded.process.returncode == -9

    restarted = launch(*FLAGS, data_dir=written.data_dir, name="after-kill")
    async with httpx.AsyncClient(headers=STAFF, base_url=restarted.url, timeout=15.0) as client:
        listed = {o["number"]: o for o in (await client.get("/orders")).json()["orders"]}
        assert sorted(listed) == sorted(accepted), "accepted orders lost (or invented) by kill -9"
        for number, status in before.items():
            assert RANK[listed[number]["status"]] >= RANK[status], (
                f"order {number} went from {status} back to {listed[number]['status']}")
            assert _lines(listed[number]) == _lines(accepted[number]), f"order {number} changed"
        waiting = [n for n, order in listed.items() if order["status"] != "COLLECTED"]
        await wait_all_ready(client, waiting, timeout=WAIT)
        after = await place(client, RUSH[2])
        assert after["number"] == written.last + len(RUSH) + 1, "numbering restarted"
        await wait_all_ready(client, [after["number"]], timeout=WAIT)
    assert restarted.stop() in CLEAN_EXIT


async def _assert_kept(client: httpx.AsyncClient, written: Written) -> None:
    """Every order of the release still answers, with its lines; none went back. Orders the
    release left open may have moved on since (the kitchen resumes at start)."""
    for number, was in written.orders.items():
        answer = await client.get(f"/orders/{number}")
        assert answer.status_code == 200, f"order {number}: {answer.status_code} {answer.text}"
        order = answer.json()
        assert _lines(order) == _lines(was), f"order {number}'s lines changed"
        if was["status"] in OPEN:
            assert RANK[order["status"]] >= RANK[was["status"]], f"order {number} went back"
            assert order["status"] != "COLLECTED", f"order {number} collected by nobody"
        else:
            assert order["status"] == was["status"], f"order {number} was {was['status']}"


async def _assert_board_ready(client: httpx.AsyncClient, ready: list[int]) -> None:
    """``GET /board`` lists exactly ``ready`` as READY, and nothing as waiting."""
    async def board() -> dict[str, Any]:
        answer = await client.get("/board")
        assert answer.status_code == 200, answer.text
        document: dict[str, Any] = answer.json()
        return document

    async def lists_them() -> bool:
        return sorted((await board())["ready"]) == sorted(ready)

    await wait_until(lists_them, 15.0, f"GET /board lists {sorted(ready)} as READY")
    snapshot = await board()
    assert snapshot["requested"] == snapshot["in_progress"] == [], snapshot


async def _mid_rush(client: httpx.AsyncClient, numbers: list[int],
                    rush: list[int]) -> dict[int, str] | None:
    """Every order's status while a worker is busy and a rush order is not READY, else None."""
    kitchen = (await client.get("/kitchen")).json()
    now = await statuses(client, numbers)
    busy = any(worker["state"] == "busy" for worker in kitchen["workers"])
    return now if busy and any(now[n] != "READY" for n in rush) else None


def _lines(order: dict[str, Any]) -> list[tuple[str, int]]:
    return [(line["item"], line["quantity"]) for line in order["items"]]
