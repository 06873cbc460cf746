"""The board's feeds say the same thing in the same words: a change on the WebSocket, on
Server-Sent Events and on the long poll is the same JSON, and a snapshot has GET /board's
fields, with every time in UTC written with "Z", as every REST answer writes it. (Until the hub
sent the REST schemas' shape, WebSocket and SSE wrote "+00:00" and the long poll "Z".)"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse
from websockets.asyncio.client import ClientConnection, connect

from tests.e2e.helpers import place
from tests.e2e.processes import Launcher
from tests.support.servers import STAFF

pytestmark = pytest.mark.e2e

SECONDS = 20.0


async def _change_of(ws: ClientConnection, number: int) -> dict[str, Any]:
    """The WebSocket's first change of order ``number`` (skipping other orders' changes)."""
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), SECONDS))
        if message.get("number") == number:
            return message


def _times(message: dict[str, Any]) -> list[str]:
    return [message[name] for name in
            ("estimated_ready_at", "estimated_ready_from", "estimated_ready_by")]


async def test_websocket_sse_and_long_poll_send_the_same_change_as_rest_writes_it(
        launch: Launcher) -> None:
    # Slow enough that the order waits (an estimate on the board), fast enough to be quick
    server = launch("--speed", "1", "--workers", "1", "--seed", "3")
    timeout = httpx.Timeout(SECONDS, read=None)
    async with (httpx.AsyncClient(headers=STAFF, base_url=server.url, timeout=timeout) as client,
                connect(f"{server.ws_url}/board/ws") as ws,
                aconnect_sse(client, "GET", "/board/events") as sse):
        snapshot = json.loads(await asyncio.wait_for(ws.recv(), SECONDS))
        board = (await client.get("/board")).json()
        assert snapshot.keys() == board.keys(), (snapshot, board)
        events = sse.aiter_sse()
        first = await asyncio.wait_for(anext(events), SECONDS)
        assert first.event == "snapshot" and json.loads(first.data).keys() == board.keys()

        number = (await place(client, {"items": [{"item": "hamburger", "quantity": 1}]}))["number"]
        on_ws = await _change_of(ws, number)
        while True:
            event = await asyncio.wait_for(anext(events), SECONDS)
            if event.event == "change" and json.loads(event.data)["number"] == number:
                on_sse = json.loads(event.data)
                break
        polled = (await client.get("/board/poll", params={
            "since": on_ws["version"] - 1, "timeout": 0})).json()

        assert on_ws["status"] == "REQUESTED", on_ws
        assert on_sse == on_ws, (on_sse, on_ws)
        assert polled[0] == on_ws, (polled, on_ws)
        assert all(isinstance(t, str) and t.endswith("Z") for t in _times(on_ws)), on_ws

        # A snapshot taken now holds the order's estimate and range, written as REST writes them
        board = (await client.get("/board")).json()
        async with connect(f"{server.ws_url}/board/ws") as again:
            snapshot = json.loads(await asyncio.wait_for(again.recv(), SECONDS))
        for shown in (snapshot, board):
            assert shown["estimates"][str(number)].endswith("Z"), shown
            assert all(end.endswith("Z") for end in shown["ranges"][str(number)].values()), shown
