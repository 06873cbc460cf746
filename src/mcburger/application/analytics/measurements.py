"""The kitchen measured from the events, in log order: memory, kept in snapshots.

Times are the events' ``occurred_at`` (wall clock), turned into kitchen seconds by a
``KitchenTime``. ``analytics.documents`` shapes what of it is stored. Only what is live is
held per order (placed, not collected yet); samples are t-digests; timeline buckets that can no
longer change are forgotten (their documents are stored): memory does not grow with history.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mcburger.application.analytics.items import PreparationStats
from mcburger.application.analytics.kitchen_time import ClockSetup, KitchenTime
from mcburger.application.analytics.samples import Durations
from mcburger.application.analytics.timeline import BUCKET_SECONDS, Buckets, bucket_at
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
        self.clock = KitchenTime()
        self.as_of: datetime | None = None  # the newest event's time
        self.placed: dict[int, datetime] = {}  # until collected
        self.ready: dict[int, datetime] = {}  # until collected
        self.placed_count = self.ready_count = self.collected = 0
        self._collected_now: list[int] = []
        self.waits, self.pickups = Durations(), Durations()
        self.placement_estimates: dict[int, datetime] = {}
        self.errors = Durations()  # absolute errors of the estimates at placement
        self.signed_error = 0.0  # kitchen seconds, summed: > 0 when orders come late
        self._error_counted: set[int] = set()
        # the range given at placement, until READY; orders READY with one, and inside it
        self.placement_ranges: dict[int, tuple[datetime, datetime]] = {}
        self.ranged = self.in_range = 0
        # kitchen seconds before READY -> [orders, sum of |actual - latest estimate then|]
        self.before_ready: dict[int, list[float]] = {}
        self.items = PreparationStats()
        self.preparing: dict[str, Preparing] = {}
        self.busy_seconds: dict[int, float] = defaultdict(float)  # per worker, finished work
        self.buckets = Buckets()
        self._touched: tuple[datetime | None, int] = (None, 0)  # the last event's time, bucket
        self.queue_length = 0
        self.units = {"stock": 0, "kitchen": 0}
        self.refill_units = self.units_stocked = 0

    def apply(self, event: Event) -> None:
        at = event.occurred_at
        if self.as_of is None or at > self.as_of:
            self.as_of = at
        match event:
            case KitchenConfigured():
                self.clock.configure(at, event.speed, event.workers)
            case OrderPlaced():
                self.placed[event.number] = at
                self.placed_count += 1
            case OrderReady():
                self._order_ready(event.number, at)
            case OrderCollected():
                self.collected += 1
                ready = self.ready.get(event.number)
                if ready is not None:
                    self.pickups.add(self.clock.between(ready, at), (at - ready).total_seconds())
                self._collected_now.append(event.number)
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
        if at != self._touched[0]:  # one decision's events share their time (and bucket)
            self._touched = (at, self.bucket_of(at))
        self.buckets.touched.add(self._touched[1])

    def forget_collected(self) -> None:
        """The orders collected since the last call are done with: nothing of them is measured
        any more. Called once their estimate documents are written (an order may be placed,
        ready and collected within one instant)."""
        for number in self._collected_now:
            for held in (self.placed, self.ready, self.placement_estimates,
                         self.placement_ranges):
                held.pop(number, None)
            self._error_counted.discard(number)
        self._collected_now.clear()

    def _order_ready(self, number: int, at: datetime) -> None:
        self.ready[number] = at
        self.ready_count += 1
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

    def estimated_at_placement(self, number: int, at: datetime,
                               between: tuple[datetime, datetime] | None = None) -> None:
        """The estimate made when the order was placed, and the range given with it (first
        one wins: it is write-once)."""
        self.placement_estimates.setdefault(number, at)
        if between is not None and between[1] > between[0]:  # a point range promises nothing
            self.placement_ranges.setdefault(number, between)
        self._count_error(number)

    def estimated_before_ready(self, errors: dict[int, float]) -> None:
        """Errors of an order's latest estimate some kitchen seconds before it was READY."""
        for before, error in errors.items():
            counted = self.before_ready.setdefault(before, [0, 0.0])
            counted[0] += 1
            counted[1] += abs(error)

    def _count_error(self, number: int) -> None:
        error = self.error(number)
        if error is not None and number not in self._error_counted:
            self._error_counted.add(number)
            self.errors.add(abs(error[0]), abs(error[1]))
            self.signed_error += error[0]
            if (between := self.placement_ranges.get(number)) is not None:
                self.ranged += 1
                self.in_range += between[0] <= self.ready[number] <= between[1]

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
        first, last = math.floor(previous_now / BUCKET_SECONDS), bucket_at(self.now)
        dirty = self.buckets.touched | {first, last}
        if self.preparing:  # work going on fills every bucket it has gone on in
            since = min(self.bucket_of(p.started_at) for p in self.preparing.values())
            dirty.update(range(max(first, since), last + 1))
        return dirty

    # --- snapshots --------------------------------------------------------------------------

    def settled_bucket(self) -> int:
        """Buckets before this one can no longer change: no preparation under way started in
        them and time has moved past them (a small margin covers another process's clock)."""
        starts = [self.bucket_of(p.started_at) for p in self.preparing.values()]
        return min([bucket_at(self.now), *starts]) - 5

    @property
    def size(self) -> int:
        """About how many values ``state`` writes down: bounded by the digests' centroids and
        what is live (open orders, preparations, recent buckets), whatever the history."""
        return (self.waits.size + self.pickups.size + self.errors.size + self.items.size
                + len(self.placed) + len(self.ready) + len(self.placement_estimates)
                + len(self.placement_ranges)
                + len(self.preparing) + len(self.buckets.filled))

    def state(self) -> dict[str, Any]:
        """Everything measured, as plain data (for the analytics snapshot)."""
        return {
            "clock": [[s.wall.isoformat(), s.kitchen, s.speed, s.workers]
                      for s in self.clock.setups],
            "as_of": _iso(self.as_of),
            "placed": {str(n): at.isoformat() for n, at in self.placed.items()},
            "ready": {str(n): at.isoformat() for n, at in self.ready.items()},
            "counts": [self.placed_count, self.ready_count, self.collected],
            "waits": self.waits.state(), "pickups": self.pickups.state(),
            "errors": self.errors.state(), "signed_error": self.signed_error,
            "placement_estimates": {str(n): at.isoformat()
                                    for n, at in self.placement_estimates.items()},
            "error_counted": sorted(self._error_counted),
            "placement_ranges": {str(n): [low.isoformat(), high.isoformat()]
                                 for n, (low, high) in self.placement_ranges.items()},
            "ranged": [self.ranged, self.in_range],
            "before_ready": {str(s): counted for s, counted in self.before_ready.items()},
            "items": self.items.state(),
            "preparing": {pid: [p.started_at.isoformat(), p.worker, p.refill]
                          for pid, p in self.preparing.items()},
            "busy_seconds": {str(w): s for w, s in self.busy_seconds.items()},
            "buckets": self.buckets.state(),
            "queue_length": self.queue_length, "units": dict(self.units),
            "refills": [self.refill_units, self.units_stocked],
        }

    @classmethod
    def restored(cls, state: dict[str, Any]) -> Measurements:
        measured = cls()
        measured.clock.setups = [ClockSetup(datetime.fromisoformat(w), float(k), float(s), int(n))
                                 for w, k, s, n in state["clock"]]
        measured.as_of = None if state["as_of"] is None else datetime.fromisoformat(
            state["as_of"])
        measured.placed = _times(state["placed"])
        measured.ready = _times(state["ready"])
        measured.placed_count, measured.ready_count, measured.collected = map(
            int, state["counts"])
        measured.waits = Durations.restored(state["waits"])
        measured.pickups = Durations.restored(state["pickups"])
        measured.errors = Durations.restored(state["errors"])
        measured.signed_error = float(state["signed_error"])
        measured.placement_estimates = _times(state["placement_estimates"])
        measured._error_counted = {int(n) for n in state["error_counted"]}
        # A snapshot from before the ranges has none of these: they count from here on.
        measured.placement_ranges = {
            int(n): (datetime.fromisoformat(low), datetime.fromisoformat(high))
            for n, (low, high) in state.get("placement_ranges", {}).items()}
        measured.ranged, measured.in_range = map(int, state.get("ranged", [0, 0]))
        measured.before_ready = {int(s): [int(c[0]), float(c[1])]
                                 for s, c in state.get("before_ready", {}).items()}
        measured.items.restore(state["items"])
        measured.preparing = {str(pid): Preparing(datetime.fromisoformat(at), int(w), bool(r))
                              for pid, (at, w, r) in state["preparing"].items()}
        measured.busy_seconds.update({int(w): float(s)
                                      for w, s in state["busy_seconds"].items()})
        measured.buckets.restore(state["buckets"])
        measured.queue_length = int(state["queue_length"])
        measured.units = {str(k): int(v) for k, v in state["units"].items()}
        measured.refill_units, measured.units_stocked = map(int, state["refills"])
        return measured


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _times(held: dict[str, str]) -> dict[int, datetime]:
    return {int(n): datetime.fromisoformat(at) for n, at in held.items()}
