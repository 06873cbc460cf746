"""The order-status board: snapshot, WebSocket, Server-Sent Events and long-poll.

All three feeds come from the process's one ``BoardHub`` (``application/board_hub.py``), which
reads each change of the board-change log once and fans it out: the first message is a
snapshot (as ``GET /board``: version, requested, in_progress, ready, estimates, ranges), then
one message per change ``{version, number, status, estimated_ready_at, estimated_ready_from,
estimated_ready_by}``. A client that falls more than
``board_hub.BUFFER`` changes behind is sent a fresh snapshot in-band (WebSocket: a snapshot
message; SSE: a ``snapshot`` event) and the changes after it. A WebSocket client that accepts
nothing for ``SEND_TIMEOUT_SECONDS`` is closed with code 4008 ("too slow"): reconnect, and the
first message is a snapshot again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Query
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.types import Receive, Scope, Send

from mcburger.application.board_hub import BoardHub, BoardSubscriber
from mcburger.entrypoints.api.deps import HubDep
from mcburger.entrypoints.api.schemas import BoardChange, BoardOut

router = APIRouter(prefix="/board", tags=["board"])

WS_PATH = "/board/ws"  # served by ``BoardSocketApp``, before the middleware stack
SEND_TIMEOUT_SECONDS = 30.0
SSE_PING_SECONDS = 15.0  # a comment line on a quiet SSE stream
TOO_SLOW = 4008  # WebSocket close code: the client did not keep up; reconnect
MAX_VERSION = 2**62  # board versions are log positions; a cursor past this is unreadable


@router.get("", response_model=BoardOut)
async def get_board(hub: HubDep) -> dict[str, Any]:
    """Active orders by status, oldest first, with the board version."""
    return (await hub.snapshot()).data


@router.get("/poll", response_model=list[BoardChange], responses={409: {
    "description": "`since` is ahead of the board (a cursor from an earlier life of the "
                   "restaurant, whose data was replaced): take `GET /board` again and poll "
                   "from its version. The body gives the board's `version`."}})
async def poll_board(
    hub: HubDep,
    since: Annotated[int, Query(ge=0, le=MAX_VERSION, description="last version the client has")
                     ] = 0,
    timeout: Annotated[float, Query(ge=0, le=60, description="seconds to wait")] = 25.0,
) -> Any:
    """Long poll: changes after ``since`` at once if any, else wait up to ``timeout``."""
    current = await hub.current_version(at_least=since)
    if since > current:
        return JSONResponse({"detail": f"since={since} is ahead of the board (version "
                                       f"{current}): take GET /board again",
                             "version": current}, status_code=409)
    return await hub.changes_after(since, timeout)


@router.get("/events", response_class=StreamingResponse, responses={200: {
    "description": "An event stream: `snapshot` then `change` events, `id` the version",
    "content": {"text/event-stream": {}}}})
async def board_events(
    hub: HubDep,
    # Any text: an unreadable one starts the stream with a snapshot, as a 4xx would end an
    # EventSource for good
    last_event_id: Annotated[str | None, Header(
        description="the `id` of the last event the client has (an EventSource sends it when "
                    "it reconnects); one that is not a version the server holds starts the "
                    "stream with a snapshot")] = None,
) -> StreamingResponse:
    """Server-Sent Events: the snapshot, then each change; ``id`` is the version, so a
    reconnecting EventSource resumes after the last change it saw (or gets a fresh
    ``snapshot`` event when that change is too old for the server to replay, is ahead of the
    board, or is not a version at all)."""
    # Frames are encoded once by the hub for every client, and written as they are: FastAPI's
    # EventSourceResponse re-encodes each one through two task hops a client (4 x the CPU).
    return StreamingResponse(event_stream(hub, last_event_id), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _version(text: str | None) -> int | None:
    """A Last-Event-ID as a version, or None (then the stream starts with a snapshot)."""
    if text is None or not text.isdigit() or not text.isascii():
        return None
    version = int(text)
    return version if version <= MAX_VERSION else None


async def event_stream(hub: BoardHub, last_event_id: str | None) -> AsyncIterator[bytes]:
    """The frames of ``GET /board/events`` for a client that sent ``last_event_id``."""
    async with hub.subscribe(_version(last_event_id)) as subscriber:
        while True:
            message = await subscriber.get(timeout=SSE_PING_SECONDS)
            if message is not None:
                yield message.sse
            elif subscriber.closed:
                return
            else:
                yield b": ping\n\n"  # keeps proxies and phones' NAT from closing a quiet stream


class BoardSocketApp(FastAPI):
    """FastAPI, with the board's WebSocket (``WS_PATH``) answered before the middleware stack:
    the snapshot then one message per change (a snapshot again if the client fell behind).
    Only processes that serve customers use it; everything else goes through FastAPI as usual.

    Why not a FastAPI route: a connection is held for as long as the screen is on, and every
    message to every client went through Starlette's WebSocket and two exception wrappers of
    ``send``; their objects and suspended frames were a third of a connection's memory
    (``benchmarks/fanout.py``: about 38 KB a connection before). Why not a middleware (as
    until ``3a52155``): a middleware runs inside Starlette's and FastAPI's own layers (error
    handling, body limit, telemetry), each a suspended coroutine frame a connection for its
    whole life, about 1.3 KB together; none of them does anything for a WebSocket. Here a
    message is one ASGI ``send``. The hub is the restaurant's, set on ``state`` at startup.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == WS_PATH:
            await board_socket(self.state.restaurant.board, receive, send)
        else:
            await super().__call__(scope, receive, send)


async def board_socket(hub: BoardHub, receive: Receive, send: Send) -> None:
    """One WebSocket client of the board, from its handshake until either side closes."""
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    async with hub.subscribe() as subscriber:
        # A client that left must not hold the subscriber (and a server stop) until the next change
        gone = asyncio.ensure_future(_until_disconnect(receive, subscriber))
        try:
            async for message in subscriber:
                async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
                    await send({"type": "websocket.send", "text": message.text})
        except TimeoutError:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await send({"type": "websocket.close", "code": TOO_SLOW,
                                "reason": "too slow: reconnect"})
        except OSError:  # the client is gone (the server's ClientDisconnected is an OSError)
            pass
        finally:
            gone.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gone


async def _until_disconnect(receive: Receive, subscriber: BoardSubscriber) -> None:
    try:
        while (await receive())["type"] != "websocket.disconnect":
            pass
    finally:
        subscriber.close()
