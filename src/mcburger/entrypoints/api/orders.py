"""Menu and orders: turn requests into commands or queries, nothing more."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from mcburger.application.ordering_service import CommandResult
from mcburger.domain.events import OrderLine
from mcburger.domain.ordering import Order, OrderStatus
from mcburger.entrypoints.api.deps import QueriesDep, RestaurantDep
from mcburger.entrypoints.api.schemas import MenuItemOut, MenuOut, OrderIn, OrderOut, OrdersOut

router = APIRouter(tags=["orders"])

READ_YOUR_WRITES_TIMEOUT = 5.0
# A projection this far behind a command (a rebuild) would hold its answer for seconds: answer
# without it. Live, they are a batch behind at most (a few hundred events at full load).
FAR_BEHIND_EVENTS = 2_000


@router.get("/menu", response_model=MenuOut)
async def get_menu(restaurant: RestaurantDep) -> MenuOut:
    """The menu: every item with its preparation time and whether it is a favourite."""
    return MenuOut(items=[MenuItemOut(id=i.id, name=i.name, prep_seconds=i.prep_seconds,
                                      variance_seconds=i.variance_seconds, favorite=i.favorite)
                          for i in restaurant.menu])


@router.post("/orders", status_code=status.HTTP_201_CREATED, response_model=OrderOut)
async def place_order(body: OrderIn, restaurant: RestaurantDep) -> dict[str, object]:
    """Place an order; the answer carries its number and estimated ready time."""
    result = await restaurant.ordering.place_order(
        OrderLine(line.item, line.quantity) for line in body.items)
    return await _after_command(restaurant, result)


@router.get("/orders", response_model=OrdersOut)
async def list_orders(queries: QueriesDep,
                      status: Annotated[OrderStatus | None, Query()] = None) -> dict[str, object]:
    """Orders, oldest first, optionally only those with one status."""
    return {"orders": await queries.orders(status)}


@router.get("/orders/{number}", response_model=OrderOut,
            responses={404: {"description": "No order has that number"}})
async def get_order(number: int, queries: QueriesDep) -> dict[str, object]:
    """One order's current state."""
    order = await queries.order(number)
    if order is None:
        raise HTTPException(404, f"no order number {number}")
    return order


@router.post("/orders/{number}/collect", response_model=OrderOut,
             responses={404: {"description": "No order has that number"},
                        409: {"description": "The order is not READY"}})
async def collect_order(number: int, restaurant: RestaurantDep) -> dict[str, object]:
    """The customer takes a READY order."""
    result = await restaurant.ordering.collect(number)
    return await _after_command(restaurant, result)


async def _after_command(restaurant: RestaurantDep, result: CommandResult) -> dict[str, object]:
    """Answer from the read models once they include the command's events (embedded: this
    process writes them, and they are not far behind); else at once from the decision."""
    if restaurant.waits_for_own_read_models() and await restaurant.queries.caught_up(
            result.position, READ_YOUR_WRITES_TIMEOUT, unless_behind=FAR_BEHIND_EVENTS):
        order = await restaurant.queries.order(result.order.number)
        if order is not None:
            return order
    # The command is saved; the read models follow. Answer from the decision itself.
    return _from_domain(result.order)


def _from_domain(order: Order) -> dict[str, object]:
    return {"id": order.order_id, "number": order.number, "status": order.status.value,
            "items": [{"item": line.item, "quantity": line.quantity,
                       "ready": order.allocated[line.item]} for line in order.lines],
            "placed_at": order.placed_at, "estimated_ready_at": None}
