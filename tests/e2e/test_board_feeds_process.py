"""``mcburger serve board-feeds``: the board's screens served by processes of their own, beside an
embedded ``mcburger run`` whose read models they follow, several on one port."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.board_feeds import all_connected, all_saw_ready, start_feeds, stop_feeds
from tests.e2e.helpers import place_orders, wait_all_ready, wait_until
from tests.e2e.processes import CLEAN_EXIT, STARTUP_TIMEOUT, Launcher
from tests.support.servers import STAFF, free_port

pytestmark = pytest.mark.e2e


async def test_board_feeds_processes_on_one_port_show_every_order_of_an_embedded_run(
        launch: Launcher) -> None:
    restaurant = launch("--speed", "200", "--workers", "2", "--seed", "5")
    port = free_port()
    # Two on one port (SO_REUSEPORT): the second would fail to bind without it
    first = launch.start(["serve", "board-feeds"], data_dir=restaurant.data_dir,
                         name="board-feeds", port=port)
    second = launch.start(["serve", "board-feeds"], data_dir=restaurant.data_dir,
                          name="board-feeds", port=port)
    assert second.running(), second.log_tail()
    # Three screens of each transport: the kernel spreads their connections over both
    screens = [feed for _ in range(3) for feed in start_feeds(first.url, first.ws_url)]
    try:
        async with (httpx.AsyncClient(headers=STAFF, base_url=restaurant.url,
                                      timeout=15.0) as client,
                    httpx.AsyncClient(headers=STAFF, base_url=first.url,
                                      timeout=15.0) as feeds):
            await wait_until(lambda: all_connected(screens), 20.0, "every screen connected")
            placed = await place_orders(client, 12, seed=5, pace=(0.05, 0.2))
            numbers = [order["number"] for order in placed]
            await wait_all_ready(client, numbers, timeout=120.0)
            await wait_until(lambda: all_saw_ready(screens, set(numbers)), 30.0,
                             "every screen saw every order READY")
            for screen in screens:
                screen.check_changes_in_order()
            board = (await client.get("/board")).json()
            assert (await feeds.get("/board")).json() == board

            # The board's page is there; nothing that takes an order or shows staff pages is
            assert (await feeds.get("/board/")).status_code == 200
            for method, path in (("POST", "/orders"), ("GET", "/orders/1"), ("GET", "/"),
                                 ("GET", "/analytics/"), ("GET", "/analytics/summary")):
                response = await feeds.request(method, path, json={
                    "items": [{"item": "cola", "quantity": 1}]} if method == "POST" else None)
                assert response.status_code == 404, (method, path, response.status_code)
            health = (await feeds.get("/healthz")).json()
            assert health["status"] == "ok" and health["roles"] == ["board-feeds"], health
            assert health["consumer_lag"] == {}, "a board-feeds process runs no consumer"
    finally:
        await stop_feeds(screens)
    for server in (first, second, restaurant):
        assert server.stop() in CLEAN_EXIT, server.log_tail()
        assert "ERROR" not in server.log_tail(), server.log_tail()


def test_board_feeds_refuses_a_data_directory_without_a_restaurant(tmp_path: Path) -> None:
    empty = tmp_path / "typo"
    done = subprocess.run(
        [sys.executable, "-m", "mcburger", "serve", "board-feeds", "--data-dir", str(empty),
         "--host", "127.0.0.1", "--port", str(free_port())],
        capture_output=True, text=True, timeout=STARTUP_TIMEOUT, stdin=subprocess.DEVNULL)
    assert done.returncode == 1, done
    assert f"no read models at {empty / 'readmodels.db'}" in done.stderr, done.stderr
    assert "mcburger run --data-dir" in done.stderr
    assert not empty.exists(), "nothing is created for a restaurant that is not there"
