"""Following the global event log from a checkpoint."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Sequence

from mcburger.application.ports import EventStore, RecordedEvent

log = logging.getLogger(__name__)

BatchHandler = Callable[[Sequence[RecordedEvent]], Awaitable[None]]


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
        batch_size: int = 200,
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
        while True:
            head = await self._store.last_position()
            batch = await self._store.read_all(self.position, self._batch_size, self._categories)
            if not batch:
                # Nothing of interest up to ``head``: wait for appends beyond it, not before it,
                # or events of other categories would wake us in a loop.
                self.scanned = max(self.scanned, head)
                return handled
            await self._handle(batch)
            self.position = batch[-1].position
            self.scanned = max(self.scanned, self.position)
            handled += len(batch)
