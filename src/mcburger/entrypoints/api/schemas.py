"""Request and response shapes of the REST API (separate from the domain's types)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mcburger.domain.ordering import MAX_QUANTITY_PER_LINE, MAX_UNITS_PER_ORDER

Status = Literal["REQUESTED", "IN_PROGRESS", "READY", "COLLECTED"]


class StrictIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class OrderLineIn(StrictIn):
    item: str = Field(min_length=1, max_length=40, examples=["hamburger"])
    quantity: int = Field(ge=1, le=MAX_QUANTITY_PER_LINE, examples=[2])


class OrderIn(StrictIn):
    items: list[OrderLineIn] = Field(min_length=1, max_length=MAX_UNITS_PER_ORDER)

    @model_validator(mode="after")
    def at_most_50_units(self) -> OrderIn:
        total = sum(line.quantity for line in self.items)
        if total > MAX_UNITS_PER_ORDER:
            raise ValueError(f"items: an order holds at most {MAX_UNITS_PER_ORDER} units, "
                             f"this one has {total}")
        return self


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
    estimated_ready_at: datetime | None
    ready_at: datetime | None = None
    collected_at: datetime | None = None


class OrdersOut(BaseModel):
    orders: list[OrderOut]


class StockOut(BaseModel):
    items: dict[str, int]


class WorkerOut(BaseModel):
    id: int
    state: Literal["idle", "busy"]
    item: str | None
    order_number: int | None
    started_at: datetime | None


class QueuedUnitOut(BaseModel):
    item: str
    order_number: int
    queued_at: datetime


class KitchenOut(BaseModel):
    workers: list[WorkerOut]
    queue: list[QueuedUnitOut]
    favorites_first: bool
    stock_target: int
    speed: float


class BoardOut(BaseModel):
    version: int
    requested: list[int]
    in_progress: list[int]
    ready: list[int]


class BoardChange(BaseModel):
    version: int
    number: int
    status: Status


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
