"""The order-status board: snapshot, WebSocket, Server-Sent Events and long-poll.

All three feeds come from the process's one ``BoardHub`` (``application/board_hub.py``), which
reads each change of the board-change log once and fans it out: the first message is a
snapshot (as ``GET /board``: version, requested, in_progress, ready, estimates, ranges), then
one message per change ``{version, number, status, estimated_ready_at, estimated_ready_from,
estimated_ready_by}``. A client that falls more than
``board_hub.BUFFER`` changes behind is sent a fresh snapshot in-band (WebSocket: a snapshot
message; SSE: a ``snapshot`` event) and the changes after it. A WebSocket client that accepts
nothing for ``SEND_TIMEOUT_SECONDS`` is closed with code 4008 ("too slow"): reconnect, and the
first message is a snapshot again. The board sends; a screen has nothing to say: a message from
it over ``MAX_CLIENT_MESSAGE_BYTES`` closes the socket with 1009 (message too big), before it
is buffered whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
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
SWEEP_SECONDS = 1.0  # how often the sends that wait are checked against SEND_TIMEOUT_SECONDS
SSE_PING_SECONDS = 15.0  # a comment line on an SSE stream quiet for 15 to 30 s
TOO_SLOW = 4008  # WebSocket close code: the client did not keep up; reconnect
# The server's ``ws_max_size`` (cli.py): a screen sends nothing the board reads, so anything
# bigger than a few bytes is hostile; uvicorn's default (16 MiB) let four screens sending 15 MB
# messages take the server from 85 to 158 MB.
MAX_CLIENT_MESSAGE_BYTES = 4 * 1024
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
        keep_alive = _KeepAlive(subscriber)
        try:
            while True:
                message = await subscriber.get()
                if message is not None:
                    keep_alive.sent += 1
                    yield message.sse
                elif subscriber.closed:
                    return
                else:
                    # keeps proxies and phones' NAT from closing a quiet stream
                    yield b": ping\n\n"
        finally:
            keep_alive.stop()


class _KeepAlive:
    """Nudges an SSE subscriber that was sent nothing for a whole ``SSE_PING_SECONDS`` (a ping
    follows: after 15 to 30 s of silence), from one timer a connection re-armed when it fires.
    Why not a timeout on each ``get`` (as until ``9c29b10``): that arms and cancels a timer
    for every message to every client, 40 % of the board's own CPU a message
    (``benchmarks/hub_send.py``, with CPython's default collector thresholds)."""

    def __init__(self, subscriber: BoardSubscriber) -> None:
        self.sent = 0  # messages sent; the stream counts them
        self._seen = 0
        self._subscriber = subscriber
        self._loop = asyncio.get_running_loop()
        self._timer = self._loop.call_later(SSE_PING_SECONDS, self._tick)

    def _tick(self) -> None:
        if self.sent == self._seen:
            self._subscriber.nudge()
        self._seen = self.sent
        self._timer = self._loop.call_later(SSE_PING_SECONDS, self._tick)

    def stop(self) -> None:
        self._timer.cancel()


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
    watch = _SendWatch.of_this_loop()
    now = asyncio.get_running_loop().time
    async with hub.subscribe() as subscriber:
        # A client that left must not hold the subscriber (and a server stop) until the next change
        gone = asyncio.ensure_future(_until_disconnect(receive, subscriber))
        me = watch.join()
        try:
            async for message in subscriber:
                watch.sending[me] = now()
                await send({"type": "websocket.send", "text": message.text})
                del watch.sending[me]
        except asyncio.CancelledError:
            if not watch.too_slow(me):
                raise  # the server is stopping
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await send({"type": "websocket.close", "code": TOO_SLOW,
                                "reason": "too slow: reconnect"})
        except OSError:  # the client is gone (the server's ClientDisconnected is an OSError)
            pass
        finally:
            watch.leave(me)
            gone.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gone


class _SendWatch:
    """The board sockets' send timeout, for the whole process: a socket whose send has waited
    ``SEND_TIMEOUT_SECONDS`` (its client takes no data: the server's buffer for it is full) is
    cancelled by a sweep every ``SWEEP_SECONDS`` and closed "too slow".

    Why not a timeout around each send: that is a timer armed and cancelled a message a client
    (200,000 for 20 orders at 10,000 screens), with the timeout context around each wait 40 %
    of the CPU the board spent a message outside the ASGI server (``benchmarks/hub_send.py``,
    with CPython's default collector thresholds: about 42 µs with them, 25 without; 7 with
    the server's, cli.GC_YOUNG_THRESHOLD). A send that does not wait (nearly all) is a dict
    insert and delete; the sweep looks only at the sends waiting when it runs, and runs only
    while some socket is open.
    """

    _by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _SendWatch] = (
        weakref.WeakKeyDictionary())

    def __init__(self) -> None:
        # (no reference to the loop: it is this object's key in ``_by_loop``, held weakly)
        self.sending: dict[asyncio.Task[Any], float] = {}  # a socket's task: its send's start
        self._cancelled: set[asyncio.Task[Any]] = set()  # cancelled by the sweep
        self._sockets = 0
        self._sweeper: asyncio.Task[None] | None = None

    @classmethod
    def of_this_loop(cls) -> _SendWatch:
        loop = asyncio.get_running_loop()
        watch = cls._by_loop.get(loop)
        if watch is None:
            watch = cls._by_loop[loop] = cls()
        return watch

    def join(self) -> asyncio.Task[Any]:
        """Watch the current task's sends (until ``leave``); returns the task. Plain calls, not
        a context manager, which would hold a suspended frame for each connection's life."""
        me = asyncio.current_task()
        assert me is not None
        self._sockets += 1
        if self._sweeper is None:
            self._sweeper = asyncio.ensure_future(self._sweep())
        return me

    def leave(self, task: asyncio.Task[Any]) -> None:
        self.sending.pop(task, None)
        self._cancelled.discard(task)
        self._sockets -= 1
        if not self._sockets and self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    def too_slow(self, task: asyncio.Task[Any]) -> bool:
        """Whether the task's cancellation was the sweep's (then it is taken back)."""
        if task not in self._cancelled:
            return False
        self._cancelled.discard(task)
        task.uncancel()
        return True

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(min(SWEEP_SECONDS, SEND_TIMEOUT_SECONDS))
            now = asyncio.get_running_loop().time()
            for task, since in list(self.sending.items()):
                if now - since >= SEND_TIMEOUT_SECONDS and task not in self._cancelled:
                    self._cancelled.add(task)
                    task.cancel()


async def _until_disconnect(receive: Receive, subscriber: BoardSubscriber) -> None:
    try:
        while (await receive())["type"] != "websocket.disconnect":
            pass
    finally:
        subscriber.close()
