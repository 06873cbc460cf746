"""The kitchen measured from the events, in log order: pure memory, rebuilt from the log.

Times are the events' ``occurred_at`` (wall clock), turned into kitchen seconds by a
``KitchenClock``. ``analytics_documents`` shapes what of it is stored.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from mcburger.application.analytics_clock import KitchenClock
from mcburger.application.analytics_items import PreparationStats
from mcburger.application.analytics_samples import Durations
from mcburger.application.analytics_timeline import BUCKET_SECONDS, Buckets, bucket_at
from mcburger.domain.events import (
    Event,
    KitchenConfigured,
    OrderCollected,
    OrderPlaced,
    OrderReady,
    PreparationStarted,
    UnitAllocated,
    UnitPrepared,
    UnitQueued,
    UnitStocked,
)


@dataclass
class Preparing:
    """A preparation under way; ``refill`` when it makes stock, not a requested unit."""

    started_at: datetime
    worker: int
    refill: bool


class Measurements:
    """Orders, waits, work, queue, stock and estimate accuracy: ``learn`` takes every event."""

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
        self.items = PreparationStats()
        self.preparing: dict[str, Preparing] = {}
        self.busy_seconds: dict[int, float] = defaultdict(float)  # per worker, finished work
        self.buckets = Buckets()
        self.queue_length = 0
        self.units = {"stock": 0, "kitchen": 0}
        self.refill_units = self.units_stocked = 0

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
                self.preparing[event.preparation_id] = Preparing(at, event.worker,
                                                                 event.request_id is None)
                if event.request_id is not None:
                    self._queue_changed(at, -1)
            case UnitPrepared():
                self._prepared(event, at)
        self.buckets.touched.add(self.bucket_of(at))

    def _order_ready(self, number: int, at: datetime) -> None:
        self.ready[number] = at
        placed = self.placed.get(number, at)
        wait = self.clock.between(placed, at)
        self.waits.add(wait, (at - placed).total_seconds())
        self.buckets.order_ready(self.bucket_of(at), wait)
        self._count_error(number)

    def _queue_changed(self, at: datetime, delta: int) -> None:
        self.queue_length += delta
        self.buckets.queue_changed(self.bucket_of(at), self.queue_length)

    def _prepared(self, event: UnitPrepared, at: datetime) -> None:
        preparing = self.preparing.pop(event.preparation_id, None)
        if preparing is None:
            return
        start, end = self.clock.at(preparing.started_at), self.clock.at(at)
        self.items.add(event.item, end - start)
        self.busy_seconds[preparing.worker] += end - start
        self.refill_units += preparing.refill
        self.buckets.worked(start, end)

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
        return bucket_at(self.clock.at(at))

    def busy_now(self, start: float, end: float) -> float:
        """Worker time, between two kitchen times, of the preparations still going on."""
        now = self.now
        return sum(max(0.0, min(end, now) - max(start, self.clock.at(p.started_at)))
                   for p in self.preparing.values())

    def dirty_buckets(self, previous_now: float) -> set[int]:
        """Buckets whose document may have changed since the newest event was at
        ``previous_now``: those events touched, and those time moved on in."""
        first = math.floor(previous_now / BUCKET_SECONDS)
        touched = self.buckets.touched
        if self.preparing:  # work going on fills every bucket time moved through
            return touched | set(range(first, math.floor(self.now / BUCKET_SECONDS) + 1))
        return touched | {first, math.floor(self.now / BUCKET_SECONDS)}
