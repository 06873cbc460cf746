"""Board clients for benchmarks/fanout.py: one process holding COUNT connections of one transport.

    .venv/bin/python benchmarks/fanout_clients.py --transport ws --url http://127.0.0.1:8000 \
        --count 1000 [--slow 10] [--no-deflate] [--http-client httpx] [--loop=asyncio]

Transports: `ws` (/board/ws), `sse` (/board/events), `poll` (GET /board, then
/board/poll?since=V&timeout=25 in a loop) against our server; `centrifugo` (a JSON client-protocol
WebSocket on /connection/websocket: `connect`, then `subscribe` to --channel) against the peer.
SSE and long-poll clients speak HTTP/1.1 through a small client of their own (Http, below),
one connection each as a browser would; `--http-client httpx` uses httpx and httpx-sse instead.
`--slow K` makes K more WebSocket connections (ws and centrifugo only) that finish the handshake
(and, on Centrifugo, send connect and subscribe), then never read again: a raw socket with the
smallest receive buffer, so what the server sends them stays unread in the kernel.

It talks to the driver in JSON lines. Once every connection has its snapshot (or its subscribe
reply), or failed for good, it prints `{"ready": ...}`. It then waits for one stdin line
`{"orders": {number: post_start}, "timeout": s}`, waits until every connection that was ready
holds the REQUESTED change of each of those orders (or `timeout` s), prints `{"result": ...}` with
each (connection, order)'s delivery latency, and exits without closing its sockets one by one.
Receipt times are `time.time()` as the message is handed to the client code, before it is
parsed, comparable with the driver's (same machine).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import fcntl
import json
import os
import resource
import select
import socket
import sys
import termios
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import websockets
from httpx_sse import aconnect_sse

CONNECT_ATTEMPTS = 3
CONNECT_CONCURRENCY = 100  # handshakes under way at once in one process
OPEN_TIMEOUT = 60.0  # from connecting to the snapshot, one attempt
POLL_TIMEOUT = 25
SLOW_RECEIVE_BUFFER = 1  # the kernel rounds it up to its minimum (about 2.3 KB)
WAIT_STEP = 0.05


@dataclass
class Receiver:
    """One connection's view: when each order's REQUESTED change arrived, how many changes."""

    requested: dict[int, float] = field(default_factory=dict)
    messages: int = 0
    last: float = 0.0
    closed: bool = False

    def change(self, change: dict[str, Any], now: float) -> None:
        self.messages += 1
        self.last = now
        if change.get("status") == "REQUESTED":
            self.requested.setdefault(int(change["number"]), now)


@dataclass
class Slow:
    """A connection that stopped reading after its handshake."""

    sock: socket.socket

    def unread_bytes(self) -> int:
        """Bytes waiting in the kernel's receive queue (FIONREAD)."""
        buffer = bytearray(4)
        fcntl.ioctl(self.sock.fileno(), termios.FIONREAD, buffer)
        return int.from_bytes(buffer, sys.byteorder)

    def peer_closed(self) -> bool:
        poller = select.poll()
        poller.register(self.sock.fileno(), select.POLLRDHUP)
        closed = select.POLLRDHUP | select.POLLHUP | select.POLLERR
        return any(events & closed for _, events in poller.poll(0))


def raise_open_files_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def ws_url(base: str, path: str) -> str:
    return base.replace("http://", "ws://", 1) + path


# --- our server --------------------------------------------------------------------------------


async def ws_client(base: str, receiver: Receiver, ready: asyncio.Future[str],
                    deflate: bool) -> None:
    async with websockets.connect(ws_url(base, "/board/ws"), open_timeout=60,
                                  ping_interval=None, max_queue=None,
                                  compression="deflate" if deflate else None) as ws:
        json.loads(await ws.recv())  # the snapshot
        ready.set_result(ws.response.headers.get("Sec-WebSocket-Extensions", "")
                         if ws.response else "")
        async for raw in ws:
            now = time.time()
            receiver.change(json.loads(raw), now)


class Http:
    """One HTTP/1.1 connection of a client, as a browser's: keep-alive GETs, sized or chunked
    bodies. With httpx (one AsyncClient, a pool of as many connections as clients) the client
    process was the bottleneck: 100 long-poll clients took 3.9 s of its CPU for 500 changes, and
    p50 1.8 s against 26 ms with this; this does what the board's clients need and no more."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, target: str, accept: str = "application/json") -> dict[str, str]:
        """Send a GET (connecting first if need be); the response's headers, status 200."""
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), 60)
        assert self.reader and self.writer
        self.writer.write(f"GET {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                          f"Accept: {accept}\r\n\r\n".encode())
        await self.writer.drain()
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        if head[0].split()[1] != "200":
            raise ConnectionError(f"GET {target}: {head[0]}")
        return {name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in head[1:] if line)}

    async def fetch(self, target: str) -> bytes:
        """GET a whole body."""
        return await self.body(await self.get(target))

    async def body(self, headers: dict[str, str]) -> bytes:
        assert self.reader
        if "content-length" in headers:
            return await self.reader.readexactly(int(headers["content-length"]))
        return b"".join([piece async for piece in self.chunks()])

    async def chunks(self) -> AsyncIterator[bytes]:
        """The pieces of a chunked body as they come."""
        assert self.reader
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return
            yield (await self.reader.readexactly(size + 2))[:-2]

    def close(self) -> None:
        if self.writer:
            self.writer.close()
            self.writer = None


async def sse_client(base: str, receiver: Receiver, ready: asyncio.Future[str]) -> None:
    http = Http(base)
    try:
        headers = await http.get("/board/events", accept="text/event-stream")
        if headers.get("transfer-encoding") != "chunked":
            raise ConnectionError(f"an event stream that is not chunked: {headers}")
        pending = b""
        async for piece in http.chunks():
            now = time.time()
            pending = (pending + piece).replace(b"\r\n", b"\n")
            *events, pending = pending.split(b"\n\n")
            for event in events:
                name, data = sse_fields(event.decode())
                if name == "snapshot":
                    ready.set_result("")
                elif name == "change":
                    receiver.change(json.loads(data), now)
    finally:
        http.close()


def sse_fields(event: str) -> tuple[str, str]:
    """An event's name and data (lines starting with a colon are comments)."""
    name, data = "message", []
    for line in event.split("\n"):
        field_name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field_name == "event":
            name = value
        elif field_name == "data":
            data.append(value)
    return name, "\n".join(data)


async def poll_client(base: str, receiver: Receiver, ready: asyncio.Future[str]) -> None:
    http = Http(base)
    try:
        since = int(json.loads(await http.fetch("/board"))["version"])
        ready.set_result("")
        while True:
            target = f"/board/poll?since={since}&timeout={POLL_TIMEOUT}"
            body = await asyncio.wait_for(http.fetch(target), POLL_TIMEOUT + 30)
            now = time.time()
            for change in json.loads(body):
                receiver.change(change, now)
                since = max(since, int(change["version"]))
    finally:
        http.close()


# httpx and httpx-sse (--http-client httpx), kept to measure them against Http.


async def httpx_sse_client(http: httpx.AsyncClient, receiver: Receiver,
                           ready: asyncio.Future[str]) -> None:
    async with aconnect_sse(http, "GET", "/board/events") as source:
        async for event in source.aiter_sse():
            now = time.time()
            if event.event == "snapshot":
                ready.set_result("")
            elif event.event == "change":
                receiver.change(json.loads(event.data), now)


async def httpx_poll_client(http: httpx.AsyncClient, receiver: Receiver,
                            ready: asyncio.Future[str]) -> None:
    snapshot = await http.get("/board")
    snapshot.raise_for_status()
    since = int(snapshot.json()["version"])
    ready.set_result("")
    while True:
        response = await http.get("/board/poll",
                                  params={"since": since, "timeout": POLL_TIMEOUT})
        now = time.time()
        response.raise_for_status()
        for change in response.json():
            receiver.change(change, now)
            since = max(since, int(change["version"]))


# --- the peer ----------------------------------------------------------------------------------


def centrifugo_commands(channel: str) -> list[str]:
    """The JSON client protocol: a connect command, then a subscribe command; ids match replies."""
    return [json.dumps({"id": 1, "connect": {}}),
            json.dumps({"id": 2, "subscribe": {"channel": channel}})]


async def centrifugo_client(base: str, channel: str, receiver: Receiver,
                            ready: asyncio.Future[str]) -> None:
    async with websockets.connect(ws_url(base, "/connection/websocket"), open_timeout=60,
                                  ping_interval=None, max_queue=None, compression=None) as ws:
        connect, subscribe = centrifugo_commands(channel)
        await ws.send(connect)
        await centrifugo_reply(ws, 1)
        await ws.send(subscribe)
        await centrifugo_reply(ws, 2)
        ready.set_result("")
        async for raw in ws:
            now = time.time()
            # Several replies may share a frame, one JSON object a line.
            for line in str(raw).splitlines():
                reply = json.loads(line) if line.strip() else None
                if reply == {}:  # a server ping: answer with an empty command (pong)
                    await ws.send("{}")
                elif reply and "pub" in reply.get("push", {}):
                    receiver.change(reply["push"]["pub"]["data"], now)


async def centrifugo_reply(ws: Any, command_id: int) -> None:
    while True:
        for line in str(await ws.recv()).splitlines():
            reply = json.loads(line) if line.strip() else {}
            if reply.get("id") == command_id:
                if "error" in reply:
                    raise RuntimeError(f"centrifugo refused command {command_id}: "
                                       f"{reply['error']}")
                return


# --- connections that stop reading --------------------------------------------------------------


async def slow_client(base: str, transport: str, channel: str) -> Slow:
    """Handshake on a raw socket with the smallest receive buffer; from then on, never read."""
    parts = urlsplit(base)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = "/connection/websocket" if transport == "centrifugo" else "/board/ws"
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Before connect, so the window the client advertises is small from the first segment.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RECEIVE_BUFFER)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_connect(sock, (host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        await loop.sock_sendall(sock, (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = await peek_until(sock, lambda data: b"\r\n\r\n" in data)
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(f"no WebSocket upgrade: {head[:80]!r}")
        sock.recv(head.index(b"\r\n\r\n") + 4)  # consume the response head, nothing more
        if transport == "centrifugo":
            await loop.sock_sendall(sock, masked_text_frame("\n".join(
                centrifugo_commands(channel))))
            await peek_until(sock, lambda data: b'"id":2' in data)
        else:
            await peek_until(sock, lambda data: len(data) > 0)  # the snapshot has arrived
    except BaseException:
        sock.close()
        raise
    return Slow(sock)


async def peek_until(sock: socket.socket, done: Callable[[bytes], bool],
                     timeout: float = 60.0) -> bytes:
    """What the kernel holds for `sock`, without consuming it, once `done` says it is enough."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(BlockingIOError):
            data = sock.recv(65536, socket.MSG_PEEK)
            if not data:
                raise ConnectionError("closed by the server")
            if done(data):
                return data
        await asyncio.sleep(WAIT_STEP)
    raise TimeoutError("nothing came")


def masked_text_frame(text: str) -> bytes:
    """One client-to-server WebSocket text frame (RFC 6455: clients mask what they send)."""
    payload, mask = text.encode(), os.urandom(4)
    size = len(payload)
    head = bytes([0x81]) + (bytes([0x80 | size]) if size < 126
                            else bytes([0x80 | 126]) + size.to_bytes(2, "big"))
    return head + mask + bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))


# --- the process --------------------------------------------------------------------------------


async def keep_open(opener: Callable[[asyncio.Future[str]], Awaitable[None]], receiver: Receiver,
                    ready: asyncio.Future[str], gate: asyncio.Semaphore,
                    errors: dict[str, int]) -> None:
    """Run one client; retry its opening a few times, never after it was ready."""
    for attempt in range(CONNECT_ATTEMPTS):
        attempt_ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        async with gate:
            running = asyncio.ensure_future(opener(attempt_ready))
            either: set[asyncio.Future[Any]] = {running, attempt_ready}
            await asyncio.wait(either, timeout=OPEN_TIMEOUT,
                               return_when=asyncio.FIRST_COMPLETED)
        if not any(future.done() for future in either):
            running.cancel()
            count(errors, "opening: no snapshot in time")
        elif attempt_ready.done():
            ready.set_result(attempt_ready.result())
            try:
                await running
            except Exception as error:
                count(errors, f"after ready: {type(error).__name__}")
            receiver.closed = True
            return
        else:
            failure = running.exception()
            count(errors, f"opening: {type(failure).__name__}: {failure}"[:160] if failure
                  else "opening: closed before the snapshot")
        if attempt + 1 < CONNECT_ATTEMPTS:
            await asyncio.sleep(1.0 + attempt)
    ready.set_exception(ConnectionError("gave up"))


def count(errors: dict[str, int], key: str) -> None:
    errors[key] = errors.get(key, 0) + 1


async def open_slow(base: str, transport: str, channel: str, gate: asyncio.Semaphore,
                    errors: dict[str, int]) -> Slow | None:
    async with gate:
        try:
            return await slow_client(base, transport, channel)
        except Exception as error:
            count(errors, f"slow: {type(error).__name__}: {error}"[:160])
            return None


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transport", choices=("ws", "sse", "poll", "centrifugo"),
                        required=True)
    parser.add_argument("--url", required=True, help="http://127.0.0.1:PORT")
    parser.add_argument("--count", type=int, required=True, help="connections that read")
    parser.add_argument("--slow", type=int, default=0, help="connections that never read")
    parser.add_argument("--channel", default="board:changes", help="centrifugo channel")
    parser.add_argument("--no-deflate", action="store_true",
                        help="ws: do not offer permessage-deflate")
    parser.add_argument("--http-client", choices=("raw", "httpx"), default="raw",
                        help="sse and poll: Http (below) or httpx with httpx-sse")
    parser.add_argument("--connect-timeout", type=float, default=300.0)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop",
                        help="the event loop (give it as --loop=asyncio)")
    args = parser.parse_args()
    raise_open_files_limit()
    started = time.monotonic()
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    errors: dict[str, int] = {}
    http = httpx.AsyncClient(
        base_url=args.url, limits=httpx.Limits(max_connections=None,
                                               max_keepalive_connections=None),
        timeout=httpx.Timeout(60.0, read=POLL_TIMEOUT + 30.0 if args.transport == "poll"
                              else None))
    openers: dict[str, Callable[[Receiver, asyncio.Future[str]], Awaitable[None]]] = {
        "ws": lambda r, f: ws_client(args.url, r, f, not args.no_deflate),
        "sse": lambda r, f: sse_client(args.url, r, f),
        "poll": lambda r, f: poll_client(args.url, r, f),
        "centrifugo": lambda r, f: centrifugo_client(args.url, args.channel, r, f),
    }
    if args.http_client == "httpx":
        openers["sse"] = lambda r, f: httpx_sse_client(http, r, f)
        openers["poll"] = lambda r, f: httpx_poll_client(http, r, f)
    opener = openers[args.transport]
    loop = asyncio.get_running_loop()
    receivers = [Receiver() for _ in range(args.count)]
    readies: list[asyncio.Future[str]] = [loop.create_future() for _ in receivers]
    running = [asyncio.ensure_future(keep_open(bind(opener, r), r, ready, gate, errors))
               for r, ready in zip(receivers, readies, strict=True)]
    slow_tasks = [asyncio.ensure_future(open_slow(args.url, args.transport, args.channel, gate,
                                                  errors)) for _ in range(args.slow)]
    opening: list[asyncio.Future[Any]] = [*readies, *slow_tasks]
    await asyncio.wait(opening, timeout=args.connect_timeout)
    live = [r for r, ready in zip(receivers, readies, strict=True)
            if ready.done() and not ready.cancelled() and ready.exception() is None]
    slow = [opened for task in slow_tasks if task.done() and (opened := task.result())]
    extensions = sorted({ready.result() for ready in readies
                         if ready.done() and ready.exception() is None})
    emit({"ready": {"connected": len(live), "failed": args.count - len(live),
                    "slow": len(slow), "slow_failed": args.slow - len(slow),
                    "seconds": time.monotonic() - started, "extensions": extensions,
                    "errors": errors}})
    cpu_ready = time.process_time()
    line = await asyncio.to_thread(sys.stdin.readline)
    expect: dict[str, Any] = json.loads(line) if line.strip() else {"orders": {}, "timeout": 0}
    orders = {int(number): float(at) for number, at in expect["orders"].items()}
    await wait_for_all(live, orders, float(expect["timeout"]))
    emit({"result": result(live, slow, orders, errors, time.process_time() - cpu_ready)})
    del running  # held until here so no task is collected while it runs
    os._exit(0)  # the kernel closes every socket at once; a clean close of each is not measured


def bind(opener: Callable[[Receiver, asyncio.Future[str]], Awaitable[None]],
         receiver: Receiver) -> Callable[[asyncio.Future[str]], Awaitable[None]]:
    return lambda ready: opener(receiver, ready)


async def wait_for_all(live: list[Receiver], orders: dict[int, float], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    # A look every WAIT_STEP, not an event per message: the receipt times are already noted,
    # and checking thousands of receivers on every message would cost more.
    while time.monotonic() < deadline and not all(  # noqa: ASYNC110
            orders.keys() <= r.requested.keys() for r in live if not r.closed):
        await asyncio.sleep(WAIT_STEP)


def result(live: list[Receiver], slow: list[Slow], orders: dict[int, float],
           errors: dict[str, int], cpu_seconds: float) -> dict[str, Any]:
    latencies, missing = [], 0
    missing_by_order: dict[int, int] = {}
    for receiver in live:
        for number, posted in orders.items():
            arrived = receiver.requested.get(number)
            if arrived is None:
                missing += 1
                missing_by_order[number] = missing_by_order.get(number, 0) + 1
            else:
                latencies.append(round((arrived - posted) * 1000, 3))
    lasts = [r.last for r in live if r.messages]
    return {"latencies_ms": latencies, "missing": missing, "expected": len(live) * len(orders),
            "missing_by_order": missing_by_order,
            "messages": sum(r.messages for r in live), "last_receipt": max(lasts, default=None),
            "closed": sum(r.closed for r in live), "client_cpu_s": cpu_seconds,
            "slow_unread_bytes": [s.unread_bytes() for s in slow],
            "slow_peer_closed": sum(s.peer_closed() for s in slow), "errors": errors}


def emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    if "--loop=asyncio" in sys.argv:
        asyncio.run(main())
    else:
        # uvloop (as our server runs) halves the clients' CPU a message against asyncio's loop
        # (measured at 1,000 clients: 0.8 s -> 0.5 s SSE, 1.3 s -> 0.6 s Centrifugo), so a
        # burst of deliveries waits less in the client process before its receipt is noted.
        import uvloop

        uvloop.run(main())
