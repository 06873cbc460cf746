"""Benchmark: the board's own CPU a message, from the hub to the ASGI ``send`` (issue 11, item 2
"fan-out"; docs/benchmarks.md, "Fifth pass").

    .venv/bin/python benchmarks/hub_send.py [--transport ws|sse] [--subscribers 10000]
        [--changes 20] [--runs 5] [--default-gc]

One process, one uvloop event loop: a ``BoardHub`` fed from memory and ``--subscribers``
WebSocket handlers (``board_socket``, as ``BoardSocketApp`` runs them) whose ``send`` only
counts, or (``--transport sse``) as many ``GET /board/events`` streams (``event_stream``, each
read by a task as the ASGI server reads a streaming body). Once every handler has sent its
snapshot, ``--changes`` changes are published one at a time, each once every handler has
handed the one before to ``send`` (so each handler waits for each change, as on a real board
where orders come seconds apart); the figure is the process's CPU time from each publication
until every handler has handed it to ``send``, divided by the messages (µs a message). What
it leaves out is the ASGI server's part of a message (uvicorn's frame encoding and the socket
write), which ``fanout.py`` measures with the rest, against real clients.

The garbage collector's young threshold is the server's (``tune_garbage_collector``), so the
figure is what the server spends; ``--default-gc`` keeps CPython's defaults.

Prints the median (min-max) of ``--runs`` runs. Writes nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import MutableMapping
from typing import Any

import uvloop
from _server import machine, print_machine

from mcburger.application.board_hub import BoardHub
from mcburger.entrypoints.api.board import board_socket, event_stream
from mcburger.entrypoints.cli import tune_garbage_collector


class _Board:
    """The hub's source: the board empty, each change handed over through a queue."""

    def __init__(self) -> None:
        self.version = 0
        self.changes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def board_version(self) -> int:
        return self.version

    async def board(self) -> dict[str, Any]:
        return {"version": self.version, "requested": [], "in_progress": [], "ready": []}

    async def board_changes(self, since: int, limit: int = 500) -> list[dict[str, Any]]:
        return []

    async def wait_for_board_changes(self, since: int, timeout: float) -> list[dict[str, Any]]:
        return [await self.changes.get()]


async def one_run(subscribers: int, changes: int, transport: str) -> float:
    board = _Board()
    hub = BoardHub(board)
    following = asyncio.create_task(hub.run())
    sent = 0
    target, reached = subscribers, asyncio.Event()  # first every snapshot, then each change

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal sent
        if message["type"] == "websocket.send":
            sent += 1
            if sent == target:
                reached.set()

    never = asyncio.get_running_loop().create_future()  # no client ever leaves

    def screen() -> Any:
        connected = False

        async def receive() -> dict[str, Any]:
            nonlocal connected
            if not connected:
                connected = True
                return {"type": "websocket.connect"}
            return await never  # type: ignore[no-any-return]
        return receive

    async def stream() -> None:
        async for frame in event_stream(hub, None):
            await send({"type": "websocket.send", "text": frame})

    handlers = [asyncio.create_task(board_socket(hub, screen(), send) if transport == "ws"
                                    else stream())
                for _ in range(subscribers)]
    await reached.wait()
    cpu = 0.0
    for version in range(1, changes + 1):
        # One change at a time, each sent to every handler before the next (as orders come,
        # seconds apart): each handler waits for each change, as it does on a real board
        board.version = version
        target = subscribers * (version + 1)
        reached.clear()
        began = time.process_time()
        board.changes.put_nowait({
            "version": version, "number": version, "status": "REQUESTED",
            "estimated_ready_at": "2026-12-02T13:00:00Z",
            "estimated_ready_from": "2026-12-02T12:59:00Z",
            "estimated_ready_by": "2026-12-02T13:02:00Z"})
        await reached.wait()
        cpu += time.process_time() - began
    for task in (*handlers, following):
        task.cancel()
    await asyncio.gather(*handlers, following, return_exceptions=True)
    return cpu / (subscribers * changes) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transport", choices=("ws", "sse"), default="ws")
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--default-gc", action="store_true",
                        help="CPython's collector thresholds, not the server's")
    args = parser.parse_args()
    if not args.default_gc:
        tune_garbage_collector()
    print_machine(machine())
    found = []
    for run in range(1, args.runs + 1):
        found.append(uvloop.run(one_run(args.subscribers, args.changes, args.transport)))
        print(f"  run {run}/{args.runs}: {found[-1]:.2f} µs a message", flush=True)
    print(f"board CPU a message, {args.transport}, {args.subscribers} subscribers: "
          f"{statistics.median(found):.2f} ({min(found):.2f}-{max(found):.2f}) µs")


if __name__ == "__main__":
    main()
