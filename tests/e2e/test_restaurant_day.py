"""A busy stretch of a restaurant day, end to end: real process, real HTTP, three board screens,
then the invariants checked on the process's own event log."""

from __future__ import annotations

import httpx
import pytest

from mcburger.domain.events import OrderPlaced
from tests.e2e.board_feeds import all_connected, all_saw_ready, start_feeds, stop_feeds
from tests.e2e.helpers import (
    STOCK_TARGET,
    configured_kitchen,
    place_orders,
    read_log,
    wait_all_ready,
    wait_quiet,
    wait_until,
)
from tests.e2e.processes import CLEAN_EXIT, Launcher, Server
from tests.support.invariants import check_quiet
from tests.support.servers import STAFF

pytestmark = pytest.mark.e2e


async def check_process_log(server: Server, favourite_ids: list[str], orders: int) -> None:
    """Stop the process, then check the invariants on what it wrote."""
    assert server.stop() in CLEAN_EXIT, "mcburger did not shut down cleanly on SIGTERM"
    events = await read_log(server.events_db)
    assert sum(isinstance(e, OrderPlaced) for e in events) == orders
    check_quiet(events, STOCK_TARGET, favourite_ids)


async def test_thirty_orders_reach_every_board_and_the_log_holds(launch: Launcher) -> None:
    server = launch("--speed", "200", "--workers", "2", "--seed", "7")
    feeds = start_feeds(server.url, server.ws_url)
    try:
        async with httpx.AsyncClient(headers=STAFF, base_url=server.url, timeout=15.0) as client:
            await wait_until(lambda: all_connected(feeds), 20.0, "every board client connected")
            placed = await place_orders(client, 30, seed=7, pace=(0.1, 0.3))
            numbers = [order["number"] for order in placed]
            await wait_all_ready(client, numbers, timeout=150.0)
            favourite_ids = await wait_quiet(client)

            await wait_until(lambda: all_saw_ready(feeds, set(numbers)), 30.0,
                             "every board client saw every order READY")
            for feed in feeds:
                feed.check_changes_in_order()
            board = (await client.get("/board")).json()
            assert board["ready"] == numbers, "the board lists the READY orders, oldest first"
            assert board["requested"] == board["in_progress"] == []
    finally:
        await stop_feeds(feeds)
    await check_process_log(server, favourite_ids, orders=30)


async def test_favourites_first_keeps_the_same_invariants(launch: Launcher) -> None:
    server = launch("--speed", "1000", "--workers", "2", "--seed", "11", "--favorites-first")
    async with httpx.AsyncClient(headers=STAFF, base_url=server.url, timeout=15.0) as client:
        kitchen = await configured_kitchen(client)
        assert kitchen["favorites_first"] is True
        assert len(kitchen["workers"]) == 2
        placed = await place_orders(client, 10, seed=11, pace=(0.02, 0.08))
        await wait_all_ready(client, [o["number"] for o in placed], timeout=60.0)
        favourite_ids = await wait_quiet(client)
    await check_process_log(server, favourite_ids, orders=10)
