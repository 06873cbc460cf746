"""Stock, kitchen, health and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mcburger.entrypoints.api.deps import HealthDep, MetricsDep, QueriesDep
from mcburger.entrypoints.api.schemas import HealthOut, KitchenOut, LiveOut, StockOut
from mcburger.entrypoints.api.staff import STAFF, STAFF_RESPONSES, require_staff_for_metrics

router = APIRouter(tags=["restaurant"])


@router.get("/stock", response_model=StockOut, dependencies=[STAFF], responses=STAFF_RESPONSES)
async def get_stock(queries: QueriesDep) -> dict[str, object]:
    """Pre-made units in stock, per menu item."""
    return {"items": await queries.stock()}


@router.get("/kitchen", response_model=KitchenOut, dependencies=[STAFF],
            responses=STAFF_RESPONSES)
async def get_kitchen(queries: QueriesDep) -> dict[str, object]:
    """Each worker's current unit, the FIFO queue of order units, and the FF.1 flag."""
    return await queries.kitchen()


@router.get("/livez", response_model=LiveOut, tags=["operations"])
async def live() -> dict[str, str]:
    """Liveness only: the process answers (nothing is checked, unlike ``/healthz``). For a
    supervisor's liveness probe, and the no-op baseline of ``benchmarks/intake.py``."""
    return {"status": "ok"}


@router.get("/healthz", response_model=HealthOut, tags=["operations"])
async def health(health: HealthDep) -> dict[str, object]:
    """Liveness, each dependency (store, read models, broker), and every consumer's lag;
    ``degraded`` when a dependency is unreachable, a component crashed in the last 5 minutes,
    or a consumer keeps falling behind."""
    return await health.report()


@router.get("/metrics", tags=["operations"], response_class=Response,
            dependencies=[Depends(require_staff_for_metrics)], responses=STAFF_RESPONSES)
async def metrics(health: HealthDep, metrics: MetricsDep) -> Response:
    """Prometheus text format; open unless the server runs with ``protect_metrics``."""
    await health.lag()  # the consumer_lag gauges, as of now
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
