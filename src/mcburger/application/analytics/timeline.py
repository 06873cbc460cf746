"""The kitchen over time, in base buckets of ``BUCKET_SECONDS`` kitchen seconds.

``Buckets`` accumulates what happened in each base bucket as events come in; ``timeline``
merges the stored bucket documents into the larger buckets the API asks for.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mcburger.application.analytics.samples import rounded
from mcburger.application.ports import JSON

BUCKET_SECONDS = 60  # kitchen seconds per stored timeline bucket; queries merge them


def bucket_at(kitchen_seconds: float) -> int:
    """The index of the base bucket holding a kitchen time (0 for times before it)."""
    return max(0, math.floor(kitchen_seconds / BUCKET_SECONDS))


@dataclass
class Bucket:
    busy_seconds: float = 0.0  # worker time of finished preparations within the bucket
    orders_ready: int = 0
    wait_seconds: float = 0.0  # placed -> ready, summed over the orders ready in it


class Buckets:
    """Finished work, orders ready and their waits per bucket, the queue length at each
    bucket's end, and which buckets changed since ``touched`` was last cleared."""

    def __init__(self) -> None:
        self.filled: dict[int, Bucket] = defaultdict(Bucket)
        self.touched: set[int] = set()
        self._queue_ends: list[tuple[int, int]] = []  # (bucket, queue length at its end)

    def order_ready(self, index: int, wait_seconds: float) -> None:
        bucket = self.filled[index]
        bucket.orders_ready += 1
        bucket.wait_seconds += wait_seconds

    def queue_changed(self, index: int, length: int) -> None:
        if self._queue_ends and self._queue_ends[-1][0] >= index:
            # the kitchen's own events are stamped in order: a later one never lands earlier
            self._queue_ends[-1] = (self._queue_ends[-1][0], length)
        else:
            self._queue_ends.append((index, length))

    def queue_at_end(self, index: int) -> int:
        """The queue length at the end of a bucket (as the last change before it left it)."""
        found = bisect.bisect_right(self._queue_ends, (index, math.inf)) - 1
        return self._queue_ends[found][1] if found >= 0 else 0

    def forget_before(self, index: int) -> None:
        """Drop buckets before ``index`` (their documents are stored and can no longer change),
        keeping the queue length the last of them ended with."""
        for old in [i for i in self.filled if i < index]:
            del self.filled[old]
        keep = bisect.bisect_left(self._queue_ends, (index, -math.inf))
        if keep > 1:
            del self._queue_ends[:keep - 1]

    def state(self) -> dict[str, Any]:
        return {"filled": {str(i): [b.busy_seconds, b.orders_ready, b.wait_seconds]
                           for i, b in self.filled.items()},
                "queue_ends": [list(end) for end in self._queue_ends]}

    def restore(self, state: dict[str, Any]) -> None:
        for index, (busy, ready, wait) in state["filled"].items():
            self.filled[int(index)] = Bucket(float(busy), int(ready), float(wait))
        self._queue_ends = [(int(i), int(n)) for i, n in state["queue_ends"]]

    def worked(self, start: float, end: float) -> None:
        """A preparation finished: its worker time goes to each bucket it overlaps."""
        first = bucket_at(start)
        for index in range(first, max(first, math.floor(end / BUCKET_SECONDS)) + 1):
            self.filled[index].busy_seconds += _overlap(start, end, index)
            self.touched.add(index)


def _overlap(start: float, end: float, index: int) -> float:
    return max(0.0, min(end, (index + 1) * BUCKET_SECONDS) - max(start, index * BUCKET_SECONDS))


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
            "elapsed_seconds": rounded(elapsed),
            "queue_length": members[-1]["queue_length"],
            "busy_workers": rounded(busy / elapsed) if elapsed else None,
            "utilisation": rounded(busy / capacity) if capacity else None,
            "busy_worker_seconds": rounded(busy), "worker_seconds": rounded(capacity),
            "orders_ready": ready,
            "mean_wait_seconds": rounded(
                sum(m["wait_seconds_total"] for m in members) / ready) if ready else None}
