"""Request and response shapes of the REST API (separate from the domain's types)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mcburger.application.ports import JSON
from mcburger.domain.ordering import MAX_QUANTITY_PER_LINE, MAX_UNITS_PER_ORDER

Status = Literal["REQUESTED", "IN_PROGRESS", "READY", "COLLECTED"]


class StrictIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class OrderLineIn(StrictIn):
    item: str = Field(min_length=1, max_length=40, examples=["hamburger"])
    quantity: int = Field(ge=1, le=MAX_QUANTITY_PER_LINE, examples=[2])


class OrderIn(StrictIn):
    # The bounds a schema can state, taken from the domain; the rules across lines (at most
    # MAX_UNITS_PER_ORDER units, one line per item, items on the menu) are the domain's alone
    # (domain/ordering.py), answered 422 naming the field as these are.
    items: list[OrderLineIn] = Field(min_length=1, max_length=MAX_UNITS_PER_ORDER)


class MenuItemOut(BaseModel):
    id: str
    name: str
    prep_seconds: float
    variance_seconds: float
    favorite: bool


class MenuOut(BaseModel):
    items: list[MenuItemOut]


class OrderLineOut(BaseModel):
    item: str
    quantity: int
    ready: int = Field(description="units of this line allocated so far")


class OrderOut(BaseModel):
    id: str
    number: int
    status: Status
    items: list[OrderLineOut]
    placed_at: datetime
    estimated_ready_at: datetime | None = Field(
        description="when the order should be READY (its ready time once READY); null until "
                    "analytics has estimated it. Embedded, a command's answer waits for it "
                    "(read-your-writes) unless analytics is far behind; distributed, the api "
                    "never waits for another process: the estimate follows on GET "
                    "/orders/{number} and the board")
    # The range: None until analytics has estimated the order, and for an order estimated by
    # a release before the ranges (its document lacks them). How it is made: docs/estimates.md.
    estimated_ready_from: datetime | None = Field(
        None, description="the latest range's low end: the 10th percentile of when the order "
                          "will be READY (a wall-clock UTC datetime), calibrated on past orders "
                          "so that 8 orders in 10 are ready between estimated_ready_from and "
                          "estimated_ready_by (see docs/estimates.md); moves as the kitchen "
                          "works; the ready time once READY; null until analytics has "
                          "estimated the order, and for one estimated before the ranges")
    estimated_ready_by: datetime | None = Field(
        None, description="the latest range's high end: the 90th percentile of when the order "
                          "will be READY (wall-clock UTC datetime; the ready time once READY); "
                          "null as estimated_ready_from is")
    promised_ready_by: datetime | None = Field(
        None, description="the promise: the high end (90th percentile) of the range given when "
                          "the order was placed, what the customer was told; written once, "
                          "never moves (wall-clock UTC datetime); an order READY after it was "
                          "late; null as estimated_ready_from is")
    ready_at: datetime | None = None
    collected_at: datetime | None = None


class OrdersOut(BaseModel):
    orders: list[OrderOut]
    next_after: int | None = Field(
        None, description="pass as `after` for the next page; null when this page is the last")


class StockOut(BaseModel):
    items: dict[str, int]


PROMISE_DESCRIPTION = ("the promise of the order this is for: the high end (90th "
                       "percentile) of the range given at placement (wall-clock UTC datetime, "
                       "as GET /orders/{number} gives it); the order is late once it is past "
                       "and the order not READY; null for a refill, before analytics has "
                       "estimated the order, or for an order estimated before the ranges")


class WorkerOut(BaseModel):
    id: int
    state: Literal["idle", "busy"]
    item: str | None
    order_number: int | None
    started_at: datetime | None
    promised_ready_by: datetime | None = Field(None, description=PROMISE_DESCRIPTION)


class QueuedUnitOut(BaseModel):
    item: str
    order_number: int
    queued_at: datetime
    promised_ready_by: datetime | None = Field(None, description=PROMISE_DESCRIPTION)


class WaitingOrderOut(BaseModel):
    """An order not READY yet, with its promise: the kitchen display flags one past its
    promise even when no unit of it is queued or being made (it waits on stock, for a
    favourite a worker is making for stock, or for its units to be asked of the kitchen)."""

    number: int
    status: Literal["REQUESTED", "IN_PROGRESS"]
    promised_ready_by: datetime | None = Field(None, description=PROMISE_DESCRIPTION)


class KitchenOut(BaseModel):
    workers: list[WorkerOut]
    queue: list[QueuedUnitOut]
    waiting: list[WaitingOrderOut] = Field(
        default_factory=list, description="every order REQUESTED or IN_PROGRESS, oldest first, "
                                          "with its promise (bounded by the orders on the board)")
    favorites_first: bool
    stock_target: int
    speed: float


class ReadyRangeOut(BaseModel):
    """When a waiting order should be READY: 8 orders in 10 are ready between the two ends
    (10th and 90th percentiles, calibrated on past orders; see docs/estimates.md)."""

    from_: datetime = Field(alias="from", description="the low end (10th percentile), wall clock")
    by: datetime = Field(description="the high end (90th percentile), wall clock")


class BoardOut(BaseModel):
    version: int
    requested: list[int]
    in_progress: list[int]
    ready: list[int]
    estimates: dict[str, datetime | None] = Field(
        default_factory=dict,
        description="estimated ready time of each waiting order (requested or in progress), "
                    "by order number, where analytics has estimated it")
    ranges: dict[str, ReadyRangeOut] = Field(
        default_factory=dict,
        description="the latest range of each waiting order, by order number, where analytics "
                    "has estimated one (beside estimates, which stays as it was for older "
                    "clients)")


class BoardChange(BaseModel):
    version: int
    number: int
    status: Status
    estimated_ready_at: datetime | None = Field(
        None, description="the order's latest estimated ready time when the message was sent "
                          "(its ready time once READY); null until analytics has estimated it")
    estimated_ready_from: datetime | None = Field(
        None, description="the low end (10th percentile) of the order's latest range when the "
                          "message was sent (its ready time once READY); null until analytics "
                          "has estimated it")
    estimated_ready_by: datetime | None = Field(
        None, description="the high end (90th percentile) of the order's latest range when the "
                          "message was sent (its ready time once READY); null until analytics "
                          "has estimated it")


class LiveOut(BaseModel):
    status: Literal["ok"]


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    restaurant_id: str
    roles: list[str] = Field(description="the services this process runs")
    dependencies: dict[str, str] = Field(
        description='each engine this process uses ("event_store", "read_models", "bus"): '
                    '"ok" or the error reaching it')
    event_store: dict[str, int]
    consumer_lag: dict[str, int] = Field(
        description="per consumer: events (embedded) or bus messages (distributed) not yet "
                    "taken in")
    failures: dict[str, str]
    falling_behind: dict[str, int] = Field(
        default_factory=dict,
        description="consumers whose lag grew at each of the last 4 samples (5 s apart), with "
                    "their lag now: they are not keeping up (status degraded)")
    board: dict[str, int] = Field(
        description="the board hub of this process: clients subscribed now (WebSocket and "
                    "SSE), long polls waiting now, the newest change version fanned out, "
                    "snapshots re-sent to clients that fell behind")


# --- analytics ------------------------------------------------------------------------------
# Durations are kitchen seconds (wall-clock seconds x the speed factor in force) unless the
# field name says ``wall``; null while there is nothing to measure.


class DurationStatsOut(BaseModel):
    """One kind of wait: how many, and its mean, median, 90th percentile and maximum
    (percentiles interpolate linearly between the closest ranks)."""

    count: int
    mean_seconds: float | None
    p50_seconds: float | None
    p90_seconds: float | None
    max_seconds: float | None
    mean_wall_seconds: float | None
    p50_wall_seconds: float | None
    p90_wall_seconds: float | None
    max_wall_seconds: float | None


class EstimateErrorOut(BaseModel):
    """Accuracy of the estimate made at placement, over the orders that became READY:
    statistics of |actual ready time - estimate at placement|."""

    count: int
    mean_abs_seconds: float | None
    p50_abs_seconds: float | None
    p90_abs_seconds: float | None
    max_abs_seconds: float | None
    mean_abs_wall_seconds: float | None
    p50_abs_wall_seconds: float | None
    p90_abs_wall_seconds: float | None
    max_abs_wall_seconds: float | None
    bias_seconds: float | None = Field(
        description="mean of (actual - estimate): > 0 when orders are ready later than said")


class EstimateRangeOut(BaseModel):
    """How often the range given at placement held, over the orders that became READY with
    one (an order ready from stock at once has a point, not a range): the calibration aims
    at 0.8, as the range is the 10th to the 90th percentile."""

    orders: int = Field(0, description="orders READY that were given a range at placement")
    coverage: float | None = Field(
        None, description="share of them ready within their range, 0..1")


class ErrorBeforeReadyOut(BaseModel):
    """Accuracy of the latest estimate some kitchen seconds before the order was READY."""

    seconds_before: int = Field(description="kitchen seconds before READY: 300, 120 or 60")
    orders: int = Field(description="orders already placed that long before they were READY")
    mae_seconds: float | None = Field(
        description="mean |actual - latest estimate then|, kitchen seconds")


class WorkerUtilisationOut(BaseModel):
    worker: int
    busy_seconds: float = Field(description="kitchen seconds spent preparing")
    utilisation: float | None = Field(description="share of its time busy, 0..1")


class AnalyticsSummaryOut(BaseModel):
    as_of: datetime | None = Field(description="time of the newest event analysed (wall clock)")
    kitchen_seconds: float = Field(
        description="kitchen seconds from the kitchen's first configuration to as_of")
    speed: float = Field(description="speed factor in force (kitchen seconds per wall second)")
    workers: int
    last_order_number: int
    orders_placed: int
    orders_ready: int = Field(description="orders that reached READY (collected ones included)")
    orders_collected: int
    orders_waiting: int = Field(description="placed, not READY yet")
    wait_placed_to_ready: DurationStatsOut
    wait_ready_to_collected: DurationStatsOut
    throughput_per_kitchen_hour: float | None = Field(
        description="orders ready per hour of kitchen time since the kitchen was configured")
    queue_length: int = Field(description="units in the kitchen's queue, not started")
    busy_workers: int = Field(description="workers preparing a unit now")
    utilisation: float | None = Field(
        description="share of worker time busy since the kitchen was configured, 0..1")
    busy_worker_seconds: float
    worker_seconds: float = Field(description="worker time available (workers x kitchen time)")
    per_worker: list[WorkerUtilisationOut]
    units_from_stock: int = Field(description="units handed to orders from stock")
    units_from_kitchen: int = Field(description="units handed to orders fresh from the kitchen")
    stock_share: float | None = Field(description="share of units served from stock, 0..1")
    refill_units: int = Field(description="favourite refills prepared (units made for stock)")
    units_stocked: int = Field(description="prepared units that went into stock")
    estimate_error: EstimateErrorOut
    # Defaults: a summary written by a release before the ranges has neither.
    estimate_range: EstimateRangeOut = Field(default_factory=EstimateRangeOut)
    estimate_error_before_ready: list[ErrorBeforeReadyOut] = Field(
        default_factory=list, description="5, 2 and 1 minute (kitchen time) before READY")
    bucket_seconds: int = Field(description="kitchen seconds per stored timeline bucket")
    last_bucket: int = Field(description="index of the timeline bucket holding as_of")


class ItemStatsOut(BaseModel):
    """Observed preparation times of one menu item (kitchen seconds), over every unit and over
    the most recent ``window`` units."""

    item: str
    name: str
    menu_seconds: float = Field(description="the menu's preparation time")
    count: int
    mean_seconds: float | None
    p50_seconds: float | None
    p90_seconds: float | None
    max_seconds: float | None
    window: int
    recent_count: int
    recent_mean_seconds: float | None
    recent_p50_seconds: float | None
    recent_p90_seconds: float | None
    recent_max_seconds: float | None


class ItemStatsListOut(BaseModel):
    items: list[ItemStatsOut]


class EstimateOut(BaseModel):
    number: int
    placed_at: datetime
    estimated_at_placement: datetime
    estimated_ready_at: datetime = Field(description="the latest estimate (the actual once READY)")
    # None on documents written before the ranges
    estimated_ready_from: datetime | None = Field(
        None, description="the latest range's low end (10th percentile; the actual once READY)")
    estimated_ready_by: datetime | None = Field(
        None, description="the latest range's high end (90th percentile; the actual once READY)")
    promised_ready_from: datetime | None = Field(
        None, description="the range given at placement: low end")
    promised_ready_by: datetime | None = Field(
        None, description="the range given at placement: high end (the promise)")
    ready_at: datetime | None
    error_before_ready_seconds: dict[str, float] | None = Field(
        None, description="actual - the latest estimate 300, 120 and 60 kitchen seconds before "
                          "READY (kitchen seconds, by seconds before; those the order was "
                          "placed by); null until READY")
    wait_seconds: float | None = Field(
        description="placed -> ready, kitchen seconds; null until READY")
    error_seconds: float | None = Field(
        description="actual - estimate at placement, kitchen seconds; null until READY")
    error_wall_seconds: float | None = Field(
        description="actual - estimate at placement, wall seconds; null until READY")


class EstimatesOut(BaseModel):
    estimates: list[EstimateOut]


class TimelineBucketOut(BaseModel):
    start_kitchen_seconds: int = Field(description="kitchen seconds since the first set-up")
    start: datetime | None = Field(description="the bucket's start, wall clock")
    elapsed_seconds: float = Field(description="kitchen seconds of the bucket that have passed")
    queue_length: int = Field(description="units in the kitchen's queue at the bucket's end")
    busy_workers: float | None = Field(description="time-weighted mean of busy workers")
    utilisation: float | None = Field(description="share of worker time busy, 0..1")
    busy_worker_seconds: float
    worker_seconds: float
    orders_ready: int = Field(description="orders that became READY in the bucket")
    mean_wait_seconds: float | None = Field(
        description="mean placed -> ready wait of those orders, kitchen seconds")


class TimelineOut(BaseModel):
    bucket_seconds: int
    buckets: list[TimelineBucketOut]


def board_message(kind: str, data: JSON) -> JSON:
    """A board snapshot (``kind`` "snapshot") or change as ``GET /board`` and ``/board/poll``
    show it, for the board hub to send on every feed: the same fields and the same text
    (datetimes in UTC with "Z", where the read models keep "+00:00")."""
    model: type[BaseModel] = BoardOut if kind == "snapshot" else BoardChange
    return model.model_validate(data).model_dump(mode="json", by_alias=True)
