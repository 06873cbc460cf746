"""Menu and orders: turn requests into commands or queries, nothing more."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Path, Query, Response, status

from mcburger.application.ordering_service import CommandResult
from mcburger.application.queries import ORDERS_PAGE, Queries
from mcburger.domain.events import OrderLine
from mcburger.domain.ordering import Order, OrderStatus
from mcburger.entrypoints.api.deps import AnswersWaitDep, MenuDep, OrderingDep, QueriesDep
from mcburger.entrypoints.api.schemas import MenuItemOut, MenuOut, OrderIn, OrderOut, OrdersOut
from mcburger.entrypoints.api.staff import STAFF, STAFF_RESPONSES

router = APIRouter(tags=["orders"])

READ_YOUR_WRITES_TIMEOUT = 5.0
MAX_ORDERS_PAGE = 1_000
# A projection this far behind a command (a rebuild) would hold its answer for seconds: answer
# without it. Live, they are a batch behind at most (a few hundred events at full load).
FAR_BEHIND_EVENTS = 2_000


@router.get("/menu", response_model=MenuOut)
async def get_menu(menu: MenuDep) -> MenuOut:
    """The menu: every item with its preparation time and whether it is a favourite."""
    return MenuOut(items=[MenuItemOut(id=i.id, name=i.name, prep_seconds=i.prep_seconds,
                                      variance_seconds=i.variance_seconds, favorite=i.favorite)
                          for i in menu])


# Order numbers are handed out from 1; the bound keeps a hostile number a 422, not an overflow
# in the store (SQLite's integers are 64-bit)
OrderNumber = Annotated[int, Path(ge=1, le=2**31 - 1, description="the order's number")]
IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$",
    description="a key of the client's choosing per order (1-255 visible ASCII characters, "
                "e.g. a UUID): a retry with the same key and the same items answers the same "
                "order and places nothing, for 24 hours on the restaurant's clock")]


@router.post("/orders", status_code=status.HTTP_201_CREATED, response_model=OrderOut,
             responses={422: {"description": "Invalid items, or an Idempotency-Key already "
                                              "used for an order with other items"}})
async def place_order(body: OrderIn, ordering: OrderingDep, queries: QueriesDep,
                      answers_wait: AnswersWaitDep, response: Response,
                      idempotency_key: IdempotencyKey = None) -> dict[str, object]:
    """Place an order; the answer carries its number and estimated ready time.

    With an ``Idempotency-Key`` that placed an order already: that order, as it is now (same
    id and number), with the header ``Idempotent-Replayed: true``; nothing is placed.
    """
    result = await ordering.place_order(
        (OrderLine(line.item, line.quantity) for line in body.items), idempotency_key)
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return await _after_command(queries, answers_wait, result)


@router.get("/orders", response_model=OrdersOut, dependencies=[STAFF], responses=STAFF_RESPONSES)
async def list_orders(
        queries: QueriesDep,
        status: Annotated[OrderStatus | None, Query()] = None,
        after: Annotated[int, Query(ge=0, le=2**31 - 1, description=(
            "only orders numbered above this: 0 for the first page, then the previous page's "
            "next_after"))] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_ORDERS_PAGE, description=(
            "at most this many orders a page"))] = ORDERS_PAGE,
) -> dict[str, object]:
    """Orders, oldest first, a page at a time, optionally only those with one status.

    Follow ``next_after`` (as ``after``) until it is null. A page costs what it holds, never
    the restaurant's history."""
    orders, next_after = await queries.orders(status, after, limit)
    return {"orders": orders, "next_after": next_after}


@router.get("/orders/{number}", response_model=OrderOut,
            responses={404: {"description": "No order has that number"}})
async def get_order(number: OrderNumber, queries: QueriesDep) -> dict[str, object]:
    """One order's current state."""
    order = await queries.order(number)
    if order is None:
        raise HTTPException(404, f"no order number {number}")
    return order


@router.post("/orders/{number}/collect", response_model=OrderOut, dependencies=[STAFF],
             responses={**STAFF_RESPONSES, 404: {"description": "No order has that number"},
                        409: {"description": "The order is not READY"}})
async def collect_order(number: OrderNumber, ordering: OrderingDep, queries: QueriesDep,
                        answers_wait: AnswersWaitDep) -> dict[str, object]:
    """The customer takes a READY order (staff). A retry changes nothing: the order is
    COLLECTED already, so the answer is 409 naming that status."""
    result = await ordering.collect(number)
    return await _after_command(queries, answers_wait, result)


async def _after_command(queries: Queries, answers_wait: bool,
                         result: CommandResult) -> dict[str, object]:
    """Answer from the read models once they include the command's events (embedded: this
    process writes them, and they are not far behind; an idempotent retry: at once, as they
    are); else at once from the decision."""
    if result.replayed or (answers_wait and await queries.caught_up(
            result.position, READ_YOUR_WRITES_TIMEOUT, unless_behind=FAR_BEHIND_EVENTS)):
        order = await queries.order(result.order.number)
        if order is not None:
            return order
    # The command is saved; the read models follow. Answer from the decision itself.
    return _from_domain(result.order)


def _from_domain(order: Order) -> dict[str, object]:
    return {"id": order.order_id, "number": order.number, "status": order.status.value,
            "items": [{"item": line.item, "quantity": line.quantity,
                       "ready": order.allocated[line.item]} for line in order.lines],
            "placed_at": order.placed_at, "estimated_ready_at": None}
