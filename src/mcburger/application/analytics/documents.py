"""The summary and timeline-bucket documents analytics stores, shaped from ``Measurements``.

Durations are kitchen seconds unless a field says ``wall``; figures are rounded to
milliseconds.
"""

from __future__ import annotations

import math

from mcburger.application.analytics.measurements import Measurements
from mcburger.application.analytics.samples import rounded
from mcburger.application.analytics.timeline import BUCKET_SECONDS, Bucket
from mcburger.application.ports import JSON


def bucket_document(measured: Measurements, index: int) -> JSON:
    """One base bucket of the timeline, up to the newest event if that falls inside it."""
    start = index * BUCKET_SECONDS
    elapsed = min(BUCKET_SECONDS, max(0.0, measured.now - start))
    bucket = measured.buckets.filled.get(index, Bucket())
    wall = measured.clock.wall_at(start)
    # the set-up at the bucket's end: what an idle bucket after it would have had
    setup = measured.clock.setup_at(start + elapsed)
    return {"bucket": index, "start_kitchen_seconds": start,
            "start": wall.isoformat() if wall else None,
            "speed": setup.speed if setup else 1.0, "workers": setup.workers if setup else 0,
            "elapsed_seconds": rounded(elapsed),
            "worker_seconds": rounded(measured.clock.worker_seconds(start, start + elapsed)),
            "busy_worker_seconds": rounded(
                bucket.busy_seconds + measured.busy_now(start, start + elapsed)),
            "queue_length": measured.buckets.queue_at_end(index),
            "orders_ready": bucket.orders_ready,
            "wait_seconds_total": rounded(bucket.wait_seconds)}


def summary_document(measured: Measurements, last_order_number: int) -> JSON:
    """Counts, waits, throughput, queue, utilisation, stock, refills and estimate accuracy,
    as of the newest event."""
    now = measured.now
    busy = sum(measured.busy_seconds.values()) + measured.busy_now(0.0, now)
    capacity = measured.clock.worker_seconds(0.0, now)
    units = measured.units
    allocated = units["stock"] + units["kitchen"]
    errors = measured.errors.kitchen.count
    return {
        "as_of": measured.as_of.isoformat() if measured.as_of else None,
        "kitchen_seconds": rounded(now), "speed": measured.clock.speed,
        "workers": measured.clock.workers, "last_order_number": last_order_number,
        "orders_placed": measured.placed_count, "orders_ready": measured.ready_count,
        "orders_collected": measured.collected,
        "orders_waiting": measured.placed_count - measured.ready_count,
        "wait_placed_to_ready": measured.waits.stats(),
        "wait_ready_to_collected": measured.pickups.stats(),
        "throughput_per_kitchen_hour": (
            rounded(measured.ready_count / (now / 3600)) if now else None),
        "queue_length": measured.queue_length, "busy_workers": len(measured.preparing),
        "utilisation": rounded(busy / capacity) if capacity else None,
        "busy_worker_seconds": rounded(busy), "worker_seconds": rounded(capacity),
        "per_worker": _per_worker(measured, now),
        "units_from_stock": units["stock"], "units_from_kitchen": units["kitchen"],
        "stock_share": rounded(units["stock"] / allocated) if allocated else None,
        "refill_units": measured.refill_units, "units_stocked": measured.units_stocked,
        "estimate_error": {
            **measured.errors.stats("abs_"),
            "bias_seconds": rounded(measured.signed_error / errors) if errors else None},
        "estimate_range": {
            "orders": measured.ranged,
            "coverage": rounded(measured.in_range / measured.ranged) if measured.ranged else None},
        "estimate_error_before_ready": [
            {"seconds_before": before, "orders": int(counted[0]),
             "mae_seconds": rounded(counted[1] / counted[0]) if counted[0] else None}
            for before, counted in sorted(measured.before_ready.items(), reverse=True)],
        "bucket_seconds": BUCKET_SECONDS, "last_bucket": math.floor(now / BUCKET_SECONDS),
    }


def _per_worker(measured: Measurements, now: float) -> list[JSON]:
    """Each worker's busy time (finished and under way) and share of their own time."""
    per_worker: list[JSON] = []
    workers = max((s.workers for s in measured.clock.setups), default=0)
    for worker in range(1, workers + 1):
        own = measured.busy_seconds[worker] + sum(
            max(0.0, now - measured.clock.at(p.started_at))
            for p in measured.preparing.values() if p.worker == worker)
        available = measured.clock.worker_seconds(0.0, now, worker)
        per_worker.append({"worker": worker, "busy_seconds": rounded(own),
                           "utilisation": rounded(own / available) if available else None})
    return per_worker


def empty_summary() -> JSON:
    """The summary before anything happened (what the API shows until the first event)."""
    return summary_document(Measurements(), 0)
