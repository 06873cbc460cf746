"""The e2e board clients themselves: a client that dies on a frame the server legitimately
sends would fail the restaurant tests for the wrong reason (or pass them by hiding changes)."""

from __future__ import annotations

import json

import httpx

from mcburger.entrypoints.api.board import SSE_PING_SECONDS
from tests.e2e.board_feeds import BoardFeed, _sse


def _change(version: int, number: int, status: str) -> bytes:
    body = json.dumps({"version": version, "number": number, "status": status})
    return f"event: change\nid: {version}\ndata: {body}\n\n".encode()


async def test_sse_client_survives_the_keep_alive_ping_after_a_change() -> None:
    # What GET /board/events sends when the board is quiet for SSE_PING_SECONDS after a change
    assert SSE_PING_SECONDS > 0
    stream = (b'event: snapshot\ndata: {"version": 1, "orders": []}\n\n'
              + _change(2, 7, "REQUESTED") + b": ping\n\n" + _change(3, 7, "IN_PROGRESS"))

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/board/events"
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=stream)

    feed = BoardFeed("sse")
    await _sse("http://restaurant", feed, transport=httpx.MockTransport(answer))

    assert [snapshot["version"] for snapshot in feed.snapshots] == [1]
    assert [(change["version"], change["status"]) for change in feed.changes] == [
        (2, "REQUESTED"), (3, "IN_PROGRESS")]
