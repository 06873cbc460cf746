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
prepared, the estimates that moved), with the batch's last position.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mcburger.application.ports import JSON, EventStore, ReadModelStore, RecordedEvent
from mcburger.application.projection import DocumentBatch
from mcburger.domain.estimates import ItemTimes, estimate_ready_times
from mcburger.domain.events import (
    Event,
    KitchenConfigured,
    KitchenEvent,
    KitchenUnitsRequested,
    OrderCollected,
    OrderEvent,
    OrderPlaced,
    OrderReady,
    PreparationStarted,
    UnitAllocated,
    UnitPrepared,
    UnitQueued,
    UnitsCovered,
    UnitStocked,
)
from mcburger.domain.kitchen import Kitchen
from mcburger.domain.menu import Menu, MenuItem
from mcburger.domain.ordering import Ordering, OrderStatus

CONSUMER = "analytics"
ESTIMATES, ITEM_STATS = "estimates", "item_stats"
SUMMARY, SUMMARY_KEY = "analytics_summary", "summary"
TIMELINE = "analytics_timeline"
BUCKET_SECONDS = 60  # kitchen seconds per stored timeline bucket; queries merge them
RECENT_UNITS = 20  # the "recent" window of item statistics


# --- measuring ------------------------------------------------------------------------------


def percentile(ordered: Sequence[float], fraction: float) -> float | None:
    """Linear interpolation between the closest ranks of sorted samples (numpy's default)."""
    if not ordered:
        return None
    rank = fraction * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _round(value: float | None) -> float | None:
    # Documents hold milliseconds: enough for a chart, and stable under float noise.
    return None if value is None else round(value, 3)


class Samples:
    """Durations kept sorted (a day is thousands of samples), for means and percentiles."""

    def __init__(self) -> None:
        self.ordered: list[float] = []
        self.total = 0.0

    def add(self, value: float) -> None:
        bisect.insort(self.ordered, value)
        self.total += value

    def stats(self, suffix: str = "seconds") -> JSON:
        count = len(self.ordered)
        return {f"mean_{suffix}": _round(self.total / count) if count else None,
                f"p50_{suffix}": _round(percentile(self.ordered, 0.5)),
                f"p90_{suffix}": _round(percentile(self.ordered, 0.9)),
                f"max_{suffix}": _round(self.ordered[-1]) if count else None}


@dataclass
class Durations:
    """One kind of wait, measured both in kitchen seconds and in wall seconds."""

    kitchen: Samples = field(default_factory=Samples)
    wall: Samples = field(default_factory=Samples)

    def add(self, kitchen_seconds: float, wall_seconds: float) -> None:
        self.kitchen.add(kitchen_seconds)
        self.wall.add(wall_seconds)

    def stats(self, kind: str = "") -> JSON:
        return {"count": len(self.kitchen.ordered), **self.kitchen.stats(f"{kind}seconds"),
                **self.wall.stats(f"{kind}wall_seconds")}


@dataclass(frozen=True)
class _Setup:
    wall: datetime  # when this set-up took effect
    kitchen: float  # kitchen seconds since the first set-up, at ``wall``
    speed: float
    workers: int


class KitchenClock:
    """Kitchen seconds since the kitchen was first configured: wall time multiplied by the
    speed factor in force, piece by piece (each ``KitchenConfigured`` starts a piece).

    A preparation that started at ``--speed 60`` and is recorded after a restart at
    ``--speed 120`` is still measured at 60: its wall times fall in the first piece.
    """

    def __init__(self) -> None:
        self.setups: list[_Setup] = []

    def configure(self, at: datetime, speed: float, workers: int) -> None:
        if self.setups:
            last = self.setups[-1]
            at = max(at, last.wall)  # another process's clock may lag a little
            self.setups.append(_Setup(at, self.at(at), speed, workers))
        else:
            self.setups.append(_Setup(at, 0.0, speed, workers))

    @property
    def speed(self) -> float:
        return self.setups[-1].speed if self.setups else 1.0

    @property
    def workers(self) -> int:
        return self.setups[-1].workers if self.setups else 0

    def at(self, wall: datetime) -> float:
        """Kitchen seconds at ``wall`` (negative before the first set-up; 0 without one)."""
        if not self.setups:
            return 0.0
        index = max(0, bisect.bisect_right(self.setups, wall, key=lambda s: s.wall) - 1)
        setup = self.setups[index]
        return setup.kitchen + (wall - setup.wall).total_seconds() * setup.speed

    def between(self, start: datetime, end: datetime) -> float:
        return self.at(end) - self.at(start)

    def setup_at(self, kitchen: float) -> _Setup | None:
        """The set-up in force at a kitchen time (the first one before it)."""
        if not self.setups:
            return None
        return self.setups[max(0, bisect.bisect_right(
            self.setups, kitchen, key=lambda s: s.kitchen) - 1)]

    def wall_at(self, kitchen: float) -> datetime | None:
        setup = self.setup_at(kitchen)
        if setup is None:
            return None
        return setup.wall + timedelta(seconds=(kitchen - setup.kitchen) / setup.speed)

    def worker_seconds(self, start: float, end: float, worker: int | None = None) -> float:
        """Worker time available between two kitchen times (one worker's, or everyone's)."""
        total = 0.0
        for index, setup in enumerate(self.setups):
            until = self.setups[index + 1].kitchen if index + 1 < len(self.setups) else end
            overlap = min(end, until) - max(start, setup.kitchen)
            if overlap > 0:
                workers = setup.workers if worker is None else int(setup.workers >= worker)
                total += overlap * workers
        return total


@dataclass
class _Bucket:
    busy_seconds: float = 0.0  # worker time of finished preparations within the bucket
    orders_ready: int = 0
    wait_seconds: float = 0.0  # placed -> ready, summed over the orders ready in it


@dataclass
class _Preparing:
    started_at: datetime
    worker: int
    refill: bool


class Measurements:
    """The kitchen measured from the events, in log order: pure memory, rebuilt from the log.

    ``learn`` takes every event; the ``*_document`` methods shape what is stored. Times are
    the events' ``occurred_at`` (wall clock), turned into kitchen seconds by ``clock``.
    """

    def __init__(self) -> None:
        self.clock = KitchenClock()
        self.as_of: datetime | None = None  # the newest event's time
        self.placed: dict[int, datetime] = {}
        self.ready: dict[int, datetime] = {}
        self.collected = 0
        self.waits, self.pickups = Durations(), Durations()
        self.placement_estimates: dict[int, datetime] = {}
        self.errors = Durations()  # absolute errors of the estimates at placement
        self.signed_error = 0.0  # kitchen seconds, summed: > 0 when orders come late
        self._error_counted: set[int] = set()
        self.item_times: dict[str, Samples] = defaultdict(Samples)
        self.recent: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=RECENT_UNITS))
        self.preparing: dict[str, _Preparing] = {}
        self.busy_seconds: dict[int, float] = defaultdict(float)  # per worker, finished work
        self.buckets: dict[int, _Bucket] = defaultdict(_Bucket)
        self.queue_length = 0
        self._queue_ends: list[tuple[int, int]] = []  # (bucket, queue length at its end)
        self.units = {"stock": 0, "kitchen": 0}
        self.refill_units = self.units_stocked = 0
        self.touched: set[int] = set()  # buckets changed since the caller last cleared it

    # --- learning ---------------------------------------------------------------------------

    def learn(self, event: Event) -> None:
        at = event.occurred_at
        self.as_of = at if self.as_of is None else max(self.as_of, at)
        match event:
            case KitchenConfigured():
                self.clock.configure(at, event.speed, event.workers)
            case OrderPlaced():
                self.placed[event.number] = at
            case OrderReady():
                self._order_ready(event.number, at)
            case OrderCollected():
                self.collected += 1
                ready = self.ready.get(event.number)
                if ready is not None:
                    self.pickups.add(self.clock.between(ready, at), (at - ready).total_seconds())
            case UnitAllocated():
                self.units[event.source] += 1
            case UnitStocked():
                self.units_stocked += 1
            case UnitQueued():
                self._queue_changed(at, +1)
            case PreparationStarted():
                self.preparing[event.preparation_id] = _Preparing(at, event.worker,
                                                                  event.request_id is None)
                if event.request_id is not None:
                    self._queue_changed(at, -1)
            case UnitPrepared():
                self._prepared(event, at)
        self.touched.add(self.bucket_of(at))

    def _order_ready(self, number: int, at: datetime) -> None:
        self.ready[number] = at
        placed = self.placed.get(number, at)
        wait = self.clock.between(placed, at)
        self.waits.add(wait, (at - placed).total_seconds())
        bucket = self.buckets[self.bucket_of(at)]
        bucket.orders_ready += 1
        bucket.wait_seconds += wait
        self._count_error(number)

    def _queue_changed(self, at: datetime, delta: int) -> None:
        self.queue_length += delta
        bucket = self.bucket_of(at)
        if self._queue_ends and self._queue_ends[-1][0] >= bucket:
            # the kitchen's own events are stamped in order: a later one never lands earlier
            self._queue_ends[-1] = (self._queue_ends[-1][0], self.queue_length)
        else:
            self._queue_ends.append((bucket, self.queue_length))

    def _prepared(self, event: UnitPrepared, at: datetime) -> None:
        preparing = self.preparing.pop(event.preparation_id, None)
        if preparing is None:
            return
        start, end = self.clock.at(preparing.started_at), self.clock.at(at)
        self.item_times[event.item].add(end - start)
        self.recent[event.item].append(end - start)
        self.busy_seconds[preparing.worker] += end - start
        self.refill_units += preparing.refill
        for bucket in self._buckets_between(start, end):
            self.buckets[bucket].busy_seconds += _overlap(start, end, bucket)
            self.touched.add(bucket)

    def estimated_at_placement(self, number: int, at: datetime) -> None:
        """The estimate made when the order was placed (first one wins: it is write-once)."""
        self.placement_estimates.setdefault(number, at)
        self._count_error(number)

    def _count_error(self, number: int) -> None:
        error = self.error(number)
        if error is not None and number not in self._error_counted:
            self._error_counted.add(number)
            self.errors.add(abs(error[0]), abs(error[1]))
            self.signed_error += error[0]

    def wait(self, number: int) -> float | None:
        """Placed -> ready, kitchen seconds (None until ready)."""
        placed, ready = self.placed.get(number), self.ready.get(number)
        return None if placed is None or ready is None else self.clock.between(placed, ready)

    def error(self, number: int) -> tuple[float, float] | None:
        """Actual ready time minus the estimate at placement: (kitchen, wall) seconds."""
        estimate, ready = self.placement_estimates.get(number), self.ready.get(number)
        if estimate is None or ready is None:
            return None
        return self.clock.between(estimate, ready), (ready - estimate).total_seconds()

    # --- time -------------------------------------------------------------------------------

    @property
    def now(self) -> float:
        """Kitchen seconds at the newest event."""
        return 0.0 if self.as_of is None else max(0.0, self.clock.at(self.as_of))

    def bucket_of(self, at: datetime) -> int:
        return max(0, math.floor(self.clock.at(at) / BUCKET_SECONDS))

    @staticmethod
    def _buckets_between(start: float, end: float) -> range:
        first = max(0, math.floor(start / BUCKET_SECONDS))
        return range(first, max(first, math.floor(end / BUCKET_SECONDS)) + 1)

    def _busy_now(self, start: float, end: float) -> float:
        """Worker time, between two kitchen times, of the preparations still going on."""
        now = self.now
        return sum(max(0.0, min(end, now) - max(start, self.clock.at(p.started_at)))
                   for p in self.preparing.values())

    def dirty_buckets(self, previous_now: float) -> set[int]:
        """Buckets whose document may have changed since the newest event was at
        ``previous_now``: those events touched, and those time moved on in."""
        first = math.floor(previous_now / BUCKET_SECONDS)
        if self.preparing:  # work going on fills every bucket time moved through
            return self.touched | set(range(first, math.floor(self.now / BUCKET_SECONDS) + 1))
        return self.touched | {first, math.floor(self.now / BUCKET_SECONDS)}

    # --- documents --------------------------------------------------------------------------

    def bucket_document(self, index: int) -> JSON:
        start = index * BUCKET_SECONDS
        elapsed = min(BUCKET_SECONDS, max(0.0, self.now - start))
        bucket = self.buckets.get(index, _Bucket())
        queue = bisect.bisect_right(self._queue_ends, (index, math.inf)) - 1
        wall = self.clock.wall_at(start)
        # the set-up at the bucket's end: what an idle bucket after it would have had
        setup = self.clock.setup_at(start + elapsed)
        return {"bucket": index, "start_kitchen_seconds": start,
                "start": wall.isoformat() if wall else None,
                "speed": setup.speed if setup else 1.0, "workers": setup.workers if setup else 0,
                "elapsed_seconds": _round(elapsed),
                "worker_seconds": _round(self.clock.worker_seconds(start, start + elapsed)),
                "busy_worker_seconds": _round(
                    bucket.busy_seconds + self._busy_now(start, start + elapsed)),
                "queue_length": self._queue_ends[queue][1] if queue >= 0 else 0,
                "orders_ready": bucket.orders_ready,
                "wait_seconds_total": _round(bucket.wait_seconds)}

    def item_document(self, item: MenuItem) -> JSON:
        samples = self.item_times[item.id]
        recent = Samples()
        for value in self.recent[item.id]:
            recent.add(value)
        return {"item": item.id, "name": item.name, "menu_seconds": item.prep_seconds,
                "count": len(samples.ordered),
                **samples.stats(), "window": RECENT_UNITS, "recent_count": len(recent.ordered),
                **{f"recent_{name}": value for name, value in recent.stats().items()}}

    def summary_document(self, last_order_number: int) -> JSON:
        now = self.now
        busy = sum(self.busy_seconds.values()) + self._busy_now(0.0, now)
        capacity = self.clock.worker_seconds(0.0, now)
        workers = max((s.workers for s in self.clock.setups), default=0)
        per_worker = []
        for worker in range(1, workers + 1):
            own = self.busy_seconds[worker] + sum(
                max(0.0, now - self.clock.at(p.started_at))
                for p in self.preparing.values() if p.worker == worker)
            available = self.clock.worker_seconds(0.0, now, worker)
            per_worker.append({"worker": worker, "busy_seconds": _round(own),
                               "utilisation": _round(own / available) if available else None})
        allocated = self.units["stock"] + self.units["kitchen"]
        errors = len(self.errors.kitchen.ordered)
        return {
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "kitchen_seconds": _round(now), "speed": self.clock.speed,
            "workers": self.clock.workers, "last_order_number": last_order_number,
            "orders_placed": len(self.placed), "orders_ready": len(self.ready),
            "orders_collected": self.collected,
            "orders_waiting": len(self.placed) - len(self.ready),
            "wait_placed_to_ready": self.waits.stats(),
            "wait_ready_to_collected": self.pickups.stats(),
            "throughput_per_kitchen_hour": _round(len(self.ready) / (now / 3600)) if now else None,
            "queue_length": self.queue_length, "busy_workers": len(self.preparing),
            "utilisation": _round(busy / capacity) if capacity else None,
            "busy_worker_seconds": _round(busy), "worker_seconds": _round(capacity),
            "per_worker": per_worker,
            "units_from_stock": self.units["stock"], "units_from_kitchen": self.units["kitchen"],
            "stock_share": _round(self.units["stock"] / allocated) if allocated else None,
            "refill_units": self.refill_units, "units_stocked": self.units_stocked,
            "estimate_error": {
                **self.errors.stats("abs_"),
                "bias_seconds": _round(self.signed_error / errors) if errors else None},
            "bucket_seconds": BUCKET_SECONDS, "last_bucket": math.floor(now / BUCKET_SECONDS),
        }


def _overlap(start: float, end: float, bucket: int) -> float:
    return max(0.0, min(end, (bucket + 1) * BUCKET_SECONDS) - max(start, bucket * BUCKET_SECONDS))


def empty_summary() -> JSON:
    """The summary before anything happened (what the API shows until the first event)."""
    return Measurements().summary_document(0)


def empty_item_stats(item: MenuItem) -> JSON:
    """An item's statistics before its first unit was prepared."""
    return Measurements().item_document(item)


def timeline(documents: Sequence[JSON], bucket_seconds: int, limit: int) -> list[JSON]:
    """Merge stored base buckets (ordered by bucket) into the newest ``limit`` buckets of
    ``bucket_seconds`` (a multiple of ``BUCKET_SECONDS``).

    A base bucket without a document between two with one was idle: no order ready, no
    worker busy, the queue as the bucket before left it.
    """
    factor = bucket_seconds // BUCKET_SECONDS
    groups: dict[int, list[JSON]] = defaultdict(list)
    previous: JSON | None = None
    for document in documents:
        if previous is not None:
            for index in range(previous["bucket"] + 1, document["bucket"]):
                groups[index // factor].append(_idle(previous, index))
        groups[document["bucket"] // factor].append(document)
        previous = document
    return [_merge(index * bucket_seconds, members)
            for index, members in sorted(groups.items())[-limit:]]


def _idle(before: JSON, index: int) -> JSON:
    start = index * BUCKET_SECONDS
    return {**before, "bucket": index, "start_kitchen_seconds": start,
            "start": _wall_at(before, start),
            "elapsed_seconds": BUCKET_SECONDS,
            "worker_seconds": BUCKET_SECONDS * before["workers"], "busy_worker_seconds": 0.0,
            "orders_ready": 0, "wait_seconds_total": 0.0}


def _wall_at(bucket: JSON, kitchen_seconds: float) -> str | None:
    """Wall time of a kitchen time near ``bucket``, at the bucket's speed."""
    if bucket["start"] is None:
        return None
    offset = (kitchen_seconds - bucket["start_kitchen_seconds"]) / bucket["speed"]
    return (datetime.fromisoformat(bucket["start"]) + timedelta(seconds=offset)).isoformat()


def _merge(start: int, members: Sequence[JSON]) -> JSON:
    elapsed = sum(m["elapsed_seconds"] for m in members)
    capacity = sum(m["worker_seconds"] for m in members)
    busy = sum(m["busy_worker_seconds"] for m in members)
    ready = sum(m["orders_ready"] for m in members)
    return {"start_kitchen_seconds": start, "start": _wall_at(members[0], start),
            "elapsed_seconds": _round(elapsed),
            "queue_length": members[-1]["queue_length"],
            "busy_workers": _round(busy / elapsed) if elapsed else None,
            "utilisation": _round(busy / capacity) if capacity else None,
            "busy_worker_seconds": _round(busy), "worker_seconds": _round(capacity),
            "orders_ready": ready,
            "mean_wait_seconds": _round(
                sum(m["wait_seconds_total"] for m in members) / ready) if ready else None}


# --- the consumer ---------------------------------------------------------------------------


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
        self.ordering = Ordering(self._restaurant_id, self._menu)
        self.kitchen = Kitchen(self._restaurant_id, self._menu, seed=0)
        self.times = ItemTimes(self._menu)
        self.measured = Measurements()
        self._started: dict[str, datetime] = {}
        self._estimates: dict[int, JSON] = {}  # orders not READY yet -> their document
        self._placed: list[int] = []  # placed, no estimate yet
        self._placement_seen: dict[int, int] = {}  # units of a new order accounted for
        self._unaccepted: dict[tuple[str, str], tuple[int, str, int]] = {}  # by (order, item)
        self._written: dict[tuple[str, str], JSON] = {}  # the last document put, per key
        self._position = 0

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
        self.measured.touched.clear()
        placed, self._placed = set(self._placed), []
        for number, order in self.ordering.orders.items():
            if order.status in (OrderStatus.REQUESTED, OrderStatus.IN_PROGRESS):
                if number in stored:
                    self._estimates[number] = stored[number]
                elif number in placed:  # its placement straddled the checkpoint
                    self._placed.append(number)
        self._placement_seen = {n: self._placement_seen[n] for n in self._placed}
        return checkpoint

    async def handle(self, batch: Sequence[RecordedEvent]) -> None:
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
                    or any(self._placed_in_full(number) for number in self._placed)):
                # After each instant (one decision's events share a time), and as soon as an
                # order's placement is complete: its estimate at placement then depends only
                # on the log up to its placement, not on where batches are cut or on a
                # reaction that happens to share its time stamp.
                self._estimate(docs, record)
            if isinstance(record.event, UnitPrepared):
                item = self._menu[record.event.item]
                self._put(docs, ITEM_STATS, item.id, self._item_index[item.id],
                          record.position, self.measured.item_document(item))
        self._put_measurements(docs, previous_now, batch[-1].position)
        await docs.commit(CONSUMER, batch[-1].position)

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
                      self.measured.bucket_document(bucket))
        self.measured.touched.clear()
        # Buckets behind the oldest one that changed are done: forget what was put there, so
        # memory holds a few buckets, not a day's (a late change would simply be put again).
        for slot in [slot for slot in self._written
                     if slot[0] == TIMELINE and int(slot[1]) < dirty[0] * BUCKET_SECONDS]:
            del self._written[slot]
        self._put(docs, SUMMARY, SUMMARY_KEY, 0, position,
                  self.measured.summary_document(self.ordering.last_number))

    def _learn(self, event: Event) -> None:
        match event:
            case OrderPlaced():
                self._placed.append(event.number)
                self._placement_seen[event.number] = 0
            case UnitAllocated(source="stock"):
                self._note_placement(event.number, 1)
            case KitchenUnitsRequested():
                self._note_placement(event.number, event.quantity)
                self._unaccepted[(event.order_id, event.item)] = (
                    event.number, event.item, event.quantity)
            case UnitQueued():
                self._accepted(event.order_id, event.item, 1)
            case UnitsCovered():
                self._accepted(event.order_id, event.item, event.quantity)
        if isinstance(event, OrderEvent):
            self.ordering.apply(event)
            self.kitchen.observe(event)
        elif isinstance(event, KitchenEvent):
            self.kitchen.apply(event)
        self.measured.learn(event)
        match event:
            case KitchenConfigured():
                self.times.speed = event.speed
            case PreparationStarted():
                self._started[event.preparation_id] = event.occurred_at
            case UnitPrepared():
                started = self._started.pop(event.preparation_id, None)
                if started is not None:
                    self.times.observe(event.item,
                                       (event.occurred_at - started).total_seconds())

    def _note_placement(self, number: int, units: int) -> None:
        if number in self._placement_seen:
            self._placement_seen[number] += units

    def _accepted(self, order_id: str, item: str, units: int) -> None:
        number, _, remaining = self._unaccepted.pop((order_id, item), (0, item, 0))
        if remaining > units:
            self._unaccepted[(order_id, item)] = (number, item, remaining - units)

    def _placed_in_full(self, number: int) -> bool:
        """Whether every unit of a new order is accounted for (from stock or requested)."""
        order = self.ordering.orders[number]
        total = sum(line.quantity for line in order.lines)
        return self._placement_seen[number] >= total or order.status is OrderStatus.READY

    def _estimate(self, docs: DocumentBatch, record: RecordedEvent) -> None:
        now, position = record.event.occurred_at, record.position
        unaccepted = [(item, quantity) for _, item, quantity in sorted(self._unaccepted.values())]
        estimates = estimate_ready_times(now, self.ordering, self.kitchen, self.times, unaccepted)
        waiting_placement = []
        for number in self._placed:
            # A batch may end inside a placement's events: estimate once all of them are seen.
            if not self._placed_in_full(number):
                waiting_placement.append(number)
                continue
            del self._placement_seen[number]
            self._estimates.setdefault(number, {})
        self._placed = waiting_placement
        for number, previous in list(self._estimates.items()):
            order = self.ordering.orders[number]
            document = dict(previous)
            estimate = estimates.get(number, now)
            if not document:
                document = {"number": number, "order_id": order.order_id,
                            "placed_at": order.placed_at.isoformat(),
                            "estimated_at_placement": estimate.isoformat(),
                            "estimated_ready_at": estimate.isoformat(), "ready_at": None,
                            "wait_seconds": None, "error_seconds": None,
                            "error_wall_seconds": None}
                self.measured.estimated_at_placement(number, estimate)
            if order.status in (OrderStatus.READY, OrderStatus.COLLECTED):
                document["ready_at"] = document["ready_at"] or now.isoformat()
                document["estimated_ready_at"] = document["ready_at"]
                document["wait_seconds"] = _round(self.measured.wait(number))
                error = self.measured.error(number)
                if error is not None:
                    document["error_seconds"], document["error_wall_seconds"] = map(
                        _round, error)
                del self._estimates[number]
            else:
                document["estimated_ready_at"] = estimate.isoformat()
                self._estimates[number] = document
            if document != previous:  # most estimates hold still: write only what moved
                docs.put(ESTIMATES, str(number), number, position, document)
