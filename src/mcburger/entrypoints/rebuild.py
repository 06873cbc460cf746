"""One projection's rebuild in a worker process of ``mcburger run``.

    python -m mcburger.entrypoints.rebuild NAME PARENT_PID  < settings.json

Why a process: a rebuild from position 0 (after ``readmodels.db`` was deleted, or an upgrade
that changes a read model) is CPU-bound Python, and the projections of one process share one
core (the GIL). So ``mcburger run`` hands the projections that cost most (analytics first) to
worker processes of their own when they are far behind, one per spare core, and catches the
others up itself; each joins the process's shared read of the log again once its worker has
caught it up (see ``Restaurant._rebuild_elsewhere``).

The worker opens the same stores from the settings (JSON on stdin), runs the one consumer from
its checkpoint to the head of the log, commits as the consumer always does (its documents with
its checkpoint, one transaction a batch) and exits 0. It writes nothing but that projection's
read models, which its parent does not touch meanwhile. Between batches it checks that its
parent still lives and stops if not: it never outlives the holder of the data directory's lock.
Exit status 1: it failed (the parent then catches up in process, from wherever it got).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from mcburger.application.feeds.log import ConsumerFailed, SharedSubscription, Subscription
from mcburger.application.ports import RecordedEvent
from mcburger.bootstrap import bootstrap
from mcburger.config import Settings

log = logging.getLogger("mcburger")


class ParentGone(Exception):
    """The process that started this rebuild has ended."""


async def rebuild(settings: Settings, name: str, parent: int) -> int:
    """Catch consumer ``name`` up to the head of the log; return the position it reached.

    Raises ``ParentGone`` between two batches once process ``parent`` has ended, ``KeyError``
    for a consumer the restaurant does not have."""
    restaurant = await bootstrap(settings, roles=frozenset())  # no service runs here
    try:
        consumer = restaurant.consumers()[name]

        async def handle(batch: Sequence[RecordedEvent]) -> None:
            if os.getppid() != parent:  # re-parented: the parent died (even by kill -9)
                raise ParentGone(f"process {parent} has ended")
            await consumer.handle(batch)

        feed = Subscription(name, restaurant.event_store, handle,
                            consumer.declared.log_categories)
        feed.position = feed.scanned = await consumer.checkpoint()
        if name == "analytics":  # its memory, as of the last batch: the server restores it
            restaurant.analytics.snapshot_at = await restaurant.event_store.last_position()
        # Shared with no one, for its read-ahead: the next batch is read (in the store's
        # thread) while this one is handled
        try:
            await SharedSubscription(name, restaurant.event_store, [feed]).poll_once()
        except ConsumerFailed as failed:
            if isinstance(failed.__cause__, ParentGone):
                raise failed.__cause__ from None
            raise
        return feed.position
    finally:
        await restaurant.stop()


def main(argv: Sequence[str]) -> int:
    name, parent = argv[0], int(argv[1])
    settings = Settings.model_validate_json(sys.stdin.read())
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s [rebuild] %(name)s: %(message)s")
    try:
        asyncio.run(rebuild(settings, name, parent))
    except ParentGone as gone:
        log.warning("%s: rebuild stopped: %s", name, gone)
        return 1
    except Exception:
        log.exception("%s: rebuild failed", name)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
