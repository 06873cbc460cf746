"""Dependency aliases: routes ask for what they need by type."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, WebSocket

from mcburger.application.queries import Queries
from mcburger.bootstrap import Restaurant


def _restaurant(request: Request) -> Restaurant:
    restaurant: Restaurant = request.app.state.restaurant
    return restaurant


def _queries(request: Request) -> Queries:
    return _restaurant(request).queries


def ws_queries(websocket: WebSocket) -> Queries:
    restaurant: Restaurant = websocket.app.state.restaurant
    return restaurant.queries


RestaurantDep = Annotated[Restaurant, Depends(_restaurant)]
QueriesDep = Annotated[Queries, Depends(_queries)]
WsQueriesDep = Annotated[Queries, Depends(ws_queries)]
