"""Following the global event log from a checkpoint."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Sequence

from mcburger.application.ports import BatchHandler, EventStore, RecordedEvent
from mcburger.domain.events import category_of

log = logging.getLogger(__name__)


# Up to this many events a batch: a consumer far behind (a rebuild from position 0) commits,
# and writes its per-batch documents (summaries, latest estimates, timeline buckets), once per
# batch, so big batches are what make a rebuild fast; a live one gets what is new. Bounded:
# a batch holds a few MB.
BATCH_SIZE = 5000

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
        self._events = store
        self._handle = handle
        self.categories = categories
        self._batch_size = batch_size
        self.position = 0  # last event handed to the handler
        self.scanned = 0  # log position up to which nothing else is of interest

    async def lag(self, head: int) -> int:
        """Events of the log up to ``head`` not taken in (nor scanned past) yet."""
        return max(0, head - max(self.position, self.scanned))

    async def run(self, after: int) -> None:
        self.position = self.scanned = after
        while True:
            await self.poll_once()
            await self._events.wait_for_append(self.scanned, timeout=30.0)

    async def poll_once(self) -> int:
        """Handle everything available now; return how many events were handled."""
        handled = 0
        progress: _Progress | None = None
        while True:
            head = await self._events.last_position()
            progress = progress or _Progress(self.name, self.position, head)
            batch = await self._events.read_all(self.position, self._batch_size, self.categories)
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
            if len(batch) < self._batch_size:
                # A short batch was read after ``head``: nothing of interest is left up to it,
                # so no second read to find that out (live, a wake is one read, not two).
                self.scanned = max(self.scanned, head)
                progress.done(head)
                return handled

    async def take(self, batch: Sequence[RecordedEvent]) -> None:
        """Handle what of a batch of the log (read for several subscriptions) is for this one:
        its categories, after its position; the whole batch counts as scanned."""
        categories = self.categories
        mine = [record for record in batch if record.position > self.position
                and (categories is None or category_of(record.stream) in categories)]
        if mine:
            try:
                await self._handle(mine)
            except Exception as error:
                # The shared task restarts them all: say which one failed, and why.
                raise ConsumerFailed(f"{self.name}: {type(error).__name__}: {error}") from error
            self.position = mine[-1].position
        self.scanned = max(self.scanned, batch[-1].position)


class ConsumerFailed(Exception):
    """One subscription of a ``SharedSubscription`` failed (its name and the cause's)."""


class SharedSubscription:
    """Several subscriptions of one process fed by one read of the log.

    The log is read, and its events deserialized, once for all of them instead of once each:
    in a rebuild from position 0 that read is a good part of the work. Each gets its categories
    after its own position, so they may start from different checkpoints. They handle a batch
    concurrently while the next one is read; the slowest sets the pace, and a crash of one
    stops them all and the supervisor restarts them (each from its own checkpoint:
    idempotent). One caught up elsewhere (a rebuild in a worker process) ``join``s later.
    """

    def __init__(self, name: str, store: EventStore, subscriptions: Sequence[Subscription],
                 batch_size: int = BATCH_SIZE) -> None:
        self.name = name
        self.subscriptions = list(subscriptions)
        self._events = store
        self._batch_size = batch_size
        self._joining: list[tuple[Subscription, int]] = []
        self._joined = asyncio.Event()
        self._categories: list[str] | None = []
        self._union_categories()

    def _union_categories(self) -> None:
        categories = [s.categories for s in self.subscriptions]
        self._categories = None if None in categories else sorted(
            {category for some in categories if some is not None for category in some})

    async def run(self, after: Sequence[int]) -> None:
        for subscription, position in zip(self.subscriptions, after, strict=True):
            subscription.position = subscription.scanned = position
        while True:
            self._admit()
            await self.poll_once()
            if not self._joining:
                await self._wait_for_append_or_join(self._scanned())

    def join(self, subscription: Subscription, after: int) -> None:
        """Add ``subscription``, whose handler has taken in the log up to ``after``, between
        two batches (it may be far ahead of the others: it gets only what is after ``after``).
        """
        self._joining.append((subscription, after))
        self._joined.set()

    def _admit(self) -> None:
        for subscription, position in self._joining:
            subscription.position = subscription.scanned = position
            self.subscriptions.append(subscription)
        if self._joining:
            self._joining.clear()
            self._union_categories()
        self._joined.clear()

    async def _wait_for_append_or_join(self, after: int) -> None:
        if not self.subscriptions:  # all of them catching up elsewhere yet
            await self._joined.wait()
            return
        appended = asyncio.ensure_future(self._events.wait_for_append(after, timeout=30.0))
        joined = asyncio.ensure_future(self._joined.wait())
        try:
            await asyncio.wait((appended, joined), return_when=asyncio.FIRST_COMPLETED)
        finally:
            appended.cancel()
            joined.cancel()

    async def poll_once(self) -> int:
        """Hand everything available now to the subscriptions; return how many events were
        read."""
        read = 0
        if not self.subscriptions:
            return read
        position = self._scanned()
        progress: _Progress | None = None
        # The next batch is read while this one is handled (the store works in its own thread)
        ahead: asyncio.Future[tuple[int, list[RecordedEvent]]] | None = (
            asyncio.ensure_future(self._read(position)))
        try:
            while ahead is not None:
                head, batch = await ahead
                progress = progress or _Progress(self.name, position, head)
                if not batch:
                    self._scanned_up_to(head, progress)
                    return read
                # A short batch was read after ``head``: nothing is left up to it, so no read
                # ahead (live, a wake is one read, not two)
                short = len(batch) < self._batch_size
                ahead = None if short else asyncio.ensure_future(
                    self._read(batch[-1].position))
                await self._hand_out(batch)
                read += len(batch)
                progress.at(batch[-1].position)
                if short:
                    self._scanned_up_to(head, progress)
                if self._joining:  # read on from where the newcomer is too
                    return read
            return read
        finally:
            if ahead is not None:
                ahead.cancel()

    def _scanned_up_to(self, head: int, progress: _Progress) -> None:
        for subscription in self.subscriptions:
            subscription.scanned = max(subscription.scanned, head)
        progress.done(head)

    async def _hand_out(self, batch: Sequence[RecordedEvent]) -> None:
        """Every subscription takes the batch, concurrently. When one fails the others are
        cancelled and awaited first: none may still be writing when the supervisor restarts
        them all (analytics, say, restores its memory on restart)."""
        try:
            async with asyncio.TaskGroup() as group:
                for subscription in self.subscriptions:
                    group.create_task(subscription.take(batch))
        except* ConsumerFailed as failed:
            error = failed.exceptions[0]
            raise error from error.__cause__  # the failure itself, not its group

    async def _read(self, after: int) -> tuple[int, list[RecordedEvent]]:
        """The log's head, then up to a batch after ``after`` (nothing of interest up to the
        head when the batch is empty)."""
        head = await self._events.last_position()
        return head, await self._events.read_all(after, self._batch_size, self._categories)

    def _scanned(self) -> int:
        """The log position up to which every subscription has seen everything."""
        return min((max(s.position, s.scanned) for s in self.subscriptions), default=0)


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
