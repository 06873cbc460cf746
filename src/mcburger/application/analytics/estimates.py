"""Every open order's estimated ready time: at placement (write-once), latest, and actual.

Ordering and the kitchen are mirrored from the log (never asked of their services), and the
domain's forward estimate runs over the mirror with preparation times learned from the log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mcburger.application.analytics.measurements import Measurements
from mcburger.application.analytics.mirror import ReadyRange, RestaurantMirror
from mcburger.application.analytics.samples import rounded
from mcburger.application.ports import JSON
from mcburger.domain.estimates import ItemTimes, errors_before_ready, forget_before
from mcburger.domain.events import (
    Event,
    KitchenUnitsRequested,
    OrderPlaced,
    OrderReady,
    UnitAllocated,
)
from mcburger.domain.menu import Menu
from mcburger.domain.ordering import Ordering, OrderStatus

OPEN = (OrderStatus.REQUESTED, OrderStatus.IN_PROGRESS)


class OrderEstimates:
    """The ``estimates`` documents of the orders not ready yet, kept up to date event by event.

    An order's estimate at placement is taken once all of its placement events (units from
    stock, units requested from the kitchen) are seen, whichever batches they came in.
    """

    def __init__(self, restaurant_id: str, menu: Menu, measured: Measurements) -> None:
        self.mirror = RestaurantMirror(restaurant_id, menu)
        self._measured = measured
        self._open: dict[int, JSON] = {}  # orders not READY yet -> their document
        self._placed: list[int] = []  # placed, no estimate yet
        self._placement_seen: dict[int, int] = {}  # units of a new order accounted for
        self._ready_since: set[int] = set()  # became READY since the last estimate
        self._all_moved, self._moved = True, set[int]()  # estimates moved since the latest
        # order id, placed at and units of the orders placed or open here: a collected order
        # leaves the mirror, maybe within the instant it was placed in
        self._info: dict[int, tuple[str, str, int]] = {}
        # open order -> (when, estimated ready time) each time it moved, the last few minutes
        self._history: dict[int, list[tuple[datetime, datetime]]] = {}
        self._calibrated = 0  # the calibration's errors when the ranges were last brought up

    @property
    def ordering(self) -> Ordering:
        return self.mirror.ordering

    @property
    def times(self) -> ItemTimes:
        return self.mirror.times

    def apply(self, event: Event) -> None:
        """Take in the next event of the log."""
        match event:
            case OrderPlaced():
                self._placed.append(event.number)
                self._placement_seen[event.number] = 0
                self._info[event.number] = (event.order_id, event.occurred_at.isoformat(),
                                            sum(line.quantity for line in event.lines))
            case UnitAllocated(source="stock"):
                self._note_placement(event.number, 1)
            case KitchenUnitsRequested():
                self._note_placement(event.number, event.quantity)
            case OrderReady():
                self._ready_since.add(event.number)
        self.mirror.apply(event)

    def _note_placement(self, number: int, units: int) -> None:
        if number in self._placement_seen:
            self._placement_seen[number] += units

    def estimated_up_to(self) -> int:
        """Every order up to this number has its estimate at placement (and its document)."""
        return min([*self._placed, self.ordering.last_number + 1]) - 1

    def open_numbers(self) -> list[int]:
        return [n for n, order in self.ordering.orders.items() if order.status in OPEN]

    def resume(self, stored: dict[int, JSON]) -> None:
        """After restoring (snapshot and log) up to the checkpoint: carry on from the stored
        documents of the open orders (an open order without one was placed across the
        checkpoint)."""
        placed, self._placed, self._open = set(self._placed), [], {}
        for number, order in self.ordering.orders.items():
            if order.status in OPEN:
                if number in stored:
                    self._open[number] = stored[number]
                    self._history[number] = [
                        (datetime.fromisoformat(e["when"]), datetime.fromisoformat(e["ready_at"]))
                        for e in stored[number].get("recent_estimates") or ()]
                elif number in placed:
                    self._placed.append(number)
        self._placement_seen = {n: self._placement_seen[n] for n in self._placed}
        self._info = {n: self._info[n] for n in [*self._placed, *self._open] if n in self._info}
        self._history = {n: self._history[n] for n in self._open if n in self._history}
        self.mirror.forget_placements_but(set(self._open) | set(self._placed))

    def state(self) -> dict[str, Any]:
        """Open orders' documents and placements in progress, with the mirror."""
        return {"mirror": self.mirror.state(),
                "open": [document for document in self._open.values()],
                "placed": list(self._placed),
                "placement_seen": {str(n): seen for n, seen in self._placement_seen.items()},
                "info": {str(n): list(info) for n, info in self._info.items()},
                "history": {str(n): [[when.isoformat(), at.isoformat()] for when, at in noted]
                            for n, noted in self._history.items()}}

    def restore(self, state: dict[str, Any]) -> None:
        self.mirror.restore(state["mirror"])
        self._open = {int(document["number"]): dict(document) for document in state["open"]}
        self._placed = [int(n) for n in state["placed"]]
        self._placement_seen = {int(n): int(seen)
                                for n, seen in state["placement_seen"].items()}
        self._info = {int(n): (str(o), str(at), int(units))
                      for n, (o, at, units) in state["info"].items()}
        self._history = {int(n): [(datetime.fromisoformat(w), datetime.fromisoformat(a))
                                  for w, a in noted]
                         for n, noted in state.get("history", {}).items()}  # older: none

    def placement_complete(self) -> bool:
        """Whether a new order's placement events are all seen (time to estimate it)."""
        return any(self._placed_in_full(number) for number in self._placed)

    def _placed_in_full(self, number: int) -> bool:
        """Whether every unit of a new order is accounted for (from stock or requested)."""
        order = self.ordering.orders.get(number)  # None: collected already
        return (self._placement_seen[number] >= self._info[number][2] or order is None
                or order.status is OrderStatus.READY)

    def estimate(self, now: datetime, latest: bool = True) -> list[JSON]:
        """Estimate as of ``now`` (after an instant of the log); return the documents that
        changed.

        Orders whose placement is complete get their estimate at placement, and orders just
        READY their ready time, at once: those belong to this instant. Every open order's
        estimate that moved is noted in its history (what the accuracy before READY is
        measured on), so the figures do not depend on where batches are cut. With ``latest``
        (at the end of a batch: what is written), every open order whose estimate may have
        moved since the last such call is brought up to date too: all after a whole
        simulation of the kitchen or a new calibration, else the new ones.
        """
        opened = self._open_placed_in_full()
        if not self._open:
            return []  # nothing waits (a quiet kitchen topping up its stock): nothing to note
        estimates = self.mirror.estimate(now)
        moved = self.mirror.forecast.changed
        every = moved is None or self.mirror.calibration.observed != self._calibrated
        self._calibrated = self.mirror.calibration.observed
        if every:
            self._all_moved = True  # a whole simulation, or every range learned anew
        else:
            self._moved |= moved or set()
        for number in opened:
            self.mirror.placed(number, estimates, now)
        ranges: dict[int, ReadyRange] = {}
        median = self.mirror.kitchen.setup.favorites_first
        for number in (self._open if every else (moved or set()) | set(opened)):
            if number in self._open and number in estimates:
                if median:  # the point is the calibrated median: the range gives it
                    ranges[number] = found = self.mirror.ready_range(estimates, number, now)
                    at = found.at
                else:  # the point is the plan's own (what ready_range gives, for less)
                    at = max(now, estimates[number])
                noted = self._history.setdefault(number, [])
                if not noted or noted[-1][1] != at:
                    noted.append((now, at))
                    forget_before(noted, now, self.times.speed)
        numbers = set(opened) | self._ready_since
        if latest:
            numbers = set(self._open) if self._all_moved else numbers | self._moved
            self._all_moved, self._moved = False, set()
        self._ready_since = set()
        changed = []
        for number in sorted(numbers):
            previous = self._open.get(number)
            if previous is None:
                continue
            estimate = ranges.get(number) or self.mirror.ready_range(estimates, number, now)
            document = self._updated(number, dict(previous), estimate, now)
            if document != previous:  # most estimates hold still: write only what moved
                changed.append(document)
        return changed

    def _open_placed_in_full(self) -> list[int]:
        # A batch may end inside a placement's events: estimate once all of them are seen.
        waiting_placement, opened = [], []
        for number in self._placed:
            if not self._placed_in_full(number):
                waiting_placement.append(number)
                continue
            del self._placement_seen[number]
            self._open.setdefault(number, {})
            opened.append(number)
        self._placed = waiting_placement
        return opened

    def _updated(self, number: int, document: JSON, estimate: ReadyRange,
                 now: datetime) -> JSON:
        order = self.ordering.orders.get(number)
        status = OrderStatus.COLLECTED if order is None else order.status
        if not document:
            order_id, placed_at, _ = self._info[number]
            document = {"number": number, "order_id": order_id, "placed_at": placed_at,
                        "estimated_at_placement": estimate.at.isoformat(),
                        "promised_ready_from": estimate.low.isoformat(),
                        "promised_ready_by": estimate.high.isoformat(),
                        # what calibrates later ranges once READY (read back at a restart)
                        "model_estimate_at_placement": None, "model_spread_seconds": None,
                        "model_ahead_seconds": None,
                        "ready_at": None, "wait_seconds": None, "error_seconds": None,
                        "error_wall_seconds": None}
            self._measured.estimated_at_placement(number, estimate.at,
                                                  (estimate.low, estimate.high))
            if (model := self.mirror.at_placement(number)) is not None:
                document["model_estimate_at_placement"] = model.estimated.isoformat()
                document["model_spread_seconds"] = model.spread
                document["model_ahead_seconds"] = model.ahead
        if status in (OrderStatus.READY, OrderStatus.COLLECTED):
            document["ready_at"] = ready_at = document["ready_at"] or now.isoformat()
            for field in RANGE_FIELDS:
                document[field] = ready_at
            document["wait_seconds"] = rounded(self._measured.wait(number))
            error = self._measured.error(number)
            if error is not None:
                document["error_seconds"], document["error_wall_seconds"] = map(rounded, error)
            errors = errors_before_ready(
                datetime.fromisoformat(document["placed_at"]), datetime.fromisoformat(ready_at),
                self._history.pop(number, ()), self.times.speed)
            document["recent_estimates"] = None
            # counted as written, so a restart that reads them back counts the same
            kept = {before: float(rounded(error) or 0.0) for before, error in errors.items()}
            document["error_before_ready_seconds"] = {str(s): e for s, e in kept.items()}
            self._measured.estimated_before_ready(kept)
            del self._open[number]
            del self._info[number]
        else:
            for field, at in zip(RANGE_FIELDS, (estimate.low, estimate.at, estimate.high),
                                 strict=True):
                document[field] = at.isoformat()
            # the last minutes of the latest estimate, read back at a restart (bounded)
            document["recent_estimates"] = [
                {"when": when.isoformat(), "ready_at": at.isoformat()}
                for when, at in self._history.get(number, ())]
            self._open[number] = document
        return document


# The latest estimate's fields: the range's low end, its median, its high end.
RANGE_FIELDS = ("estimated_ready_from", "estimated_ready_at", "estimated_ready_by")
