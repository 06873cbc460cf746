"""The analytics consumer: learns preparation times from events, keeps every order's
estimated ready time (at placement, latest, and actual), and measures the kitchen (waits,
throughput, queue, utilisation, estimate accuracy) for the analytics page and API.

Durations are in *kitchen seconds* (wall seconds x the speed factor in force, see
``KitchenTime``) unless a field says ``wall``. Documents written (collection: key):

- ``estimates``: order number -> estimate at placement, latest, actual, wait, error;
- ``item_stats``: item id -> preparation times (count, mean, p50, p90, max; recent units);
- ``analytics_summary``: ``summary`` -> counts, waits, throughput, queue, utilisation,
  stock, refills, estimate accuracy; written once per batch;
- ``analytics_timeline``: bucket start (kitchen seconds) -> one bucket of
  ``BUCKET_SECONDS``, seq = bucket index; only buckets something happened in are stored,
  and ``timeline`` merges them into larger buckets for the API.

Each batch puts only the documents that changed (a summary, a few buckets, the items
prepared, the estimates that moved), with the batch's last position. The measuring lives in
the modules of this package; this one composes them and writes.

Its memory is kept in a snapshot document (``analytics_snapshot``), put in the same commit as
the checkpoint every ``SNAPSHOT_EVERY`` events or more (as many as it holds values: digest
centroids and live things, so its writing costs O(1) an event): a restart reads it and the log
after it, never the whole log.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mcburger.application.analytics.documents import (
    bucket_document,
    empty_summary,
    summary_document,
)
from mcburger.application.analytics.estimates import OrderEstimates
from mcburger.application.analytics.items import empty_item_stats
from mcburger.application.analytics.kitchen_time import KitchenTime
from mcburger.application.analytics.measurements import Measurements
from mcburger.application.analytics.mirror import Placement
from mcburger.application.analytics.samples import percentile
from mcburger.application.analytics.timeline import BUCKET_SECONDS, timeline
from mcburger.application.ports import JSON, EventStore, ReadModelStore, RecordedEvent
from mcburger.application.projection import DocumentBatch
from mcburger.domain.aggregate import SnapshotUnreadable
from mcburger.domain.estimates import ItemTimes
from mcburger.domain.events import Event, UnitPrepared
from mcburger.domain.menu import Menu

# What the queries, the API and the tests import from here (some of it lives elsewhere now).
__all__ = ["BUCKET_SECONDS", "CONSUMER", "ESTIMATES", "ITEM_STATS", "SUMMARY", "SUMMARY_KEY",
           "TIMELINE", "Analytics", "KitchenTime", "empty_item_stats", "empty_summary",
           "percentile", "timeline"]

log = logging.getLogger(__name__)

CONSUMER = "analytics"
ESTIMATES, ITEM_STATS = "estimates", "item_stats"
SUMMARY, SUMMARY_KEY = "analytics_summary", "summary"
TIMELINE = "analytics_timeline"
SNAPSHOT, SNAPSHOT_KEY = "analytics_snapshot", "analytics"
SNAPSHOT_SCHEMA = 1  # bump when the memory's shape changes: an older snapshot is then replayed
SNAPSHOT_EVERY = 2000  # events between snapshots, at least


class Analytics:
    """Mirrors ordering and kitchen from the log (never from their services) to estimate and
    to measure.

    Its memory is restored at start-up from its snapshot plus the log after it (the whole
    log only when there is no readable snapshot: the first start after an upgrade); only
    documents for events after its checkpoint are written, so a restart changes nothing
    already recorded.
    """

    def __init__(self, events: EventStore, store: ReadModelStore, menu: Menu,
                 restaurant_id: str, snapshot_every: int = SNAPSHOT_EVERY) -> None:
        self.snapshot_every = snapshot_every
        # Also put a snapshot with the batch that reaches this position: a rebuild worker's
        # last batch, so the server then restores from it without learning the log again.
        self.snapshot_at: int | None = None
        self._events = events
        self._read_models = store
        self._menu = menu
        self._restaurant_id = restaurant_id
        self._item_index = {item.id: index for index, item in enumerate(menu)}
        self._reset()

    def _reset(self) -> None:
        self.measured = Measurements()
        self.estimates = OrderEstimates(self._restaurant_id, self._menu, self.measured)
        self._written: dict[tuple[str, str], JSON] = {}  # the last document put, per key
        self._position = 0
        self._since_snapshot = 0  # events learned since the last snapshot was put

    @property
    def times(self) -> ItemTimes:
        """The preparation times learned so far (what the estimates use)."""
        return self.estimates.times

    async def start(self) -> int:
        """Restore memory up to the checkpoint (snapshot + log after it); return it."""
        self._reset()
        checkpoint = await self._read_models.checkpoint(CONSUMER)
        position = await self._restore_snapshot(checkpoint)
        # Estimates at placement are made by a forward simulation when an order is new, not
        # by replaying: take those made after the snapshot from the documents (write-once, so
        # one a partial commit wrote ahead of the checkpoint holds the same value). Without a
        # snapshot (the first start after an upgrade) that is every document, once.
        after = self.estimates.estimated_up_to() if position else 0
        open_before = set(self.estimates.open_numbers())
        stored = {doc["number"]: doc
                  for doc in await self._read_models.find(ESTIMATES, after_seq=after)}
        for number, document in stored.items():
            if document.get("model_spread_seconds"):  # the replayed READY calibrates with it
                self.estimates.mirror.remember_placement(number, Placement(
                    datetime.fromisoformat(document["model_estimate_at_placement"]),
                    float(document["model_spread_seconds"]),
                    float(document["model_ahead_seconds"]),
                    datetime.fromisoformat(document["promised_ready_from"]),
                    datetime.fromisoformat(document["promised_ready_by"])))
            low, high = document.get("promised_ready_from"), document.get("promised_ready_by")
            self.measured.estimated_at_placement(
                number, datetime.fromisoformat(document["estimated_at_placement"]),
                None if low is None or high is None  # written before the ranges: none
                else (datetime.fromisoformat(low), datetime.fromisoformat(high)))
        replayed = await self._learn_log(position, checkpoint)
        await self._count_replayed_before_ready(open_before | set(stored), stored)
        if replayed:
            log.info("analytics: learned %d events of the log (positions %d-%d) at start-up",
                     replayed, position + 1, checkpoint)
        self._position = checkpoint
        self.measured.buckets.touched.clear()
        self.measured.buckets.forget_before(self.measured.settled_bucket())
        self.measured.forget_collected()
        # The open orders' latest documents (the snapshot's may be older than the checkpoint).
        for number in self.estimates.open_numbers():
            if number in stored:
                continue
            if doc := await self._read_models.get(ESTIMATES, str(number)):
                stored[number] = doc
        self.estimates.resume(stored)
        if not position and checkpoint:
            self._since_snapshot = self.snapshot_every  # snapshot with the next batch
        return checkpoint

    async def _count_replayed_before_ready(self, numbers: set[int],
                                           stored: dict[int, JSON]) -> None:
        """Orders that became READY in the replayed stretch: their accuracy before READY was
        measured when they were (it needs the estimates as they went), and is in their
        documents."""
        open_now = set(self.estimates.open_numbers())
        for number in sorted(numbers - open_now):
            document = stored.get(number) or await self._read_models.get(ESTIMATES, str(number))
            errors = (document or {}).get("error_before_ready_seconds")
            if errors:
                self.measured.estimated_before_ready({int(s): float(e)
                                                      for s, e in errors.items()})

    async def _restore_snapshot(self, checkpoint: int) -> int:
        """Restore the snapshot if it is readable and not past the checkpoint; its position."""
        found = await self._read_models.get_versioned(SNAPSHOT, SNAPSHOT_KEY)
        if found is None:
            return 0
        document, position = found
        if document.get("schema") != SNAPSHOT_SCHEMA or position > checkpoint:
            # An unknown format, or one a half-done commit (no transaction: MongoDB) wrote
            # ahead of its checkpoint: replay instead, never guess.
            log.warning("analytics: snapshot (schema %s, position %s, checkpoint %s) not used; "
                        "replaying the log", document.get("schema"), position, checkpoint)
            return 0
        try:
            self._restore(document["state"])
        except (KeyError, TypeError, ValueError, AttributeError, SnapshotUnreadable) as error:
            log.warning("analytics: snapshot unreadable (%s); replaying the log", error)
            self._reset()
            return 0
        return position

    def _restore(self, state: dict[str, Any]) -> None:
        self.measured = Measurements.restored(state["measured"])
        self.estimates = OrderEstimates(self._restaurant_id, self._menu, self.measured)
        self.estimates.restore(state["estimates"])

    async def _learn_log(self, after: int, checkpoint: int) -> int:
        position, learned = after, 0
        while position < checkpoint:
            batch = [record for record in await self._events.read_all(position, 1000)
                     if record.position <= checkpoint]
            if not batch:
                break
            for record in batch:
                self._apply(record.event)
            learned += len(batch)
            position = batch[-1].position
        return learned

    def _state(self) -> dict[str, Any]:
        return {"measured": self.measured.state(), "estimates": self.estimates.state()}

    async def handle(self, batch: Sequence[RecordedEvent]) -> None:
        """Learn a batch of the log and commit the documents it changed with its position."""
        docs = DocumentBatch(self._read_models)
        batch = [record for record in batch if record.position > self._position]
        if not batch:
            return  # a redelivery within this process: already learned
        self._position = batch[-1].position
        previous_now = self.measured.now
        prepared: dict[str, int] = {}  # item: position of its last UnitPrepared in the batch
        for index, record in enumerate(batch):
            self._apply(record.event)
            following = batch[index + 1] if index + 1 < len(batch) else None
            if following is None:
                self._put_estimates(docs, record, latest=True)  # what this batch writes
            elif (following.event.occurred_at != record.event.occurred_at
                    or self.estimates.placement_complete()):
                # After each instant (one decision's events share a time), and as soon as an
                # order's placement is complete: its estimate at placement then depends only
                # on the log up to its placement, not on where batches are cut or on a
                # reaction that happens to share its time stamp.
                self._put_estimates(docs, record, latest=False)
            if isinstance(record.event, UnitPrepared):
                prepared[record.event.item] = record.position
        for item_id, position in prepared.items():  # once a batch: its statistics are O(menu)
            item = self._menu[item_id]
            self._put(docs, ITEM_STATS, item.id, self._item_index[item.id], position,
                      self.measured.items.document(item))
        self._put_measurements(docs, previous_now, batch[-1].position)
        self.measured.forget_collected()
        self._since_snapshot += len(batch)
        if self._since_snapshot >= self.snapshot_interval() or (
                self.snapshot_at is not None and batch[-1].position >= self.snapshot_at):
            # Last of the batch's puts: an engine without transactions that stops half-way
            # leaves the previous snapshot (and it is ignored anyway when past the checkpoint).
            docs.put(SNAPSHOT, SNAPSHOT_KEY, 0, batch[-1].position,
                     {"schema": SNAPSHOT_SCHEMA, "state": self._state()})
            self._since_snapshot = 0
        await docs.commit(CONSUMER, batch[-1].position)

    def snapshot_interval(self) -> int:
        """Events between snapshots: ``snapshot_every``, or as many as the snapshot holds values
        (digest centroids, live orders) when more, so writing it costs O(1) an event, even in
        a rebuild from position 0; a restart replays at most this many events."""
        return max(self.snapshot_every,
                   len(self.estimates.ordering.orders) + self.measured.size)

    def _apply(self, event: Event) -> None:
        # Independent of each other: neither reads what the other learns from an event.
        self.estimates.apply(event)
        self.measured.apply(event)

    def _put_estimates(self, docs: DocumentBatch, record: RecordedEvent, latest: bool) -> None:
        for document in self.estimates.estimate(record.event.occurred_at, latest):
            number = document["number"]
            docs.put(ESTIMATES, str(number), number, record.position, document)

    def _put(self, docs: DocumentBatch, collection: str, key: str, seq: int, position: int,
             document: JSON) -> None:
        """Put ``document`` unless it is what this process last put there (most hold still)."""
        if self._written.get((collection, key)) != document:
            self._written[(collection, key)] = document
            docs.put(collection, key, seq, position, document)

    def _put_measurements(self, docs: DocumentBatch, previous_now: float, position: int) -> None:
        dirty = sorted(self.measured.dirty_buckets(previous_now))
        for bucket in dirty:
            self._put(docs, TIMELINE, str(bucket * BUCKET_SECONDS), bucket, position,
                      bucket_document(self.measured, bucket))
        self.measured.buckets.touched.clear()
        # Buckets behind the oldest one that changed are done: forget what was put there, so
        # memory holds a few buckets, not a day's (a late change would simply be put again).
        for slot in [slot for slot in self._written
                     if slot[0] == TIMELINE and int(slot[1]) < dirty[0] * BUCKET_SECONDS]:
            del self._written[slot]
        self.measured.buckets.forget_before(self.measured.settled_bucket())
        self._put(docs, SUMMARY, SUMMARY_KEY, 0, position,
                  summary_document(self.measured, self.estimates.ordering.last_number))
