"""Dependency aliases: routes ask for what they need by type."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, WebSocket

from mcburger.application.board_hub import BoardHub
from mcburger.application.queries import Queries
from mcburger.bootstrap import Restaurant


def _restaurant(request: Request) -> Restaurant:
    restaurant: Restaurant = request.app.state.restaurant
    return restaurant


def _queries(request: Request) -> Queries:
    return _restaurant(request).queries


def _hub(request: Request) -> BoardHub:
    return _restaurant(request).board


def _ws_hub(websocket: WebSocket) -> BoardHub:
    restaurant: Restaurant = websocket.app.state.restaurant
    return restaurant.board


RestaurantDep = Annotated[Restaurant, Depends(_restaurant)]
QueriesDep = Annotated[Queries, Depends(_queries)]
HubDep = Annotated[BoardHub, Depends(_hub)]
WsHubDep = Annotated[BoardHub, Depends(_ws_hub)]
