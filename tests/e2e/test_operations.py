"""What operators and integrators rely on: metrics, the API description, the long-poll timeout,
and configuration from the environment."""

from __future__ import annotations

import contextlib
import json
import re
import time

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.e2e.helpers import configured_kitchen, place, wait_quiet, wait_until
from tests.e2e.processes import Launcher
from tests.support.servers import STAFF

pytestmark = pytest.mark.e2e


def _metric(text: str, name: str) -> float | None:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return None if match is None else float(match.group(1))


async def test_metrics_count_the_orders_placed(launch: Launcher) -> None:
    server = launch("--speed", "1000", "--workers", "2", "--seed", "1")
    async with httpx.AsyncClient(headers=STAFF, base_url=server.url, timeout=15.0) as client:
        for item in ("cola", "salad", "hamburger"):
            await place(client, {"items": [{"item": item, "quantity": 1}]})

        async def placed_total() -> float | None:
            response = await client.get("/metrics")
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/plain")
            return _metric(response.text, "mcburger_orders_placed_total")

        total = await wait_until(placed_total, 10.0, "/metrics shows the orders placed")
        assert total == 3.0

        async def colas_prepared() -> float | None:  # a labelled counter, one cola ordered
            text = (await client.get("/metrics")).text
            return _metric(text, 'mcburger_units_prepared_total{item="cola"}')

        assert await wait_until(colas_prepared, 10.0, "/metrics counts the cola made") == 1.0
        text = (await client.get("/metrics")).text
        assert "# TYPE mcburger_orders_placed_total counter" in text


async def test_the_api_describes_itself(launch: Launcher) -> None:
    server = launch("--speed", "1000")
    async with httpx.AsyncClient(headers=STAFF, base_url=server.url, timeout=15.0) as client:
        spec = (await client.get("/openapi.json")).json()
        assert {"/orders", "/orders/{number}", "/board/poll"} <= set(spec["paths"])
        assert "post" in spec["paths"]["/orders"]
        docs = await client.get("/docs")
        assert docs.status_code == 200
        assert docs.headers["content-type"].startswith("text/html")
        assert "<html" in docs.text.lower()
        live = await client.get("/livez")  # a liveness probe: answers, checks nothing
        assert (live.status_code, live.json()) == (200, {"status": "ok"})


async def test_long_poll_without_changes_waits_then_returns_nothing(launch: Launcher) -> None:
    server = launch("--speed", "1000")
    async with httpx.AsyncClient(headers=STAFF, base_url=server.url, timeout=15.0) as client:
        await wait_quiet(client)
        version = (await client.get("/board")).json()["version"]
        started = time.monotonic()
        response = await client.get("/board/poll", params={"since": version, "timeout": 1})
        waited = time.monotonic() - started
        assert response.status_code == 200
        assert response.json() == []
        assert 0.8 <= waited < 10.0, f"a 1 s long poll answered after {waited:.2f} s"


async def test_a_change_ends_a_long_poll_early(launch: Launcher) -> None:
    server = launch("--speed", "1000")
    async with httpx.AsyncClient(headers=STAFF, base_url=server.url, timeout=15.0) as client:
        await wait_quiet(client)
        version = (await client.get("/board")).json()["version"]
        order = await place(client, {"items": [{"item": "cola", "quantity": 1}]})
        started = time.monotonic()
        response = await client.get("/board/poll", params={"since": version, "timeout": 30})
        assert time.monotonic() - started < 10.0
        changes = response.json()
        assert changes and changes[0]["number"] == order["number"]
        assert changes[0]["status"] == "REQUESTED"
        assert all(change["version"] > version for change in changes)


async def _worker_count(url: str) -> int:
    async with httpx.AsyncClient(headers=STAFF, base_url=url, timeout=15.0) as client:
        return len((await configured_kitchen(client))["workers"])


async def test_workers_come_from_the_environment(launch: Launcher) -> None:
    server = launch("--speed", "1000", env={"MCBURGER_WORKERS": "4"})
    assert await _worker_count(server.url) == 4


async def test_the_flag_wins_over_the_environment(launch: Launcher) -> None:
    server = launch("--speed", "1000", "--workers", "2", env={"MCBURGER_WORKERS": "4"})
    assert await _worker_count(server.url) == 2


async def test_requests_are_not_logged_one_line_each_unless_asked(launch: Launcher) -> None:
    quiet = launch("--speed", "1000")
    chatty = launch("--speed", "1000", "--access-log")
    for server in (quiet, chatty):
        async with httpx.AsyncClient(headers=STAFF, base_url=server.url, timeout=15.0) as client:
            assert (await client.get("/menu")).status_code == 200
        async with connect(f"{server.ws_url}/board/ws") as screen:  # a board screen too
            await screen.recv()
        server.stop()

    for line in ('"GET /menu HTTP/1.1" 200', '"WebSocket /board/ws" [accepted]'):
        assert line not in quiet.log_path.read_text("utf-8"), line
        assert line in chatty.log_path.read_text("utf-8"), line


async def test_health_counts_the_board_clients_and_forgets_those_that_left(
        launch: Launcher) -> None:
    server = launch("--speed", "1000")
    async with httpx.AsyncClient(headers=STAFF, base_url=server.url, timeout=15.0) as client:

        async def board() -> dict[str, int]:
            found: dict[str, int] = (await client.get("/healthz")).json()["board"]
            return found

        async with client.stream("GET", "/board/events") as events:
            lines = events.aiter_lines()  # (leaving an `async for` would close the stream)
            while not (await anext(lines)).startswith("data:"):  # up to the snapshot
                pass
            assert (await board())["subscribers"] == 1

        async def none_left() -> bool | None:
            return (await board())["subscribers"] == 0 or None

        assert await wait_until(none_left, 10.0, "the SSE client that left is gone")


async def test_changes_fanned_out_to_many_screens_wake_no_garbage_collection(
        launch: Launcher) -> None:
    """Each change wakes every screen's task at once. With CPython's default thresholds
    the objects alive during that burst set off the collector: 12 young collections for these
    5 changes to 1,000 screens, and at 10,000 screens full passes of most of a second that took
    37 % of the server's CPU (docs/benchmarks.md). /metrics shows the collector's passes."""
    server = launch("--speed", "0.0001", "--workers", "1")  # orders stay REQUESTED
    screens = 1000

    async with contextlib.AsyncExitStack() as stack, httpx.AsyncClient(
            headers=STAFF, base_url=server.url, timeout=15.0) as client:
        sockets = [await stack.enter_async_context(connect(f"{server.ws_url}/board/ws"))
                   for _ in range(screens)]
        for socket in sockets:
            await socket.recv()  # the snapshot

        async def collections() -> dict[str, float]:
            text = (await client.get("/metrics")).text
            found = {generation: _metric(
                text, f'python_gc_collections_total{{generation="{generation}"}}')
                for generation in "012"}
            assert None not in found.values(), text  # the collector's passes are exported
            return {generation: count for generation, count in found.items()
                    if count is not None}

        before = await collections()
        for _ in range(5):
            order = await place(client, {"items": [{"item": "cola", "quantity": 1}]})
            for socket in sockets:  # every screen gets the order's change
                while json.loads(await socket.recv()).get("number") != order["number"]:
                    pass
        after = await collections()

    # One young collection may still fall in the window: the count carries over from the
    # connections.
    assert after["0"] - before["0"] <= 1, (before, after)
    assert after["2"] == before["2"], (before, after)
