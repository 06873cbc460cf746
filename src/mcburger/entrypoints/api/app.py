"""The FastAPI application: routers, error shapes, and the restaurant's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from mcburger.bootstrap import EMBEDDED_ROLES, SERVING_ROLES, Restaurant, bootstrap
from mcburger.config import Settings
from mcburger.domain.errors import InvalidOrder, OrderNotReady, UnknownOrder
from mcburger.entrypoints.api import analytics, board, orders, status
from mcburger.entrypoints.web import pages


def create_app(settings: Settings | None = None, restaurant: Restaurant | None = None,
               roles: frozenset[str] = EMBEDDED_ROLES) -> FastAPI:
    """The app; its lifespan wires the restaurant (or uses the one given, e.g. by a test).

    Processes that serve customers (embedded, ``api``, ``board``) get every route; the other
    services only stock, kitchen, health and metrics.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        running = restaurant or await bootstrap(settings or Settings(), roles=roles)
        app.state.restaurant = running
        await running.start()
        try:
            yield
        finally:
            await running.stop()

    app = FastAPI(title="McBurger Orders", version="0.1.0", lifespan=lifespan,
                  description="Event-sourced orders for a quick-service restaurant.")
    serving = (restaurant.roles if restaurant is not None else roles) & SERVING_ROLES
    routers = (orders.router, status.router, board.router, analytics.router)
    for router in routers if serving else (status.router,):
        app.include_router(router)
    if serving:
        pages.mount(app)
    app.add_exception_handler(InvalidOrder, _invalid_order)
    app.add_exception_handler(UnknownOrder, _unknown_order)
    app.add_exception_handler(OrderNotReady, _not_ready)
    return app


async def _invalid_order(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, InvalidOrder)
    loc = ["body", *(int(p) if p.isdigit() else p for p in error.field.split("."))]
    detail = [{"loc": loc, "msg": f"{error.field}: {error.message}", "type": "value_error"}]
    return JSONResponse({"detail": detail}, status_code=422)


async def _unknown_order(request: Request, error: Exception) -> JSONResponse:
    return JSONResponse({"detail": f"no order number {error}"}, status_code=404)


async def _not_ready(request: Request, error: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=409)


__all__ = ["RequestValidationError", "create_app"]
