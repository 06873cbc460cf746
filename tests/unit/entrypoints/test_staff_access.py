"""Staff access: a customer places, follows and watches an order without a credential and can
do nothing staff do; staff routes need the bearer token; guessing it is slowed down."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import httpx
import pytest
from fastapi import HTTPException

from mcburger.adapters.clock import VirtualClock
from mcburger.adapters.staff_token import StaffTokenUnreadable, load_or_create
from mcburger.config import Settings
from mcburger.entrypoints.api.app import create_app
from mcburger.entrypoints.api.staff import FailureLimiter
from tests.e2e.helpers import wait_until
from tests.unit.served import STAFF, STAFF_TOKEN, client_of

STAFF_ONLY = [("GET", "/orders"), ("GET", "/kitchen"), ("GET", "/stock"),
              ("GET", "/analytics/summary"), ("GET", "/analytics/items"),
              ("GET", "/analytics/estimates"), ("GET", "/analytics/timeline"),
              ("POST", "/orders/1/collect")]


async def test_a_customer_places_follows_and_watches_an_order_without_a_credential(
        client: httpx.AsyncClient) -> None:
    assert (await client.get("/menu")).status_code == 200
    placed = await client.post("/orders", json={"items": [{"item": "cola", "quantity": 1}]})
    assert placed.status_code == 201, placed.text
    number = placed.json()["number"]
    assert (await client.get(f"/orders/{number}")).status_code == 200
    assert (await client.get("/board")).status_code == 200
    assert (await client.get("/board/poll", params={"timeout": 0})).status_code == 200
    assert (await client.get("/livez")).status_code == 200
    assert (await client.get("/metrics")).status_code == 200  # open unless protect_metrics


@pytest.mark.parametrize(("method", "path"), STAFF_ONLY)
async def test_a_customer_can_do_nothing_staff_do(client: httpx.AsyncClient, method: str,
                                                  path: str) -> None:
    answer = await client.request(method, path)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == 'Bearer realm="mcburger staff"'
    wrong = await client.request(method, path, headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
    assert STAFF_TOKEN not in wrong.text and "not-the-token" not in wrong.text
    staff = await client.request(method, path, headers=STAFF)
    assert staff.status_code in (200, 404), staff.text  # collect: no order 1 yet (404)


async def test_collecting_without_the_token_changes_nothing(client: httpx.AsyncClient,
                                                            clock: VirtualClock) -> None:
    placed = (await client.post("/orders", json={"items": [{"item": "cola", "quantity": 1}]}))
    number = placed.json()["number"]

    async def ready() -> bool:
        clock.advance(30)  # kitchen time passes; its timers fire
        return (await client.get(f"/orders/{number}")).json()["status"] == "READY"

    await wait_until(ready, 10.0, f"order {number} READY")
    assert (await client.post(f"/orders/{number}/collect")).status_code == 401
    assert (await client.get(f"/orders/{number}")).json()["status"] == "READY"
    collected = await client.post(f"/orders/{number}/collect", headers=STAFF)
    assert collected.json()["status"] == "COLLECTED"
    again = await client.post(f"/orders/{number}/collect", headers=STAFF)
    assert again.status_code == 409 and "COLLECTED" in again.text  # a retry changes nothing


async def test_openapi_declares_the_bearer_scheme_on_every_staff_route_and_only_there(
        client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["staffToken"]["scheme"] == "bearer"
    secured = {(method.upper(), path) for path, operations in schema["paths"].items()
               for method, operation in operations.items() if operation.get("security")}
    declared = {(m, p.replace("/1/", "/{number}/")) for m, p in STAFF_ONLY}
    assert secured == declared


async def test_metrics_can_be_protected_too() -> None:
    settings = Settings(workers=1, protect_metrics=True)
    async for client in client_of(settings, staff_token=STAFF_TOKEN):
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics", headers=STAFF)).status_code == 200
        schema = (await client.get("/openapi.json")).json()
        assert schema["paths"]["/metrics"]["get"]["security"] == [{"staffToken": []}]


async def test_repeated_wrong_tokens_from_one_client_are_slowed_down(
        client: httpx.AsyncClient) -> None:
    wrong = {"Authorization": "Bearer guess-guess-guess-guess"}
    answers = [(await client.get("/kitchen", headers=wrong)).status_code for _ in range(6)]
    assert answers == [401] * 5 + [429]
    throttled = await client.get("/kitchen", headers=STAFF)  # not even compared now
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "2"
    assert (await client.get("/kitchen")).status_code == 401  # no token: not a guess
    # a customer from the same address is not slowed down
    assert (await client.get("/menu")).status_code == 200


def test_the_limiter_lets_one_more_try_through_per_period_and_forgets_old_clients() -> None:
    now = [0.0]
    limiter = FailureLimiter(capacity=2, period=2.0, max_clients=3, clock=lambda: now[0])
    limiter.failed("a")
    limiter.failed("a")
    assert limiter.retry_after("a") == 2 and limiter.retry_after("b") == 0
    now[0] = 1.0
    assert limiter.retry_after("a") == 1
    now[0] = 2.0
    assert limiter.retry_after("a") == 0
    for other in ("b", "c", "d"):
        limiter.failed(other)
    assert limiter.retry_after("a") == 0  # the least recent client was forgotten: bounded


def test_the_token_file_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "staff-token"
    first = load_or_create(path)
    assert len(first) >= 40 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create(path) == first
    path.chmod(0o644)
    assert load_or_create(path) == first and stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("short\n")
    with pytest.raises(StaffTokenUnreadable):
        load_or_create(path)


def test_the_embedded_default_is_not_open(tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        app = create_app(Settings(data_dir=tmp_path))
    token = (tmp_path / "staff-token").read_text().strip()
    assert str(tmp_path / "staff-token") in caplog.text and token not in caplog.text
    app.state.staff.check("127.0.0.1", token)  # the file's token is the staff token


def test_a_board_feeds_process_reads_its_restaurants_token_and_never_makes_one(
        tmp_path: Path) -> None:
    # It writes nothing in its restaurant's data directory: a token file it made would become
    # the staff token of the restaurant's next start (one given by MCBURGER_STAFF_TOKEN before)
    feeds = frozenset({"board-feeds"})
    app = create_app(Settings(data_dir=tmp_path), roles=feeds)
    assert not (tmp_path / "staff-token").exists()
    with pytest.raises(HTTPException) as refused:  # no token it knows: staff routes are shut
        app.state.staff.check("127.0.0.1", "a-token-somebody-guessed")
    assert refused.value.status_code == 401

    create_app(Settings(data_dir=tmp_path))  # the restaurant's first start makes it
    token = (tmp_path / "staff-token").read_text().strip()
    create_app(Settings(data_dir=tmp_path), roles=feeds).state.staff.check("127.0.0.1", token)


def test_a_service_that_takes_no_orders_still_describes_its_routes() -> None:
    app = create_app(Settings(staff_token=STAFF_TOKEN), roles=frozenset({"kitchen"}))
    paths = app.openapi()["paths"]
    assert "/kitchen" in paths and "/orders" not in paths
    assert paths["/kitchen"]["get"]["security"] == [{"staffToken": []}]
