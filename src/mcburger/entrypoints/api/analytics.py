"""Analytics: waits, throughput, queue, utilisation and estimate accuracy, read from the
documents the analytics consumer keeps (a process serving these routes runs no consumer).

Durations are kitchen seconds (wall-clock seconds x the speed factor) unless a field name
says ``wall``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from mcburger.application.analytics import BUCKET_SECONDS
from mcburger.entrypoints.api.deps import QueriesDep
from mcburger.entrypoints.api.schemas import (
    AnalyticsSummaryOut,
    EstimatesOut,
    ItemStatsListOut,
    TimelineOut,
)
from mcburger.entrypoints.api.staff import STAFF, STAFF_RESPONSES

router = APIRouter(prefix="/analytics", tags=["analytics"], dependencies=[STAFF],
                   responses=STAFF_RESPONSES)


@router.get("/summary", response_model=AnalyticsSummaryOut)
async def get_summary(queries: QueriesDep) -> dict[str, Any]:
    """Orders, waits, throughput, queue, worker utilisation, stock and estimate accuracy.

    As of the newest event analysed (``as_of``); utilisation and throughput count from the
    kitchen's first configuration.
    """
    return await queries.analytics_summary()


@router.get("/items", response_model=ItemStatsListOut)
async def get_item_stats(queries: QueriesDep) -> dict[str, Any]:
    """Preparation times per menu item: count, mean, p50, p90, overall and recent units."""
    return {"items": await queries.item_stats()}


@router.get("/estimates", response_model=EstimatesOut)
async def get_estimates(
    queries: QueriesDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="how many orders")] = 50,
) -> dict[str, Any]:
    """The newest orders, newest first: estimate at placement, latest, actual, and error."""
    return {"estimates": await queries.recent_estimates(limit)}


@router.get("/timeline", response_model=TimelineOut)
async def get_timeline(
    queries: QueriesDep,
    bucket: Annotated[int, Query(
        ge=BUCKET_SECONDS, le=3600, multiple_of=BUCKET_SECONDS,
        description=f"kitchen seconds per bucket, a multiple of {BUCKET_SECONDS}")] = 300,
    limit: Annotated[int, Query(ge=1, le=1000, description="how many buckets")] = 100,
) -> dict[str, Any]:
    """Per bucket of kitchen time, oldest first, the newest ``limit``: queue length at its
    end, busy workers (time-weighted mean) and utilisation, orders ready and their mean wait.
    """
    return {"bucket_seconds": bucket, "buckets": await queries.timeline(bucket, limit)}
