"""Prometheus metrics, fed by the views projection (one registry per app, never global)."""

from __future__ import annotations

import collections
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

from mcburger.domain.events import (
    Event,
    OrderCollected,
    OrderPlaced,
    OrderReady,
    UnitAllocated,
    UnitPrepared,
)

WAIT_BUCKETS = (30, 60, 120, 180, 240, 300, 420, 600, 900, 1200, 1800, 3600)


class PrometheusMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # The process's own figures, as prometheus-client's default registry has them:
        # process_resident_memory_bytes, process_cpu_seconds_total, process_open_fds, and
        # python_gc_collections_total{generation} (a board serving thousands of screens is
        # where the collector's passes show: cli.GC_YOUNG_THRESHOLD).
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.orders_placed = Counter("mcburger_orders_placed", "Orders placed", registry=r)
        self.orders_ready = Counter("mcburger_orders_ready", "Orders that became READY",
                                    registry=r)
        self.orders_collected = Counter("mcburger_orders_collected", "Orders collected",
                                        registry=r)
        self.units_prepared = Counter("mcburger_units_prepared", "Units the kitchen finished",
                                      ["item"], registry=r)
        self.units_allocated = Counter("mcburger_units_allocated", "Units allocated to orders",
                                       ["source"], registry=r)
        self.order_wait = Histogram("mcburger_order_wait_seconds",
                                    "Placed to READY, wall-clock seconds", buckets=WAIT_BUCKETS,
                                    registry=r)
        self.queue_length = Gauge("mcburger_kitchen_queue_length",
                                  "Order units waiting for a worker", registry=r)
        self.busy_workers = Gauge("mcburger_kitchen_busy_workers", "Workers preparing a unit",
                                  registry=r)
        self.stock = Gauge("mcburger_stock_units", "Pre-made units in stock", ["item"],
                           registry=r)
        self.consumer_lag = Gauge("mcburger_consumer_lag_events",
                                  "Events in the log a consumer has not handled yet",
                                  ["consumer"], registry=r)
        self._placed_at: dict[int, datetime] = {}

    def projected(self, events: Sequence[Event]) -> None:
        # Counted first, then one increment a counter: a rebuild passes 5,000 events a batch.
        counts: collections.Counter[tuple[Counter, str | None]] = collections.Counter()
        for event in events:
            match event:
                case OrderPlaced():
                    counts[self.orders_placed, None] += 1
                    self._placed_at[event.number] = event.occurred_at
                case OrderReady():
                    counts[self.orders_ready, None] += 1
                    placed = self._placed_at.pop(event.number, None)
                    if placed is not None:
                        self.order_wait.observe((event.occurred_at - placed).total_seconds())
                case OrderCollected():
                    counts[self.orders_collected, None] += 1
                case UnitPrepared():
                    counts[self.units_prepared, event.item] += 1
                case UnitAllocated():
                    counts[self.units_allocated, event.source] += 1
        for (counter, label), count in counts.items():
            (counter if label is None else counter.labels(label)).inc(count)

    def written(self, documents: Sequence[tuple[str, dict[str, Any]]]) -> None:
        for collection, document in documents:
            if collection == "stock":
                self.stock.labels(document["item"]).set(document["count"])
            elif collection == "kitchen":
                self.queue_length.set(document["queue_length"])
                self.busy_workers.set(sum(w["state"] == "busy" for w in document["workers"]))
