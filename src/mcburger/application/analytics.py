"""The analytics consumer: learns preparation times from events, keeps every order's
estimated ready time (at placement, latest, and actual), and measures the kitchen (waits,
throughput, queue, utilisation, estimate accuracy) for the analytics page and API.

Durations are in *kitchen seconds* (wall seconds x the speed factor in force, see
``KitchenClock``) unless a field says ``wall``. Documents written (collection: key):

- ``estimates``: order number -> estimate at placement, latest, actual, wait, error;
- ``item_stats``: item id -> preparation times (count, mean, p50, p90, max; recent units);
- ``analytics_summary``: ``summary`` -> counts, waits, throughput, queue, utilisation,
  stock, refills, estimate accuracy; written once per batch;
- ``analytics_timeline``: bucket start (kitchen seconds) -> one bucket of
  ``BUCKET_SECONDS``, seq = bucket index; only buckets something happened in are stored,
  and ``timeline`` merges them into larger buckets for the API.

Each batch puts only the documents that changed (a summary, a few buckets, the items
prepared, the estimates that moved), with the batch's last position. The measuring lives in
the ``analytics_*`` modules; this one composes them and writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from mcburger.application.analytics_clock import KitchenClock
from mcburger.application.analytics_documents import (
    bucket_document,
    empty_summary,
    summary_document,
)
from mcburger.application.analytics_estimates import OrderEstimates
from mcburger.application.analytics_items import empty_item_stats
from mcburger.application.analytics_measurements import Measurements
from mcburger.application.analytics_samples import percentile
from mcburger.application.analytics_timeline import BUCKET_SECONDS, timeline
from mcburger.application.ports import JSON, EventStore, ReadModelStore, RecordedEvent
from mcburger.application.projection import DocumentBatch
from mcburger.domain.estimates import ItemTimes
from mcburger.domain.events import Event, UnitPrepared
from mcburger.domain.menu import Menu

# What the queries, the API and the tests import from here (some of it lives elsewhere now).
__all__ = ["BUCKET_SECONDS", "CONSUMER", "ESTIMATES", "ITEM_STATS", "SUMMARY", "SUMMARY_KEY",
           "TIMELINE", "Analytics", "KitchenClock", "empty_item_stats", "empty_summary",
           "percentile", "timeline"]

CONSUMER = "analytics"
ESTIMATES, ITEM_STATS = "estimates", "item_stats"
SUMMARY, SUMMARY_KEY = "analytics_summary", "summary"
TIMELINE = "analytics_timeline"


class Analytics:
    """Mirrors ordering and kitchen from the log (never from their services) to estimate and
    to measure.

    Its in-memory state is rebuilt from the whole log at start-up; only documents for events
    after its checkpoint are written, so a restart changes nothing already recorded.
    """

    def __init__(self, events: EventStore, store: ReadModelStore, menu: Menu,
                 restaurant_id: str) -> None:
        self._events = events
        self._store = store
        self._menu = menu
        self._restaurant_id = restaurant_id
        self._item_index = {item.id: index for index, item in enumerate(menu)}
        self._reset()

    def _reset(self) -> None:
        self.measured = Measurements()
        self.estimates = OrderEstimates(self._restaurant_id, self._menu, self.measured)
        self._written: dict[tuple[str, str], JSON] = {}  # the last document put, per key
        self._position = 0

    @property
    def times(self) -> ItemTimes:
        """The preparation times learned so far (what the estimates use)."""
        return self.estimates.times

    async def start(self) -> int:
        """Rebuild memory from the log up to the checkpoint; return the checkpoint."""
        self._reset()
        checkpoint = await self._store.checkpoint(CONSUMER)
        # Estimates at placement are made by a forward simulation when the order is new, not
        # by replaying: take them from the documents (write-once, so a document a partial
        # commit wrote ahead of the checkpoint holds the same value).
        stored = {doc["number"]: doc for doc in await self._store.find(ESTIMATES)}
        for number, document in stored.items():
            self.measured.estimated_at_placement(
                number, datetime.fromisoformat(document["estimated_at_placement"]))
        position = 0
        while position < checkpoint:
            batch = [record for record in await self._events.read_all(position, 1000)
                     if record.position <= checkpoint]
            if not batch:
                break
            for record in batch:
                self._learn(record.event)
            position = batch[-1].position
        self._position = checkpoint
        self.measured.buckets.touched.clear()
        self.estimates.resume(stored)
        return checkpoint

    async def handle(self, batch: Sequence[RecordedEvent]) -> None:
        """Learn a batch of the log and commit the documents it changed with its position."""
        docs = DocumentBatch(self._store)
        batch = [record for record in batch if record.position > self._position]
        if not batch:
            return  # a redelivery within this process: already learned
        self._position = batch[-1].position
        previous_now = self.measured.now
        for index, record in enumerate(batch):
            self._learn(record.event)
            following = batch[index + 1] if index + 1 < len(batch) else None
            if (following is None or following.event.occurred_at != record.event.occurred_at
                    or self.estimates.placement_complete()):
                # After each instant (one decision's events share a time), and as soon as an
                # order's placement is complete: its estimate at placement then depends only
                # on the log up to its placement, not on where batches are cut or on a
                # reaction that happens to share its time stamp.
                self._put_estimates(docs, record)
            if isinstance(record.event, UnitPrepared):
                item = self._menu[record.event.item]
                self._put(docs, ITEM_STATS, item.id, self._item_index[item.id],
                          record.position, self.measured.items.document(item))
        self._put_measurements(docs, previous_now, batch[-1].position)
        await docs.commit(CONSUMER, batch[-1].position)

    def _learn(self, event: Event) -> None:
        # Independent of each other: neither reads what the other learns from an event.
        self.estimates.learn(event)
        self.measured.learn(event)

    def _put_estimates(self, docs: DocumentBatch, record: RecordedEvent) -> None:
        for document in self.estimates.estimate(record.event.occurred_at):
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
        self._put(docs, SUMMARY, SUMMARY_KEY, 0, position,
                  summary_document(self.measured, self.estimates.ordering.last_number))
