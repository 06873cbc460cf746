"""Stopping the restaurant (SIGTERM: ``docker stop``, systemd, Ctrl-C) while status-board screens
are connected. Screens stay connected all day, so a stop must not wait for them to leave."""

from __future__ import annotations

import asyncio
import json
import signal
import time

import httpx
import pytest
from httpx_sse import aconnect_sse
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.e2e.helpers import wait_until
from tests.e2e.processes import CLEAN_EXIT, Launcher, Server
from tests.support.servers import STAFF

pytestmark = pytest.mark.e2e

# A clean stop takes well under a second; this leaves room for a loaded CI machine.
PROMPT_STOP_SECONDS = 8.0


async def _stopped(server: Server, what: str) -> float:
    """SIGTERM the server; seconds until it exited (fails past ``PROMPT_STOP_SECONDS``)."""
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)

    async def exited() -> bool:
        return not server.running()

    await wait_until(exited, PROMPT_STOP_SECONDS, f"mcburger exits on SIGTERM {what}")
    return time.monotonic() - started


async def test_sigterm_ends_sse_boards_and_answers_long_polls_at_once_and_cleanly(
        launch: Launcher) -> None:
    # Until the server ended the board's feeds itself, both held the stop for the whole
    # graceful timeout (3 s) and were then cancelled: an ERROR traceback, and a 500 to the poll
    server = launch("--speed", "1000")
    timeout = httpx.Timeout(10.0, read=None)
    async with (httpx.AsyncClient(headers=STAFF, base_url=server.url, timeout=timeout) as client,
                aconnect_sse(client, "GET", "/board/events") as source):
        events = source.aiter_sse()  # kept: a dropped iterator would close the stream
        first = await anext(events)
        assert first.event == "snapshot"
        version = json.loads(first.data)["version"]
        poll = asyncio.create_task(client.get(
            "/board/poll", params={"since": version, "timeout": 30}))

        async def poll_waiting() -> bool:
            return bool((await client.get("/healthz")).json()["board"]["polling"] == 1)

        await wait_until(poll_waiting, 10.0, "the long poll waits on the server")

        await _stopped(server, "with an SSE board and a long poll waiting")
        answered = await asyncio.wait_for(poll, 5)
        assert answered.status_code == 200, answered.text
        assert answered.json() == []
        rest = [event async for event in events]  # the stream ended, no error
    assert rest == []
    assert server.process.returncode in CLEAN_EXIT
    # uvicorn logs that line when open connections hold the stop to its timeout
    log = server.log_path.read_text("utf-8", errors="replace")
    assert "graceful shutdown exceeded" not in log, server.log_tail()
    assert " ERROR " not in log and "Traceback" not in log, server.log_tail()


async def test_sigterm_stops_the_restaurant_while_a_websocket_board_is_connected(
        launch: Launcher) -> None:
    server = launch("--speed", "1000")
    async with connect(f"{server.ws_url}/board/ws") as ws:
        snapshot = await ws.recv()
        assert '"version"' in str(snapshot)
        await _stopped(server, "with a WebSocket board connected")
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert server.process.returncode in CLEAN_EXIT


async def test_a_board_that_left_does_not_hold_up_a_stop(launch: Launcher) -> None:
    server = launch("--speed", "1000")
    async with connect(f"{server.ws_url}/board/ws") as ws:
        await ws.recv()
    async with connect(f"{server.ws_url}/board/ws") as ws:  # the server still serves boards
        await ws.recv()
    await _stopped(server, "after its WebSocket boards disconnected")
    assert server.process.returncode in CLEAN_EXIT
