"""Dependency aliases: routes ask for what they need by type, never for the whole restaurant.

Each reads the part from the ``Restaurant`` the app's lifespan put in ``app.state``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from mcburger.adapters.metrics import PrometheusMetrics
from mcburger.application.board_hub import BoardHub
from mcburger.application.ordering_service import OrderingService
from mcburger.application.queries import Queries
from mcburger.domain.menu import Menu
from mcburger.health import Health
from mcburger.restaurant import Restaurant


def _restaurant(request: Request) -> Restaurant:
    restaurant: Restaurant = request.app.state.restaurant
    return restaurant


def _queries(request: Request) -> Queries:
    return _restaurant(request).queries


def _ordering(request: Request) -> OrderingService:
    return _restaurant(request).ordering


def _menu(request: Request) -> Menu:
    return _restaurant(request).menu


def _answers_wait(request: Request) -> bool:
    return _restaurant(request).waits_for_own_read_models()


def _health(request: Request) -> Health:
    return _restaurant(request).health


def _metrics(request: Request) -> PrometheusMetrics:
    return _restaurant(request).metrics


def _hub(request: Request) -> BoardHub:
    return _restaurant(request).board


QueriesDep = Annotated[Queries, Depends(_queries)]
OrderingDep = Annotated[OrderingService, Depends(_ordering)]
MenuDep = Annotated[Menu, Depends(_menu)]
# Whether a command's answer waits for this process's own read models (embedded) or is made
# from the decision at once (distributed: they are another process's)
AnswersWaitDep = Annotated[bool, Depends(_answers_wait)]
HealthDep = Annotated[Health, Depends(_health)]
MetricsDep = Annotated[PrometheusMetrics, Depends(_metrics)]
HubDep = Annotated[BoardHub, Depends(_hub)]
