"""Board clients as a customer screen would run them: WebSocket, Server-Sent Events, long-poll.

Each runs as a background task and records every message it gets, so a test can check later
what each screen saw.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import aconnect_sse
from websockets.asyncio.client import connect

from tests.e2e.helpers import RANK
from tests.support.servers import STAFF

POLL_TIMEOUT_SECONDS = 5


@dataclass
class BoardFeed:
    """What one board client received: snapshots (WS, SSE) and changes, in arrival order."""

    name: str
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def ready_numbers(self) -> set[int]:
        """Order numbers this client has been told are READY."""
        ready = {n for snapshot in self.snapshots for n in snapshot["ready"]}
        return ready | {c["number"] for c in self.changes if c["status"] == "READY"}

    def raise_if_dead(self) -> None:
        """A client that stopped on its own is a failure; surface why."""
        if self.task is not None and self.task.done():
            error = None if self.task.cancelled() else self.task.exception()
            raise AssertionError(f"{self.name} board client stopped: {error!r}") from error

    def check_changes_in_order(self) -> None:
        """Versions strictly increase, and no order's status goes back."""
        versions = [c["version"] for c in self.changes]
        assert versions == sorted(set(versions)), f"{self.name}: versions out of order {versions}"
        seen: dict[int, int] = {}
        for change in self.changes:
            rank = RANK[change["status"]]
            assert rank >= seen.get(change["number"], -1), (
                f"{self.name}: order {change['number']} went back to {change['status']}")
            seen[change["number"]] = rank


async def _websocket(base_ws_url: str, feed: BoardFeed) -> None:
    async with connect(f"{base_ws_url}/board/ws") as ws:
        feed.snapshots.append(json.loads(await ws.recv()))
        feed.connected.set()
        async for message in ws:
            feed.changes.append(json.loads(message))


async def _sse(base_url: str, feed: BoardFeed,
               transport: httpx.AsyncBaseTransport | None = None) -> None:
    # No read timeout: an idle board legitimately sends nothing for a while.
    timeout = httpx.Timeout(10.0, read=None)
    async with (httpx.AsyncClient(headers=STAFF, base_url=base_url, timeout=timeout,
                                  transport=transport) as client,
                aconnect_sse(client, "GET", "/board/events") as source):
        source.response.raise_for_status()
        async for event in source.aiter_sse():
            if not event.data:
                # The server's keep-alive comment (": ping") on a quiet board. The SSE spec
                # dispatches nothing for an empty data buffer, but httpx-sse yields an event
                # once an id has been seen (it keeps the last id, as the spec says to).
                continue
            if event.event == "snapshot":
                feed.snapshots.append(event.json())
                feed.connected.set()
            else:
                assert event.event == "change", f"unexpected SSE event {event.event!r}"
                change = event.json()
                assert event.id == str(change["version"]), "SSE id is not the version"
                feed.changes.append(change)


async def _long_poll(base_url: str, feed: BoardFeed) -> None:
    timeout = httpx.Timeout(POLL_TIMEOUT_SECONDS + 10.0)
    async with httpx.AsyncClient(headers=STAFF, base_url=base_url, timeout=timeout) as client:
        board = await client.get("/board")
        board.raise_for_status()
        version = board.json()["version"]
        feed.connected.set()
        while True:
            response = await client.get(
                "/board/poll", params={"since": version, "timeout": POLL_TIMEOUT_SECONDS})
            response.raise_for_status()
            for change in response.json():
                feed.changes.append(change)
                version = change["version"]


def start_feeds(base_url: str, base_ws_url: str) -> list[BoardFeed]:
    """Start the three clients; await ``connected`` on each before relying on them."""
    runners: dict[str, Callable[[BoardFeed], Awaitable[None]]] = {
        "websocket": lambda feed: _websocket(base_ws_url, feed),
        "sse": lambda feed: _sse(base_url, feed),
        "long-poll": lambda feed: _long_poll(base_url, feed),
    }
    feeds = []
    for name, run in runners.items():
        feed = BoardFeed(name)
        feed.task = asyncio.create_task(_as_coroutine(run(feed)), name=f"board-{name}")
        feeds.append(feed)
    return feeds


async def _as_coroutine(awaitable: Awaitable[None]) -> None:
    await awaitable


async def stop_feeds(feeds: list[BoardFeed]) -> None:
    for feed in feeds:
        if feed.task is not None:
            feed.task.cancel()
    await asyncio.gather(*(f.task for f in feeds if f.task is not None), return_exceptions=True)


async def all_connected(feeds: list[BoardFeed]) -> bool:
    """Every client has its snapshot (raises if one died)."""
    for feed in feeds:
        feed.raise_if_dead()
    return all(feed.connected.is_set() for feed in feeds)


async def all_saw_ready(feeds: list[BoardFeed], numbers: set[int]) -> bool:
    """Every client has seen each of ``numbers`` become READY (raises if one died)."""
    for feed in feeds:
        feed.raise_if_dead()
    return all(feed.ready_numbers() >= numbers for feed in feeds)
