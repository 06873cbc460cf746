"""The FastAPI application: routers, error shapes, and the restaurant's lifespan."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from mcburger.adapters.staff_token import load_or_create
from mcburger.bootstrap import bootstrap
from mcburger.config import Settings
from mcburger.domain.errors import IdempotencyKeyReused, InvalidOrder, OrderNotReady, UnknownOrder
from mcburger.domain.menu import Menu
from mcburger.entrypoints.api import analytics, board, orders, status
from mcburger.entrypoints.api.limits import BodyLimit, safe_text, validation_failed
from mcburger.entrypoints.api.staff import StaffGuard
from mcburger.entrypoints.web import pages
from mcburger.restaurant import BOARD_FEEDS, EMBEDDED_ROLES, SERVING_ROLES, Restaurant

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, restaurant: Restaurant | None = None,
               roles: frozenset[str] = EMBEDDED_ROLES, staff_token: str | None = None) -> FastAPI:
    """The app; its lifespan wires the restaurant (or uses the one given, e.g. by a test).

    Processes that serve customers (embedded, ``api``, ``board``) get every route; a
    ``board-feeds`` process the board's routes, its page and the status routes; the other
    services only stock, kitchen, health and metrics. Staff routes take ``staff_token``, else
    the settings' (``staff_token``, or the file ``staff_token_file``, made at first start); an
    app given a restaurant and no token has no staff at all (a random token nobody knows).
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

    chosen_roles = restaurant.roles if restaurant is not None else roles
    serving = chosen_roles & SERVING_ROLES
    board_only = chosen_roles == {BOARD_FEEDS}  # takes no orders: its store is another's
    # A process that serves customers answers the board's WebSocket ahead of every layer
    app = (board.BoardSocketApp if serving else FastAPI)(
        title="McBurger Orders", version="0.1.0", lifespan=lifespan,
        description="Event-sourced orders for a quick-service restaurant.")
    chosen = settings or (restaurant.settings if restaurant is not None else Settings())
    app.state.staff = StaffGuard(_staff_token(chosen, staff_token, injected=settings is None
                                              and restaurant is not None,
                                              create=not board_only))
    app.state.protect_metrics = chosen.protect_metrics
    app.add_middleware(BodyLimit)
    _describe(app, restaurant.menu if restaurant is not None else chosen.load_menu(),
              chosen.protect_metrics)
    routers = ((status.router, board.router) if board_only else
               (orders.router, status.router, board.router, analytics.router) if serving else
               (status.router,))
    for router in routers:
        app.include_router(router)
    if serving:
        pages.mount(app, only=("/board/",) if board_only else None)
    app.add_exception_handler(RequestValidationError, validation_failed)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IdempotencyKeyReused, _key_reused)
    app.add_exception_handler(InvalidOrder, _invalid_order)
    app.add_exception_handler(UnknownOrder, _unknown_order)
    app.add_exception_handler(OrderNotReady, _not_ready)
    return app


def _staff_token(settings: Settings, given: str | None, injected: bool,
                 create: bool = True) -> str:
    """``create``: make the token file when there is none (a restaurant's first start); a
    board-feeds process only reads the one its restaurant made, as it writes nothing there."""
    if given is not None:
        return given
    if settings.staff_token is not None:
        return settings.staff_token.get_secret_value()
    if injected:
        return secrets.token_urlsafe(32)
    path = settings.staff_token_file or settings.data_dir / "staff-token"
    if not create and not path.exists():
        log.info("staff token: none in %s and none given: this process's staff routes (/stock, "
                 "/kitchen) answer 401", path.resolve())
        return secrets.token_urlsafe(32)
    token = load_or_create(path)
    log.info("staff token: in %s (readable by its owner only); %s", path.resolve(),
             "staff pages ask for it once" if create else "for /stock and /kitchen")
    return token


def _describe(app: FastAPI, menu: Menu, protect_metrics: bool) -> None:
    """OpenAPI says what this server accepts: an order line's item is one of the menu's ids, and
    ``/metrics`` needs the staff token only when this server protects it."""
    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = default()
            line = schema.get("components", {}).get("schemas", {}).get("OrderLineIn")
            if line is not None:  # absent from a service that takes no orders
                line["properties"]["item"]["enum"] = [entry.id for entry in menu]
            metrics = schema["paths"]["/metrics"]["get"]
            if protect_metrics:
                metrics["security"] = [{"staffToken": []}]
            else:
                for code in ("401", "429"):
                    metrics["responses"].pop(code, None)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


async def _http_error(request: Request, error: Exception) -> Response:
    """FastAPI's answer, except that a 405's ``Allow`` lists the methods of every route of the
    path (Starlette lists only the first route's: ``POST`` alone on ``/orders``), and a body
    that is not UTF-8 is a 422 naming the body, as any other body that is not JSON (FastAPI's
    answer is a bare 400 "There was an error parsing the body")."""
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 400 and isinstance(error.__cause__, UnicodeDecodeError):
        detail = [{"loc": ["body"], "msg": "the body is not JSON text: it is not UTF-8",
                   "type": "json_invalid"}]
        return JSONResponse({"detail": detail}, status_code=422)
    if error.status_code != 405:
        return await http_exception_handler(request, error)
    # Asked of the routes themselves (included routers nest theirs), one method at a time
    allowed = [method for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
               if any(route.matches({**request.scope, "method": method})[0] is Match.FULL
                      for route in request.app.routes)]
    return JSONResponse({"detail": "Method Not Allowed"}, status_code=405,
                        headers={"Allow": ", ".join(allowed)})


async def _invalid_order(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, InvalidOrder)
    loc = ["body", *(int(p) if p.isdigit() else p for p in error.field.split("."))]
    detail = [{"loc": loc, "msg": safe_text(f"{error.field}: {error.message}"),
               "type": "value_error"}]
    return JSONResponse({"detail": detail}, status_code=422)


async def _key_reused(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, IdempotencyKeyReused)
    detail = [{"loc": ["header", "Idempotency-Key"], "msg": f"Idempotency-Key: {error}",
               "type": "value_error"}]
    return JSONResponse({"detail": detail}, status_code=422)


async def _unknown_order(request: Request, error: Exception) -> JSONResponse:
    return JSONResponse({"detail": f"no order number {error}"}, status_code=404)


async def _not_ready(request: Request, error: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=409)


__all__ = ["RequestValidationError", "create_app"]
