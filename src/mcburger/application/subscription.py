"""Following the global event log from a checkpoint."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence

from mcburger.application.ports import EventStore, RecordedEvent

log = logging.getLogger(__name__)

BatchHandler = Callable[[Sequence[RecordedEvent]], Awaitable[None]]

# Up to this many events a batch: a consumer far behind (a rebuild from position 0) commits
# once per batch, so big batches are what make a rebuild fast; a live one gets what is new.
BATCH_SIZE = 1000

# A consumer this far behind the head of the log is rebuilding: it says so, and how it goes.
REBUILD_EVENTS = 10_000
PROGRESS_SECONDS = 5.0


class Subscription:
    """Reads the log after a checkpoint and hands batches to a handler, forever.

    The handler stores its effects together with the batch's last position (tracking record or
    read-model checkpoint), so a crash between two batches redelivers at most one batch and a
    redelivered batch changes nothing. Between batches it sleeps until the store says something
    was appended: no busy polling.
    """

    def __init__(
        self,
        name: str,
        store: EventStore,
        handle: BatchHandler,
        categories: Collection[str] | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self.name = name
        self._store = store
        self._handle = handle
        self._categories = categories
        self._batch_size = batch_size
        self.position = 0  # last event handed to the handler
        self.scanned = 0  # log position up to which nothing else is of interest

    async def run(self, after: int) -> None:
        self.position = self.scanned = after
        while True:
            await self.poll_once()
            await self._store.wait_for_append(self.scanned, timeout=30.0)

    async def poll_once(self) -> int:
        """Handle everything available now; return how many events were handled."""
        handled = 0
        progress = _Progress(self.name, self.position, await self._store.last_position())
        while True:
            head = await self._store.last_position()
            batch = await self._store.read_all(self.position, self._batch_size, self._categories)
            if not batch:
                # Nothing of interest up to ``head``: wait for appends beyond it, not before it,
                # or events of other categories would wake us in a loop.
                self.scanned = max(self.scanned, head)
                progress.done(head)
                return handled
            await self._handle(batch)
            self.position = batch[-1].position
            self.scanned = max(self.scanned, self.position)
            handled += len(batch)
            progress.at(self.position)


class _Progress:
    """Log lines for a consumer that starts far behind the log's head (a rebuild)."""

    def __init__(self, name: str, start: int, head: int) -> None:
        self._name, self._start, self._head = name, start, head
        self._on = head - start >= REBUILD_EVENTS
        self._began = self._last = time.monotonic()
        if self._on:
            log.info("%s: catching up from position %d to %d", name, start, head)

    def at(self, position: int) -> None:
        now = time.monotonic()
        if self._on and now - self._last >= PROGRESS_SECONDS:
            self._last = now
            log.info("%s: at position %d of %d (%.0f%%), %.0f log positions/s", self._name,
                     position, self._head, 100 * (position - self._start)
                     / max(1, self._head - self._start), self._rate(position, now))

    def done(self, head: int) -> None:
        if self._on:
            now = time.monotonic()
            log.info("%s: caught up at position %d in %.1f s (%.0f log positions/s)",
                     self._name, head, now - self._began, self._rate(head, now))
            self._on = False

    def _rate(self, position: int, now: float) -> float:
        return (position - self._start) / max(now - self._began, 1e-9)
