"""One board hub per process: each board change is read once and handed to every subscriber.

The views projection keeps the board-change log (``board_changes``). Without a hub every
WebSocket, SSE and long-poll client read that log itself, so one change cost O(clients)
database queries. The hub follows the log alone and fans each change out, encoded once, to
in-memory subscribers; a client's cost per change is a list append and its own send.

Guarantees (what the board feeds promise their clients):

- **Snapshot, then every change after it, once, in version order.** A subscriber is registered
  before its snapshot is taken, and the snapshot's version is at least that of every change the
  hub had fanned out when it registered; it skips changes at or below that version.
- **A slow subscriber never delays the others.** Fanning out never waits on a subscriber. Each
  holds at most ``BUFFER`` undelivered changes; one that falls further behind drops them and is
  sent a fresh snapshot instead (the client's truth again), then the changes after it.
- **Bounded.** Memory: ``BUFFER`` changes a subscriber, ``RECENT`` changes in the hub. Database
  work: one read a change batch; a client connecting reads the views' checkpoint, and the
  board itself is read again only when that moved or ``SNAPSHOT_SECONDS`` passed. A hub that
  finds ``FAR_BEHIND`` changes at once (the views rebuilding from position 0) skips to now and
  re-snapshots its subscribers instead of fanning out history. One that finds the log behind
  its own version after a quiet ``WAIT_SECONDS`` (the read models were replaced under a
  process that only follows them) starts again from the log's version, the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from mcburger.application.ports import JSON

BUFFER = 256  # undelivered changes a subscriber may hold before it is re-sent a snapshot
RECENT = 1024  # changes the hub keeps for long-poll and SSE resumption
SNAPSHOT_SECONDS = 1.0  # a snapshot is shared by the subscribers that connect within this
FAR_BEHIND = 500  # changes found at once (a page of the log): skip to now, re-snapshot all
WAIT_SECONDS = 15.0  # the hub's wait for the next change, between checks that it is wanted


class BoardSource(Protocol):
    """What the hub reads (``Queries`` in the service; one read model store behind it)."""

    async def board_version(self) -> int: ...

    async def board(self) -> JSON: ...

    async def board_changes(self, since: int, limit: int = 500) -> list[JSON]: ...

    async def wait_for_board_changes(self, since: int, timeout: float) -> list[JSON]: ...


# A message's data as the API shows it, given its kind ("snapshot" or "change"): the composition
# root passes the REST schemas' own, so every feed sends what GET /board and /board/poll do
Shape = Callable[[str, JSON], JSON]


@dataclass(frozen=True)
class BoardMessage:
    """A snapshot or a change, encoded once for every subscriber: ``text`` (JSON, what a
    WebSocket sends) and ``sse`` (the whole Server-Sent Events frame: event, data, id).

    ``kind``: "snapshot" (``GET /board``'s shape: version, requested, in_progress, ready,
    estimates, ranges) or "change" (version, number, status, estimated_ready_at,
    estimated_ready_from, estimated_ready_by).
    """

    kind: str
    version: int
    data: JSON
    text: str
    sse: bytes

    @classmethod
    def of(cls, kind: str, data: JSON, shape: Shape | None = None) -> BoardMessage:
        if shape is not None:
            data = shape(kind, data)
        text = json.dumps(data, separators=(",", ":"))
        version = int(data["version"])
        frame = f"event: {kind}\ndata: {text}\nid: {version}\n\n".encode()
        return cls(kind, version, data, text, frame)


class BoardSubscriber:
    """One client of the board feeds: iterate it for messages (a snapshot first, then changes)."""

    def __init__(self, hub: BoardHub, buffer: int) -> None:
        self._hub = hub
        self._buffer = buffer
        # Held by every connected screen for as long as it is on, so kept small: the queue
        # exists only while changes wait, and the wake-up is a future only while get() waits
        # (an asyncio.Event and an empty deque were 1.6 KB a subscriber).
        self._pending: deque[BoardMessage] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._resync = True  # the first message is a snapshot
        self.after = -1  # the version the client has everything up to
        self.resyncs = 0  # snapshots sent because the subscriber fell behind
        self._closed = False
        self._nudged = False

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def offer(self, message: BoardMessage) -> None:
        """Called by the hub for each change: never waits."""
        pending = self._pending
        if pending is None:
            self._pending = pending = deque()
        if len(pending) >= self._buffer:
            self.resync()
        else:
            pending.append(message)
            self._wake()

    def resync(self) -> None:
        """Drop what is pending: the next message is a fresh snapshot."""
        self._pending = None
        self._resync = True
        self.resyncs += 1
        self._hub.resyncs += 1
        self._wake()

    def close(self) -> None:
        """End the iteration (the client left): a waiting ``async for`` stops at once."""
        self._closed = True
        self._wake()

    def nudge(self) -> None:
        """Make the waiting (or the next) ``get`` return None unless a message is ready: a
        transport's cue to send a keep-alive, from a timer of its own that fires seldom (a
        timeout on each ``get`` was a timer armed and cancelled for every message)."""
        self._nudged = True
        self._wake()

    def resume_after(self, version: int, recent: Iterable[BoardMessage]) -> None:
        """Start from a version the client already has instead of a snapshot (SSE
        ``Last-Event-ID``), with the changes after it that the hub still holds."""
        self._resync = False
        self.after = version
        self._pending = deque(message for message in recent if message.version > version)

    @property
    def closed(self) -> bool:
        return self._closed

    async def get(self) -> BoardMessage | None:
        """The next message: a snapshot first (and after falling behind), then each change
        once, in version order. None after a ``nudge`` (a transport's cue to send a
        keep-alive) or when the feed is closed. It arms no timer: a wait is one future."""
        while not self._closed:
            if self._resync:
                self._resync = False
                self._pending = None
                snapshot = await self._hub.snapshot()
                self.after = snapshot.version
                self._nudged = False
                return snapshot
            while self._pending and not self._resync:
                message = self._pending.popleft()
                if not self._pending:
                    self._pending = None
                if message.version > self.after:
                    self.after = message.version
                    self._nudged = False
                    return message
            if self._nudged and not self._resync:
                self._nudged = False
                return None
            if not self._resync:
                self._waiter = waiter = asyncio.get_running_loop().create_future()
                try:
                    await waiter
                finally:
                    self._waiter = None
        return None

    def __aiter__(self) -> AsyncIterator[BoardMessage]:
        return self

    async def __anext__(self) -> BoardMessage:
        message = await self.get()
        if message is None:  # closed
            raise StopAsyncIteration
        return message


class BoardHub:
    """Follows the board-change log once for the whole process; see the module docstring.

    ``run`` is the hub's loop (the composition root supervises it); ``subscribe`` gives a
    WebSocket or SSE handler its feed; ``changes_after`` answers a long poll.
    """

    def __init__(self, queries: BoardSource, buffer: int = BUFFER, recent: int = RECENT,
                 snapshot_seconds: float = SNAPSHOT_SECONDS, shape: Shape | None = None) -> None:
        self._queries = queries
        self._shape = shape
        self._buffer = buffer
        self._snapshot_seconds = snapshot_seconds
        self._subscribers: set[BoardSubscriber] = set()
        self._recent: deque[BoardMessage] = deque(maxlen=recent)
        self._floor = 0  # _recent holds every change after this version
        self._new = asyncio.Event()  # set (and replaced) when changes are fanned out
        self._snapshot: BoardMessage | None = None
        self._snapshot_at = 0.0
        self._snapshot_lock = asyncio.Lock()
        self._started = asyncio.Event()
        self.resyncs = 0  # snapshots re-sent to subscribers that fell behind, since start
        self.version = 0  # the newest change fanned out (or the log's position at start)
        self._ending = False  # the server is stopping: feeds end, long polls answer at once
        self._polling = 0  # long polls waiting for a change now

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def stats(self) -> dict[str, int]:
        """For /healthz: subscribers now, long polls waiting now, the newest version fanned
        out, and the snapshots re-sent since start to subscribers that fell behind (or after
        a skip)."""
        return {"subscribers": len(self._subscribers), "polling": self._polling,
                "version": self.version, "resyncs": self.resyncs}

    async def run(self) -> None:
        """Read each new change once and hand it to every subscriber, forever (restarted by
        its supervisor after a failure: it goes on from the last change it fanned out)."""
        if not self._started.is_set():
            self.version = self._floor = await self._queries.board_version()
            self._started.set()
        while True:
            changes = await self._queries.wait_for_board_changes(self.version, WAIT_SECONDS)
            if len(changes) >= FAR_BEHIND:
                # A rebuild of the views (or a burst no screen could show one by one): skip to
                # now and give every subscriber a fresh snapshot, rather than fan out history.
                self._skip_to(await self._queries.board_version())
            elif changes:
                self._publish([BoardMessage.of("change", change, self._shape)
                               for change in changes])
            elif (now := await self._queries.board_version()) < self.version:
                # The log went back: the read models were replaced under us (a board-feeds
                # process whose restaurant's files were deleted and rebuilt, or swapped for
                # another's). Waiting for changes after our version would show nothing new
                # until the new log passed it: start again from where it is.
                self._restart_at(now)

    def _skip_to(self, version: int) -> None:
        self.version = self._floor = max(version, self.version)
        self._resync_all()

    def _restart_at(self, version: int) -> None:
        self.version = self._floor = version
        self._snapshot = None  # from the old log: newer in version, older in truth
        self._resync_all()

    def _resync_all(self) -> None:
        self._recent.clear()
        for subscriber in self._subscribers:
            subscriber.resync()
        self._wake_pollers()

    def _publish(self, messages: list[BoardMessage]) -> None:
        for message in messages:
            if len(self._recent) == self._recent.maxlen:
                self._floor = self._recent[0].version
            self._recent.append(message)
            for subscriber in self._subscribers:
                subscriber.offer(message)
        self.version = messages[-1].version
        self._wake_pollers()

    def end_feeds(self) -> None:
        """The server is stopping: end every subscriber's feed now, answer every waiting long
        poll with what it has (``[]``), and any later one at once. Open feeds would otherwise
        hold the server's graceful stop until its timeout and then be cancelled mid-response
        (a long poll got a 500). Clients reconnect, as they do after any drop."""
        self._ending = True
        for subscriber in list(self._subscribers):
            subscriber.close()
        self._wake_pollers()

    def _wake_pollers(self) -> None:
        woken, self._new = self._new, asyncio.Event()
        woken.set()  # every waiting long poll

    async def snapshot(self) -> BoardMessage:
        """The board now: at least as new as the views' checkpoint when called (so it shows an
        order whose placement has been answered, and every change fanned out before), shared
        by the clients that connect within ``snapshot_seconds`` of each other."""
        current = await self._queries.board_version()
        async with self._snapshot_lock:
            cached = self._snapshot
            if (cached is None or cached.version < max(current, self.version)
                    or time.monotonic() - self._snapshot_at > self._snapshot_seconds):
                cached = BoardMessage.of("snapshot", await self._queries.board(), self._shape)
                self._snapshot, self._snapshot_at = cached, time.monotonic()
            return cached

    @asynccontextmanager
    async def subscribe(self, last_version: int | None = None) -> AsyncIterator[BoardSubscriber]:
        """A feed for one client while the block runs: a snapshot first, then each change.

        With ``last_version`` (a reconnecting SSE client's ``Last-Event-ID``) the feed starts
        with the changes after it instead, when the hub still holds all of them; otherwise
        (too old, or from another life of the restaurant: ahead of the log) with a snapshot.
        """
        await self._started.wait()
        subscriber = BoardSubscriber(self, self._buffer)
        if last_version is not None and self._floor <= last_version <= self.version:
            subscriber.resume_after(last_version, self._recent)
        self._subscribers.add(subscriber)
        try:
            yield subscriber
        finally:
            self._subscribers.discard(subscriber)

    async def current_version(self, at_least: int) -> int:
        """The board's version: the hub's own, or, when ``at_least`` is ahead of it, the read
        model's (this hub may lag a change another process has shown the client already)."""
        await self._started.wait()
        if at_least <= self.version:
            return self.version
        return max(self.version, await self._queries.board_version())

    async def changes_after(self, since: int, timeout: float) -> list[JSON]:
        """A long poll: the changes after ``since`` at once if there are any, else the first
        ones within ``timeout`` seconds (else [])."""
        await self._started.wait()
        if since < self._floor:
            # older than what the hub holds: from the log (bounded, one read)
            return await self._queries.board_changes(since)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = self._recent_after(since)
            remaining = deadline - loop.time()
            if found or remaining <= 0 or self._ending:
                return found
            self._polling += 1
            try:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await self._new.wait()
            finally:
                self._polling -= 1

    def _recent_after(self, since: int) -> list[JSON]:
        """The changes after ``since`` the hub holds: O(changes found), newest first read."""
        found: list[JSON] = []
        for message in reversed(self._recent):
            if message.version <= since:
                break
            found.append(message.data)
        found.reverse()
        return found
