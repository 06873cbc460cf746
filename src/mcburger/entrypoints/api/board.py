"""The order-status board: snapshot, WebSocket, Server-Sent Events and long-poll.

All three feeds read the board-change log kept by the views projection: the first message is a
snapshot (as ``GET /board``), then one message per change
``{version, number, status, estimated_ready_at}``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, WebSocket, WebSocketDisconnect
from fastapi.sse import EventSourceResponse, ServerSentEvent

from mcburger.application.queries import Queries
from mcburger.entrypoints.api.deps import QueriesDep, WsQueriesDep
from mcburger.entrypoints.api.schemas import BoardChange, BoardOut

router = APIRouter(prefix="/board", tags=["board"])

FEED_WAIT_SECONDS = 15.0


@router.get("", response_model=BoardOut)
async def get_board(queries: QueriesDep) -> dict[str, Any]:
    """Active orders by status, oldest first, with the board version."""
    return await queries.board()


@router.get("/poll", response_model=list[BoardChange])
async def poll_board(
    queries: QueriesDep,
    since: Annotated[int, Query(ge=0, description="last version the client has")] = 0,
    timeout: Annotated[float, Query(ge=0, le=60, description="seconds to wait")] = 25.0,
) -> list[dict[str, Any]]:
    """Long poll: changes after ``since`` at once if any, else wait up to ``timeout``."""
    return await queries.wait_for_board_changes(since, timeout)


@router.get("/events", response_class=EventSourceResponse)
async def board_events(
    queries: QueriesDep,
    last_event_id: Annotated[int | None, Header()] = None,
) -> AsyncIterator[ServerSentEvent]:
    """Server-Sent Events: the snapshot, then each change; ``id`` is the version, so a
    reconnecting EventSource resumes after the last change it saw."""
    if last_event_id is None:
        snapshot = await queries.board()
        yield ServerSentEvent(data=snapshot, event="snapshot", id=str(snapshot["version"]))
        version = snapshot["version"]
    else:
        version = last_event_id
    async for change in _changes(queries, version):
        yield ServerSentEvent(data=change, event="change", id=str(change["version"]))


@router.websocket("/ws")
async def board_ws(websocket: WebSocket, queries: WsQueriesDep) -> None:
    """WebSocket: the snapshot, then one message per change."""
    await websocket.accept()
    closed = asyncio.ensure_future(_until_closed(websocket))
    try:
        snapshot = await queries.board()
        await websocket.send_json(snapshot)
        async for change in _changes(queries, snapshot["version"], closed):
            await websocket.send_json(change)
    except WebSocketDisconnect:
        pass
    finally:
        closed.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
            await closed


async def _until_closed(websocket: WebSocket) -> None:
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


async def _changes(queries: Queries, version: int,
                   closed: asyncio.Future[None] | None = None) -> AsyncIterator[dict[str, Any]]:
    """Changes after ``version`` as they come; ends as soon as ``closed`` is done."""
    while closed is None or not closed.done():
        waiting = asyncio.ensure_future(
            queries.wait_for_board_changes(version, FEED_WAIT_SECONDS))
        if closed is not None:
            # A client that left must not hold the feed (and a server stop) for a whole wait.
            pending: set[asyncio.Future[Any]] = {waiting, closed}
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if not waiting.done():
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting
                return
        for change in await waiting:
            version = change["version"]
            yield change
